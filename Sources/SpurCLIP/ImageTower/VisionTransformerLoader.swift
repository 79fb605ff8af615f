import SpurCore

extension VisionTransformer {
    /// The ViT image tower of a checkpoint, in whichever layout it is stored.
    /// Every tensor of the tower's namespace must be used, as for the text
    /// tower: a variant this code does not compute is refused by name.
    public static func load(_ checkpoint: CLIPCheckpoint) throws -> VisionTransformer {
        switch checkpoint.layout {
        case .huggingFace: return try loadHuggingFace(checkpoint)
        case .openAI: return try loadOpenAI(checkpoint)
        }
    }

    private static let layerNormEps: Float = 1e-5

    private static func loadHuggingFace(_ c: CLIPCheckpoint) throws -> VisionTransformer {
        let p = "vision_model."
        var r = TensorReader(c, skipping: ["\(p)embeddings.position_ids"])
        let e = try embeddings(&r, patch: "\(p)embeddings.patch_embedding.weight", classToken: "\(p)embeddings.class_embedding",
                               positions: "\(p)embeddings.position_embedding.weight")
        let config = c.huggingFaceConfig?.visionConfig
        if let size = config?.patchSize, size != e.patchSize {
            throw InputError(file: c.path, field: "vision_config.patch_size",
                             "is \(size), but tensor '\(p)embeddings.patch_embedding.weight' has \(e.patchSize)-pixel patches")
        }
        if let size = config?.imageSize, size != e.patchSize * e.grid {
            throw InputError(file: c.path, field: "vision_config.image_size",
                             "is \(size), but the position embedding has a \(e.grid)×\(e.grid) grid of \(e.patchSize)-pixel patches (\(e.patchSize * e.grid) pixels)")
        }
        let width = e.width
        let heads = config?.numAttentionHeads ?? max(1, width / 64)
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "vision_config.num_attention_heads", "is \(heads), which does not divide the width \(width)")
        }
        let activation = try Activation.huggingFace(config?.hiddenAct, file: c.path, field: "vision_config.hidden_act")
        let eps = config?.layerNormEps.map(Float.init) ?? layerNormEps
        let preNorm = try r.norm("\(p)pre_layrnorm", width: width, eps: eps)
        var blocks: [TransformerBlock] = []
        for i in 0..<c.layerCount(prefix: "\(p)encoder.layers.") {
            blocks.append(try r.huggingFaceBlock("\(p)encoder.layers.\(i).", width: width, heads: heads, activation: activation, eps: eps))
        }
        guard !blocks.isEmpty else {
            throw InputError(file: c.weightsPath, field: "\(p)encoder.layers.0", "is missing: a ViT needs at least one block")
        }
        let postNorm = try r.norm("\(p)post_layernorm", width: width, eps: eps)
        let projection = try r.weight("visual_projection.weight", [nil, width])
        try r.requireAllUsed(prefixes: [p, "visual_projection."], tower: "ViT image tower")
        return VisionTransformer(
            shape: shape(e, layers: blocks.count, embeddingWidth: projection.shape[0]), source: c.weightsPath,
            projection: projection, patchWeight: e.patchWeight, classEmbedding: e.classEmbedding,
            positionEmbedding: e.positions, preNorm: preNorm, blocks: blocks, postNorm: postNorm, patchSize: e.patchSize,
            targetLayer: "\(p)encoder.layers[-1].layer_norm1")
    }

    private static func loadOpenAI(_ c: CLIPCheckpoint) throws -> VisionTransformer {
        let p = "visual."
        var r = TensorReader(c)
        let vision = c.openCLIPConfig?.model?.visionConfig
        let field = "model_cfg.vision_cfg"
        // Options that change the computation without adding tensors; the
        // others (attentional pool, layer scale, …) add some and are refused
        // by name below.
        if let pool = vision?.poolType, pool != "tok" {
            throw InputError(file: c.path, field: "\(field).pool_type", "is '\(pool)': only the class token's pooling ('tok', CLIP's) is read")
        }
        if vision?.globalAveragePool == true {
            throw InputError(file: c.path, field: "\(field).global_average_pool", "is true: only the class token's pooling (CLIP's) is read")
        }
        if vision?.noLnPre == true {
            throw InputError(file: c.path, field: "\(field).no_ln_pre", "is true: ViTs without ln_pre are not read")
        }
        let e = try embeddings(&r, patch: "\(p)conv1.weight", classToken: "\(p)class_embedding", positions: "\(p)positional_embedding")
        let width = e.width
        // OpenAI's build_model: heads = width / 64; open_clip: width / head_width.
        let headWidth = vision?.headWidth ?? 64
        let heads = headWidth > 0 ? max(1, width / headWidth) : 0
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "\(field).head_width", "is \(headWidth), which gives no whole number of heads for the width \(width)")
        }
        let activation = Activation.openAI(c)
        let preNorm = try r.norm("\(p)ln_pre", width: width, eps: layerNormEps)
        var blocks: [TransformerBlock] = []
        for i in 0..<c.layerCount(prefix: "\(p)transformer.resblocks.") {
            blocks.append(try r.openAIBlock("\(p)transformer.resblocks.\(i).", width: width, heads: heads,
                                            activation: activation, eps: layerNormEps))
        }
        guard !blocks.isEmpty else {
            throw InputError(file: c.weightsPath, field: "\(p)transformer.resblocks.0", "is missing: a ViT needs at least one block")
        }
        let postNorm = try r.norm("\(p)ln_post", width: width, eps: layerNormEps)
        // Stored [Dv, E] and used as x @ proj; a bundle's W_v is its transpose.
        let projection = try r.weight("\(p)proj", [width, nil]).transposed(as: "\(p)proj")
        try r.requireAllUsed(prefixes: [p], tower: "ViT image tower")
        return VisionTransformer(
            shape: shape(e, layers: blocks.count, embeddingWidth: projection.shape[0]), source: c.weightsPath,
            projection: projection, patchWeight: e.patchWeight, classEmbedding: e.classEmbedding,
            positionEmbedding: e.positions, preNorm: preNorm, blocks: blocks, postNorm: postNorm, patchSize: e.patchSize,
            targetLayer: "\(p)transformer.resblocks[-1].ln_1")
    }

    /// The embedding tensors, whose shapes fix the tower's geometry.
    private struct Embeddings {
        var patchWeight: Weight
        var classEmbedding: Weight
        var positions: Weight
        var width: Int { patchWeight.shape[0] }
        var patchSize: Int { patchWeight.shape[2] }
        var grid: Int
    }

    private static func embeddings(_ r: inout TensorReader, patch: String, classToken: String, positions: String) throws -> Embeddings {
        let c = r.checkpoint
        let kernel = try r.weight(patch, [nil, 3, nil, nil])
        guard kernel.shape[0] > 0, kernel.shape[2] > 0, kernel.shape[2] == kernel.shape[3] else {
            throw InputError(file: c.weightsPath, field: "tensor '\(patch)'",
                             "has shape \(kernel.shape), expected [Dv, 3, P, P] (square patches)")
        }
        let width = kernel.shape[0]
        let cls = try r.weight(classToken, [width])
        let table = try r.weight(positions, [nil, width])
        // Position 0 is the class token's; the rest a square grid of patches.
        let patches = table.shape[0] - 1
        var grid = 0
        while (grid + 1) * (grid + 1) <= patches { grid += 1 }
        guard patches > 0, grid * grid == patches else {
            throw InputError(file: c.weightsPath, field: "tensor '\(positions)'",
                             "has \(table.shape[0]) positions, expected 1 + a square number (the class token and a square grid of patches)")
        }
        return Embeddings(patchWeight: kernel, classEmbedding: cls, positions: table, grid: grid)
    }

    private static func shape(_ e: Embeddings, layers: Int, embeddingWidth: Int) -> ImageTowerShape {
        let size = e.patchSize * e.grid
        return ImageTowerShape(architecture: architectureName(width: e.width, layers: layers, patch: e.patchSize, imageSize: size),
                               imageSize: size, gridHeight: e.grid, gridWidth: e.grid,
                               featureWidth: e.width, embeddingWidth: embeddingWidth, pooling: .classToken)
    }

    /// The released name for the shapes (`ViT-B/32`, `ViT-L/14@336px`, …),
    /// else `ViT-W<width>-L<layers>-P<patch>`; either with `@<S>px` when
    /// the input is not 224 pixels.
    static func architectureName(width: Int, layers: Int, patch: Int, imageSize: Int) -> String {
        let families = [(768, 12, "B"), (1024, 24, "L"), (1280, 32, "H"), (1408, 40, "g"), (1664, 48, "bigG")]
        let base = families.first { $0.0 == width && $0.1 == layers }.map { "ViT-\($0.2)/\(patch)" }
            ?? "ViT-W\(width)-L\(layers)-P\(patch)"
        return imageSize == 224 ? base : "\(base)@\(imageSize)px"
    }
}
