import Foundation
import Testing
@testable import SpurCore
@testable import SpurEngine

/// The Grad-CAM tails' backward passes against central finite differences of
/// their own forward passes, on small random tails written to and read from
/// `cam_tail.safetensors` (so the loader's names are exercised too). The
/// forward passes are checked against PyTorch in tools/reference/tests/test_gradcam.py.
@Suite struct CAMTailTests {
    static func writeTail(_ kind: CAMTailRecord.Kind, width d: Int, pooled: Int, cells: Int, hidden: Int = 12,
                          seed: UInt64) throws -> SafetensorsFile {
        var rng = SeededGenerator(seed: seed)
        var w = SafetensorsWriter()
        for (name, shape) in CAMTailFile.shapes(kind, width: d, pooledWidth: pooled, tokens: cells, hidden: hidden) {
            let s = shape.map { $0! }
            let count = s.reduce(1, *)
            // LayerNorm gains near 1 (as trained ones are), everything else small.
            let gain = name.hasSuffix("ln_1.weight") || name.hasSuffix("ln_2.weight") || name.hasSuffix("ln_post.weight")
            let scale: Float = s.count == 2 ? 1 / Float(s[1]).squareRoot() : 0.3
            w.add(name, shape: s, floats: (0..<count).map { _ in (gain ? 1 : 0) + scale * rng.nextGaussian() })
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("cam-tail-\(kind.rawValue)-\(seed)-\(UUID()).safetensors").path
        try w.write(to: path)
        return try SafetensorsFile(path: path)
    }

    /// Max |analytic − numeric| over every entry of `at`, relative to the
    /// largest analytic entry, for the scalar `⟨u, f(at)⟩`.
    static func finiteDifferenceError(at x: Matrix, upstream u: Matrix, analytic: Matrix,
                                      _ f: (Matrix) -> [Float]) -> Float {
        let h: Float = 1e-2
        var worst: Float = 0
        for i in x.storage.indices {
            var plus = x, minus = x
            plus.storage[i] += h; minus.storage[i] -= h
            let fp = f(plus), fm = f(minus)
            var numeric: Float = 0
            for j in fp.indices { numeric += u.storage[j] * (fp[j] - fm[j]) }
            numeric /= 2 * h
            worst = max(worst, abs(numeric - analytic.storage[i]))
        }
        return worst / max(analytic.maxAbs(), 1e-12)
    }

    @Test(arguments: ["quick_gelu", "gelu"])
    func visionBlockGradientsMatchFiniteDifferences(activation: String) throws {
        let d = 8, tokens = 5
        let file = try Self.writeTail(.visionLastBlock, width: d, pooled: d, cells: tokens - 1, seed: 3)
        let tail = try VisionBlockTail(file: file, record: CAMTailRecord(kind: .visionLastBlock, layer: "ln_1", heads: 2,
                                                                         activation: activation, layerNormEps: 1e-5))
        var rng = SeededGenerator(seed: 4)
        let x = rng.gaussianMatrix(rows: tokens, cols: d)
        let a = tail.norm1.forward(rows: x)
        let u = rng.gaussianMatrix(rows: 2, cols: d)
        let (_, backward) = tail.fromTarget(a, classToken: x.row(0))
        let grads = backward(u)
        for k in 0..<2 {
            let uk = Matrix(rows: 1, cols: d, storage: Array(u.row(k)))
            let error = Self.finiteDifferenceError(at: a, upstream: uk, analytic: grads[k]) { tail.fromTarget($0, classToken: x.row(0)).pooled }
            #expect(error < 2e-3, "score \(k): max |Δ| / max |∂| = \(error)")
        }
        // Every row gets gradient: the class token's through the query, the
        // patches' through the keys and values.
        #expect((0..<tokens).allSatisfy { r in grads[0].row(r).contains { $0 != 0 } })
    }

    @Test func attentionPoolGradientsMatchFiniteDifferences() throws {
        let c = 8, cells = 4, pooled = 6
        let file = try Self.writeTail(.attentionPool, width: c, pooled: pooled, cells: cells, seed: 5)
        let tail = try AttentionPoolTail(file: file, record: CAMTailRecord(kind: .attentionPool, layer: "layer4", heads: 2))
        var rng = SeededGenerator(seed: 6)
        let y = rng.gaussianMatrix(rows: cells, cols: c)
        let u = rng.gaussianMatrix(rows: 3, cols: pooled)
        let grads = tail.fromTarget(y).backward(u)
        for k in 0..<3 {
            let uk = Matrix(rows: 1, cols: pooled, storage: Array(u.row(k)))
            let error = Self.finiteDifferenceError(at: y, upstream: uk, analytic: grads[k]) { tail.fromTarget($0).pooled }
            #expect(error < 2e-3, "score \(k): max |Δ| / max |∂| = \(error)")
        }
    }

    /// The target's channel weights are the mean gradient over the map's
    /// rows (a ViT's class token left out), whatever the chunking of classes.
    @Test func channelWeightsAreTheMeanGradientOverTheMapInAnyChunking() throws {
        let d = 8, tokens = 5
        let file = try Self.writeTail(.visionLastBlock, width: d, pooled: d, cells: tokens - 1, seed: 7)
        let tail = try VisionBlockTail(file: file, record: CAMTailRecord(kind: .visionLastBlock, layer: "ln_1", heads: 4,
                                                                         activation: "quick_gelu", layerNormEps: 1e-5))
        var rng = SeededGenerator(seed: 8)
        let x = rng.gaussianMatrix(rows: tokens, cols: d)
        let u = rng.gaussianMatrix(rows: 70, cols: d)   // more than one chunk of 64
        let t = tail.target(input: x, upstream: { _ in u }, keepGradients: true)
        let g = try #require(t.gradients)
        #expect(g.count == 70 && t.mapRows == 1..<tokens)
        for k in [0, 63, 64, 69] {
            for c in 0..<d {
                let mean = (1..<tokens).map { g[k][$0, c] }.reduce(0, +) / Float(tokens - 1)
                #expect(abs(mean - t.channelWeights[k, c]) <= 1e-6 * max(1, abs(mean)))
            }
            // The map is ReLU(A w) at the patches.
            let map = t.map(k)
            for p in 0..<(tokens - 1) {
                let dot = (0..<d).map { t.activations[p + 1, $0] * t.channelWeights[k, $0] }.reduce(0, +)
                #expect(abs(map[p] - max(0, dot)) <= 1e-5)
            }
        }
        // The pooled feature is the class token's: the same input with other patches changes it only through attention.
        #expect(t.pooled.count == d)
    }

    /// With mean pooling the new path (the generic Grad-CAM of
    /// `MeanPoolTail`) is the old through-the-head map over `H·W`: the map's
    /// gradient is the pooled gradient shared by every cell.
    @Test func meanPoolingGradCAMEqualsTheOldMapOverTheCellCount() throws {
        var rng = SeededGenerator(seed: 9)
        let cells = 6, dv = 5, e = 4, classes = 3
        let f = rng.gaussianMatrix(rows: cells, cols: dv)
        let heads = ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv), text: rng.gaussianMatrix(rows: e, cols: 3), logitScale: 2)
        let c = rng.gaussianMatrix(rows: classes, cols: e).normalizedRows().output
        let pooled = f.meanOfRowBlocks(cells).storage
        let g = GradCAM.classGradients(pooled: pooled, heads: heads, classEmbeddings: c)
        let t = MeanPoolTail().target(input: f, upstream: { GradCAM.classGradients(pooled: $0, heads: heads, classEmbeddings: c) },
                                      keepGradients: false)
        for y in 0..<classes {
            let old = GradCAM.map(spatial: f, gradient: Array(g.row(y)))
            let new = t.map(y)
            #expect(old.contains { $0 > 0 })
            for p in 0..<cells { #expect(abs(new[p] * Float(cells) - old[p]) <= 1e-5 * max(1, abs(old[p]))) }
        }
    }
}
