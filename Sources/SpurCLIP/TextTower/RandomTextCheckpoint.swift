import Foundation
import SpurCore

/// A CLIP text tower with random weights, written as an OpenAI-layout
/// `.safetensors` state dict: real CLIP shapes without real weights, for
/// `spurscope bench --suite text` and for tests (nothing can be downloaded).
/// Weights are N(0, 0.02²) as CLIP initialises its projections; LayerNorm
/// gains near 1 and biases near 0, both perturbed so that neither is trivial.
public enum RandomTextCheckpoint {
    public struct Size: Sendable {
        public var vocabularySize: Int
        public var contextLength: Int
        public var width: Int
        public var layers: Int
        public var embeddingDim: Int
        /// ViT-B/32's text tower (and RN50's).
        public static let vitB32 = Size(vocabularySize: 49_408, contextLength: 77, width: 512, layers: 12, embeddingDim: 512)

        public init(vocabularySize: Int, contextLength: Int, width: Int, layers: Int, embeddingDim: Int) {
            self.vocabularySize = vocabularySize; self.contextLength = contextLength
            self.width = width; self.layers = layers; self.embeddingDim = embeddingDim
        }
    }

    public static func write(_ size: Size, to path: String, seed: UInt64 = 0) throws {
        var tensors = RandomTensors(seed: seed, purpose: "random-text-checkpoint")
        addTower(size, to: &tensors)
        try tensors.file.write(to: path)
    }

    /// The text tower's tensors, added to a state dict that other towers'
    /// writers fill too (a whole CLIP checkpoint).
    public static func add(_ size: Size, to file: inout SafetensorsWriter, seed: UInt64 = 0) {
        var t = RandomTensors(seed: seed, purpose: "random-text-checkpoint")
        t.file = file
        addTower(size, to: &t)
        file = t.file
    }

    /// The text tower's tensors under OpenAI's names.
    static func addTower(_ size: Size, to t: inout RandomTensors) {
        let w = size.width
        t.gaussian("token_embedding.weight", [size.vocabularySize, w])
        t.gaussian("positional_embedding", [size.contextLength, w], std: 0.01)
        t.addOpenAIBlocks(prefix: "transformer.resblocks.", layers: size.layers, width: w)
        t.gaussian("ln_final.weight", [w], mean: 1); t.gaussian("ln_final.bias", [w])
        t.gaussian("text_projection", [w, size.embeddingDim], std: 1 / Float(w).squareRoot())
    }
}

/// A state dict of random normal tensors being built, in F32 or F16.
struct RandomTensors {
    var rng: SeededGenerator
    var file = SafetensorsWriter()
    var float16 = false

    init(seed: UInt64, purpose: String, float16: Bool = false) {
        rng = SeededGenerator(seed: seed, purpose: purpose)
        self.float16 = float16
    }

    mutating func gaussian(_ name: String, _ shape: [Int], std: Float = 0.02, mean: Float = 0) {
        let n = shape.reduce(1, *)
        let values = (0..<n).map { _ in mean + std * rng.nextGaussian() }
        if float16 { file.add(name, shape: shape, float16s: values) } else { file.add(name, shape: shape, floats: values) }
    }

    /// OpenAI's `ResidualAttentionBlock`s, numbered under `prefix`.
    mutating func addOpenAIBlocks(prefix: String, layers: Int, width w: Int) {
        for i in 0..<layers {
            let l = "\(prefix)\(i)."
            gaussian(l + "ln_1.weight", [w], mean: 1); gaussian(l + "ln_1.bias", [w])
            gaussian(l + "attn.in_proj_weight", [3 * w, w]); gaussian(l + "attn.in_proj_bias", [3 * w])
            gaussian(l + "attn.out_proj.weight", [w, w]); gaussian(l + "attn.out_proj.bias", [w])
            gaussian(l + "ln_2.weight", [w], mean: 1); gaussian(l + "ln_2.bias", [w])
            gaussian(l + "mlp.c_fc.weight", [4 * w, w]); gaussian(l + "mlp.c_fc.bias", [4 * w])
            gaussian(l + "mlp.c_proj.weight", [w, 4 * w]); gaussian(l + "mlp.c_proj.bias", [w])
        }
    }
}
