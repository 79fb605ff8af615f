import Foundation
import SpurCore

/// A whole CLIP checkpoint with a ModifiedResNet image tower and random
/// weights, in OpenAI's layout (`visual.*` beside the text tower that
/// `RandomTextCheckpoint` writes): real shapes without real weights, for
/// tests and speed measurements (nothing can be downloaded).
///
/// Convolutions are He-normal, so activations keep their scale through the
/// ReLUs; BatchNorm statistics, gains and biases are all away from their
/// defaults (mean 0, variance 1, gain 1, bias 0), so a normalisation that is
/// skipped or misapplied changes the features. The residual branches' last
/// gains (`bn3`) are kept below 1, as trained ResNets have them, so a deep
/// random network does not blow up.
public enum RandomResNetCheckpoint {
    public struct Size: Sendable {
        public var blockCounts: [Int]
        public var width: Int
        /// A multiple of 32: the attention pool's grid is a 32nd of it.
        public var imageSize: Int
        public var embeddingDim: Int
        public var text: RandomTextCheckpoint.Size

        /// RN50 (and its text tower).
        public static let rn50 = Size(blockCounts: [3, 4, 6, 3], width: 64, imageSize: 224, embeddingDim: 1024,
                                      text: .init(vocabularySize: 49_408, contextLength: 77, width: 512, layers: 12, embeddingDim: 1024))

        /// A second's model for tests of what runs a tower (not of the
        /// tower): 8 wide, blocks 2-1-1-2, 64-pixel images, a 2×2 grid.
        public static let small = Size(blockCounts: [2, 1, 1, 2], width: 8, imageSize: 64, embeddingDim: 24,
                                       text: .init(vocabularySize: 40, contextLength: 8, width: 32, layers: 1, embeddingDim: 24))

        public init(blockCounts: [Int], width: Int, imageSize: Int, embeddingDim: Int, text: RandomTextCheckpoint.Size) {
            self.blockCounts = blockCounts; self.width = width; self.imageSize = imageSize
            self.embeddingDim = embeddingDim; self.text = text
        }
    }

    public static func write(_ size: Size, to path: String, seed: UInt64 = 0) throws {
        var file = SafetensorsWriter()
        add(size, to: &file, seed: seed)
        RandomTextCheckpoint.add(size.text, to: &file, seed: seed)
        try file.write(to: path)
    }

    /// The `visual.*` tensors.
    public static func add(_ size: Size, to file: inout SafetensorsWriter, seed: UInt64 = 0) {
        var rng = SeededGenerator(seed: seed, purpose: "random-resnet-checkpoint")
        func gaussian(_ name: String, _ shape: [Int], std: Float, mean: Float = 0) {
            let n = shape.reduce(1, *)
            file.add(name, shape: shape, floats: (0..<n).map { _ in mean + std * rng.nextGaussian() })
        }
        func uniform(_ name: String, _ count: Int, _ range: ClosedRange<Float>) {
            file.add(name, shape: [count], floats: (0..<count).map { _ in Float.random(in: range, using: &rng) })
        }
        func conv(_ name: String, out: Int, in inChannels: Int, kernel: Int) {
            gaussian("\(name).weight", [out, inChannels, kernel, kernel],
                     std: (2 / Float(inChannels * kernel * kernel)).squareRoot())
        }
        func norm(_ name: String, _ channels: Int, gains: ClosedRange<Float> = 0.75...1.25) {
            uniform("\(name).weight", channels, gains)
            gaussian("\(name).bias", [channels], std: 0.1)
            gaussian("\(name).running_mean", [channels], std: 0.1)
            uniform("\(name).running_var", channels, 0.5...1.5)
            file.add("\(name).num_batches_tracked", shape: [], int64s: [1000])
        }
        let p = "visual.", w = size.width
        conv("\(p)conv1", out: w / 2, in: 3, kernel: 3); norm("\(p)bn1", w / 2)
        conv("\(p)conv2", out: w / 2, in: w / 2, kernel: 3); norm("\(p)bn2", w / 2)
        conv("\(p)conv3", out: w, in: w / 2, kernel: 3); norm("\(p)bn3", w)
        var inplanes = w
        for (layer, count) in size.blockCounts.enumerated() {
            let planes = w << layer
            for b in 0..<count {
                let l = "\(p)layer\(layer + 1).\(b)."
                conv("\(l)conv1", out: planes, in: inplanes, kernel: 1); norm("\(l)bn1", planes)
                conv("\(l)conv2", out: planes, in: planes, kernel: 3); norm("\(l)bn2", planes)
                conv("\(l)conv3", out: 4 * planes, in: planes, kernel: 1); norm("\(l)bn3", 4 * planes, gains: 0.2...0.6)
                if b == 0 {
                    conv("\(l)downsample.0", out: 4 * planes, in: inplanes, kernel: 1); norm("\(l)downsample.1", 4 * planes)
                }
                inplanes = 4 * planes
            }
        }
        let c = 32 * w, grid = size.imageSize / 32, std = 1 / Float(c).squareRoot()
        gaussian("\(p)attnpool.positional_embedding", [grid * grid + 1, c], std: std)
        for name in ["q_proj", "k_proj", "v_proj"] {
            gaussian("\(p)attnpool.\(name).weight", [c, c], std: std)
            gaussian("\(p)attnpool.\(name).bias", [c], std: 0.02)
        }
        gaussian("\(p)attnpool.c_proj.weight", [size.embeddingDim, c], std: std)
        gaussian("\(p)attnpool.c_proj.bias", [size.embeddingDim], std: 0.02)
    }
}
