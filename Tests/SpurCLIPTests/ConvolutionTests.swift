import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// The im2col convolution against a direct one written out loop by loop,
/// BatchNorm folding against convolution then BatchNorm, average pooling by
/// hand. Maps are NHWC; weights are given in PyTorch's `[out, in, k, k]`.
struct ConvolutionTests {
    struct Case: CustomStringConvertible, Sendable {
        var count, height, width, inChannels, outChannels, kernel, stride, padding: Int
        var description: String { "\(count)×\(height)×\(width)×\(inChannels)→\(outChannels) k\(kernel) s\(stride) p\(padding)" }
    }

    static let cases = [
        Case(count: 2, height: 7, width: 6, inChannels: 5, outChannels: 4, kernel: 3, stride: 1, padding: 1),
        Case(count: 3, height: 9, width: 9, inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: 1),
        Case(count: 1, height: 8, width: 5, inChannels: 6, outChannels: 3, kernel: 3, stride: 1, padding: 0),
        Case(count: 2, height: 5, width: 7, inChannels: 16, outChannels: 9, kernel: 1, stride: 1, padding: 0),
        Case(count: 2, height: 6, width: 6, inChannels: 4, outChannels: 5, kernel: 1, stride: 2, padding: 0),
        Case(count: 1, height: 4, width: 4, inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 2),
    ]

