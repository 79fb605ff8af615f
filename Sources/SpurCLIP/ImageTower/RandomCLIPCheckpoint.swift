import Foundation
import SpurCore

/// A whole CLIP checkpoint with random weights in OpenAI's layout — text
/// tower, ViT image tower, `logit_scale` — that both towers load: for tests
/// and benchmarks of everything that starts from a checkpoint (nothing can
/// be downloaded). Initialised as `RandomTextCheckpoint`, the class token
/// and position embedding at OpenAI's `width^-½` scale.
public enum RandomCLIPCheckpoint {
    public struct Vision: Sendable {
        public var width: Int
        public var layers: Int
        public var patchSize: Int
        public var imageSize: Int
        public static let vitB32 = Vision(width: 768, layers: 12, patchSize: 32, imageSize: 224)

        public init(width: Int, layers: Int, patchSize: Int, imageSize: Int) {
            precondition(imageSize % patchSize == 0, "the image size must be a whole number of patches")
            self.width = width; self.layers = layers; self.patchSize = patchSize; self.imageSize = imageSize
        }
    }

    public struct Size: Sendable {
        /// Its `embeddingDim` is the joint space's, for both projections.
        public var text: RandomTextCheckpoint.Size
        public var vision: Vision
        /// ViT-B/32 (text width 512, image width 768, joint 512).
        public static let vitB32 = Size(text: .vitB32, vision: .vitB32)
        /// A few-second model for tests: 64 wide, 2 layers each, a 4×4 grid
        /// of 16-pixel patches on 64-pixel images, 100 tokens of 16 positions.
        public static let small = Size(
            text: .init(vocabularySize: 100, contextLength: 16, width: 64, layers: 2, embeddingDim: 32),
            vision: .init(width: 64, layers: 2, patchSize: 16, imageSize: 64))

        public init(text: RandomTextCheckpoint.Size, vision: Vision) { self.text = text; self.vision = vision }
    }

    /// `float16` stores every tensor as F16 (as released checkpoints often are).
    public static func write(_ size: Size, to path: String, seed: UInt64 = 0, float16: Bool = false) throws {
        var t = RandomTensors(seed: seed, purpose: "random-clip-checkpoint", float16: float16)
        RandomTextCheckpoint.addTower(size.text, to: &t)
        let v = size.vision, w = v.width, grid = v.imageSize / v.patchSize
        let scale = 1 / Float(w).squareRoot()
        t.gaussian("visual.conv1.weight", [w, 3, v.patchSize, v.patchSize])
        t.gaussian("visual.class_embedding", [w], std: scale)
        t.gaussian("visual.positional_embedding", [1 + grid * grid, w], std: scale)
        t.gaussian("visual.ln_pre.weight", [w], mean: 1); t.gaussian("visual.ln_pre.bias", [w])
        t.addOpenAIBlocks(prefix: "visual.transformer.resblocks.", layers: v.layers, width: w)
        t.gaussian("visual.ln_post.weight", [w], mean: 1); t.gaussian("visual.ln_post.bias", [w])
        t.gaussian("visual.proj", [w, size.text.embeddingDim], std: scale)
        // CLIP's initial temperature, ln(1 / 0.07).
        t.gaussian("logit_scale", [], std: 0, mean: Float(log(1 / 0.07)))
        try t.file.write(to: path)
    }
}
