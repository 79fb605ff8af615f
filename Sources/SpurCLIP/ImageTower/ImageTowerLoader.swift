import SpurCore

/// The image tower of a checkpoint, whichever architecture and layout it is.
public enum CLIPImageTowers {
    /// The architectures spurscope computes, told from the tensor names.
    public enum Kind: String, Sendable {
        case visionTransformer = "vit"
        case modifiedResNet = "resnet"
    }

    public static func kind(of c: CLIPCheckpoint) throws -> Kind {
        let names = c.weights.tensors
        switch c.layout {
        case .huggingFace:
            if names["vision_model.embeddings.patch_embedding.weight"] != nil { return .visionTransformer }
        case .openAI:
            if names["visual.attnpool.c_proj.weight"] != nil { return .modifiedResNet }
            if names["visual.class_embedding"] != nil && names["visual.conv1.weight"] != nil { return .visionTransformer }
        }
        throw InputError(file: c.weightsPath, "has no image tower spurscope reads: expected a ViT (vision_model.* or visual.class_embedding, visual.conv1.weight) or a ModifiedResNet (visual.attnpool.*)")
    }

    public static func load(_ c: CLIPCheckpoint) throws -> any CLIPImageTower {
        switch try kind(of: c) {
        case .visionTransformer:
            return try VisionTransformer.load(c)
        case .modifiedResNet:
            return try ModifiedResNetTower.load(c)
        }
    }
}