    static func random(_ n: Int, seed: UInt64, std: Float = 1, mean: Float = 0) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<n).map { _ in mean + std * rng.nextGaussian() }
    }

    /// `y[n, oy, ox, o] = b[o] + Σ w[o, c, ky, kx] · x[n, oy·s − p + ky, ox·s − p + kx, c]`.
    static func direct(_ x: [Float], _ t: Case, weight w: [Float], bias: [Float]) -> [Float] {
        let oh = (t.height + 2 * t.padding - t.kernel) / t.stride + 1, ow = (t.width + 2 * t.padding - t.kernel) / t.stride + 1
        var y = [Float](repeating: 0, count: t.count * oh * ow * t.outChannels)
        for n in 0..<t.count { for oy in 0..<oh { for ox in 0..<ow { for o in 0..<t.outChannels {
            var sum = Double(bias[o])
            for c in 0..<t.inChannels { for ky in 0..<t.kernel { for kx in 0..<t.kernel {
                let iy = oy * t.stride - t.padding + ky, ix = ox * t.stride - t.padding + kx
                guard iy >= 0, iy < t.height, ix >= 0, ix < t.width else { continue }
                sum += Double(w[((o * t.inChannels + c) * t.kernel + ky) * t.kernel + kx])
                    * Double(x[((n * t.height + iy) * t.width + ix) * t.inChannels + c])
            } } }
            y[((n * oh + oy) * ow + ox) * t.outChannels + o] = Float(sum)
        } } } }
        return y
    }

    static func run(_ conv: Convolution2D, _ x: [Float], _ t: Case, accumulateOnto start: [Float]? = nil, relu: Bool = false) -> [Float] {
        let shape = MapShape(count: t.count, height: t.height, width: t.width, channels: t.inChannels)
        var y = start ?? [Float](repeating: .nan, count: conv.outputShape(shape).elements)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                conv.apply(xp.baseAddress!, shape: shape, into: yp.baseAddress!, accumulate: start != nil, relu: relu,
                           scratch: ConvolutionScratch())
            }
        }
        return y
    }

    static func maxError(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    @Test(arguments: cases) func matchesTheDirectConvolution(_ t: Case) {
        let x = Self.random(t.count * t.height * t.width * t.inChannels, seed: 1)
        let w = Self.random(t.outChannels * t.inChannels * t.kernel * t.kernel, seed: 2)
        let b = Self.random(t.outChannels, seed: 3)
        let conv = Convolution2D(torchWeight: w, outChannels: t.outChannels, inChannels: t.inChannels, kernel: t.kernel,
                                 bias: b, stride: t.stride, padding: t.padding)
        let want = Self.direct(x, t, weight: w, bias: b)
        let got = Self.run(conv, x, t)
        #expect(got.count == want.count)
        #expect(Self.maxError(got, want) < 1e-4, "\(t)")
        // The residual form: onto what the output buffer holds, then ReLU.
        let residual = Self.random(want.count, seed: 4)
        let summed = Self.run(conv, x, t, accumulateOnto: residual, relu: true)
        #expect(Self.maxError(summed, zip(want, residual).map { max(0, $0 + $1) }) < 1e-4, "\(t)")
    }

    @Test(arguments: [1, 7, 50]) func columnChunksGiveTheSameOutput(_ rowsPerChunk: Int) {
        // The sgemm in pieces, each after its own im2col, when the column
        // matrix would exceed its budget: chunks of one row, of rows that
        // cross an image's end, and of a whole image.
        let t = Case(count: 2, height: 5, width: 10, inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1)
        let x = Self.random(t.count * t.height * t.width * t.inChannels, seed: 5)
        let w = Self.random(t.outChannels * t.inChannels * 9, seed: 6)
        let conv = Convolution2D(torchWeight: w, outChannels: 4, inChannels: 3, kernel: 3, bias: [0.1, 0.2, 0.3, 0.4],
                                 stride: 1, padding: 1)
        let shape = MapShape(count: 2, height: 5, width: 10, channels: 3)
        var y = [Float](repeating: .nan, count: conv.outputShape(shape).elements)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                conv.apply(xp.baseAddress!, shape: shape, into: yp.baseAddress!, scratch: ConvolutionScratch(),
                           columnBudget: rowsPerChunk * 27)
            }
        }
        #expect(Self.maxError(y, Self.direct(x, t, weight: w, bias: conv.bias)) < 1e-4)
    }

    @Test func foldedBatchNormEqualsConvolutionThenBatchNorm() {
        let t = Case(count: 2, height: 6, width: 5, inChannels: 4, outChannels: 6, kernel: 3, stride: 1, padding: 1)
        let x = Self.random(t.count * t.height * t.width * t.inChannels, seed: 7)
        let w = Self.random(t.outChannels * t.inChannels * 9, seed: 8)
        let norm = BatchNorm(gamma: Self.random(6, seed: 9, std: 0.3, mean: 1), beta: Self.random(6, seed: 10),
                             mean: Self.random(6, seed: 11), variance: Self.random(6, seed: 12).map { 0.2 + $0 * $0 }, eps: 1e-5)
        let folded = Convolution2D(torchWeight: w, outChannels: 6, inChannels: 4, kernel: 3, folding: norm, padding: 1)
        let raw = Self.direct(x, t, weight: w, bias: [Float](repeating: 0, count: 6))
        let want = raw.enumerated().map { i, v -> Float in
            let c = i % 6
            return (v - norm.mean[c]) / (norm.variance[c] + norm.eps).squareRoot() * norm.gamma[c] + norm.beta[c]
        }
        #expect(Self.maxError(Self.run(folded, x, t), want) < 1e-4)
    }

    @Test func averagePoolAveragesEachWindowAndDropsPartialOnes() {
        // 1 image, 5×4, 2 channels: channel 0 counts up, channel 1 is its negative ×10.
        let s = MapShape(count: 1, height: 5, width: 4, channels: 2)
        var x = [Float](repeating: 0, count: s.elements)
        for p in 0..<20 { x[2 * p] = Float(p); x[2 * p + 1] = -10 * Float(p) }
        var y = [Float](repeating: .nan, count: 2 * 2 * 2)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { averagePool(xp.baseAddress!, shape: s, kernel: 2, into: $0.baseAddress!) }
        }
        // Windows {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}; row 4 dropped.
        let means: [Float] = [2.5, 4.5, 10.5, 12.5]
        #expect(y == means.flatMap { [$0, -10 * $0] })
    }
}
