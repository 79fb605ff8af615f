import SpurCore

/// A ViT's last residual block and `ln_post`, from the tokens entering the
/// block to the pooled feature (the class token's row):
///
///     A = ln_1(X)                                  ← the Grad-CAM target
///     h = X_0 + out_proj(attn(q = A_0; keys, values = A))
///     m = h + c_proj(act(c_fc(ln_2(h))))
///     pooled = ln_post(m)
///
/// Only the class token's row reaches the pooled feature, so every step
/// after the attention is one row, and the attention has one query.
public struct VisionBlockTail: CAMTail {
    public let layer: String
    let norm1: TailLayerNorm
    let attention: SingleQueryAttention
    let norm2: TailLayerNorm
    let fc: Matrix, fcBias: [Float]
    let proj: Matrix, projBias: [Float]
    let activation: TailActivation
    let postNorm: TailLayerNorm

    public func target(input x: Matrix, upstream: ([Float]) -> Matrix, keepGradients: Bool) -> TargetLayer {
        let a = norm1.forward(rows: x)
        let (pooled, backward) = fromTarget(a, classToken: x.row(0))
        let g = upstream(pooled)
        let (weights, kept) = Self.inChunks(g, mapRows: 1..<x.rows, width: x.cols, keepGradients: keepGradients, backward)
        return TargetLayer(pooled: pooled, activations: a, mapRows: 1..<x.rows, channelWeights: weights, gradients: kept)
    }

    /// The pooled feature from the target's activations `a` (and the class
    /// token's residual), with the backward pass from the pooled feature to
    /// `a`. Split out so checks can differentiate it numerically at `a`.
    func fromTarget(_ a: Matrix, classToken x0: ArraySlice<Float>) -> (pooled: [Float], backward: (Matrix) -> [Matrix]) {
        let pass = attention.forward(a)
        let h = zip(x0, pass.output).map { $0 + $1 }
        let n2 = norm2.forward(h[...])
        let hiddenIn = product(Matrix(rows: 1, cols: n2.output.count, storage: n2.output), fc, transposeB: true).storage
        let u = zip(hiddenIn, fcBias).map { $0 + $1 }
        let act = u.map(activation.value)
        let mlp = product(Matrix(rows: 1, cols: act.count, storage: act), proj, transposeB: true).storage
        let m = (0..<h.count).map { h[$0] + mlp[$0] + projBias[$0] }
        let post = postNorm.forward(m[...])
        let slopes = u.map(activation.derivative)
        let backward = { (dPooled: Matrix) -> [Matrix] in
            let dm = postNorm.backward(post, gradient: dPooled)
            var du = product(dm, proj)
            for k in 0..<du.rows { for j in 0..<du.cols { du.storage[k * du.cols + j] *= slopes[j] } }
            var dh = norm2.backward(n2, gradient: product(du, fc))
            dh.add(dm)
            return attention.backward(pass, outputGradient: dh)
        }
        return (post.output, backward)
    }

    /// The tail of `cam_tail.safetensors` (shapes checked when the bundle opened).
    init(file: SafetensorsFile, record: CAMTailRecord) throws {
        func vector(_ name: String) throws -> [Float] { try file.floats(name) }
        func matrix(_ name: String) throws -> Matrix { try file.matrix(name) }
        let eps = record.layerNormEps ?? 1e-5
        layer = record.layer
        norm1 = TailLayerNorm(gamma: try vector("ln_1.weight"), beta: try vector("ln_1.bias"), eps: eps)
        let inProj = try matrix("attn.in_proj_weight"), inBias = try vector("attn.in_proj_bias")
        let d = inProj.cols
        attention = SingleQueryAttention(
            query: inProj.rows(0..<d), queryBias: Array(inBias[0..<d]),
            key: inProj.rows(d..<(2 * d)), keyBias: Array(inBias[d..<(2 * d)]),
            value: inProj.rows((2 * d)..<(3 * d)), valueBias: Array(inBias[(2 * d)..<(3 * d)]),
            output: try matrix("attn.out_proj.weight"), outputBias: try vector("attn.out_proj.bias"), heads: record.heads)
        norm2 = TailLayerNorm(gamma: try vector("ln_2.weight"), beta: try vector("ln_2.bias"), eps: eps)
        fc = try matrix("mlp.c_fc.weight"); fcBias = try vector("mlp.c_fc.bias")
        proj = try matrix("mlp.c_proj.weight"); projBias = try vector("mlp.c_proj.bias")
        activation = TailActivation(rawValue: record.activation ?? "") ?? .quickGELU
        postNorm = TailLayerNorm(gamma: try vector("ln_post.weight"), beta: try vector("ln_post.bias"), eps: eps)
    }
}

/// A ModifiedResNet's attention pool, from `layer4`'s map `Y` (`[H·W, C]`,
/// the Grad-CAM target, as the paper takes it) to the pooled feature:
///
///     X_0 = mean_p Y_p + pos_0,  X_p = Y_p + pos_p
///     pooled = c_proj(attn(q = X_0; keys, values = X))
public struct AttentionPoolTail: CAMTail {
    public let layer: String
    /// `[1 + H·W, C]`, the mean token's row first.
    let positional: Matrix
    let attention: SingleQueryAttention

    public func target(input y: Matrix, upstream: ([Float]) -> Matrix, keepGradients: Bool) -> TargetLayer {
        let (pooled, backward) = fromTarget(y)
        let g = upstream(pooled)
        let (weights, kept) = Self.inChunks(g, mapRows: 0..<y.rows, width: y.cols, keepGradients: keepGradients, backward)
        return TargetLayer(pooled: pooled, activations: y, mapRows: 0..<y.rows, channelWeights: weights, gradients: kept)
    }

    func fromTarget(_ y: Matrix) -> (pooled: [Float], backward: (Matrix) -> [Matrix]) {
        let cells = y.rows, c = y.cols
        var x = Matrix(rows: cells + 1, cols: c)
        let mean = y.meanOfRowBlocks(cells)
        for j in 0..<c { x.storage[j] = mean.storage[j] + positional.storage[j] }
        for i in c..<((cells + 1) * c) { x.storage[i] = y.storage[i - c] + positional.storage[i] }
        let pass = attention.forward(x)
        let backward = { (dPooled: Matrix) -> [Matrix] in
            attention.backward(pass, outputGradient: dPooled).map { dx in
                // ∂/∂Y_p = ∂/∂X_p + ∂/∂X_0 / (H·W): every cell is in the mean.
                var dy = dx.rows(1..<(cells + 1))
                let share = 1 / Float(cells)
                for p in 0..<cells { for j in 0..<c { dy.storage[p * c + j] += dx.storage[j] * share } }
                return dy
            }
        }
        return (pass.output, backward)
    }

    init(file: SafetensorsFile, record: CAMTailRecord) throws {
        func vector(_ name: String) throws -> [Float] { try file.floats(name) }
        func matrix(_ name: String) throws -> Matrix { try file.matrix(name) }
        layer = record.layer
        positional = try matrix("positional_embedding")
        attention = SingleQueryAttention(
            query: try matrix("q_proj.weight"), queryBias: try vector("q_proj.bias"),
            key: try matrix("k_proj.weight"), keyBias: try vector("k_proj.bias"),
            value: try matrix("v_proj.weight"), valueBias: try vector("v_proj.bias"),
            output: try matrix("c_proj.weight"), outputBias: try vector("c_proj.bias"), heads: record.heads)
    }
}

/// The tail a bundle's Grad-CAM runs through.
public enum CAMTails {
    /// Largest relative difference accepted between the tail's pooled
    /// feature and `image_pooled` (f16 tail inputs give about 1e-3).
    public static let consistencyTolerance: Float = 2e-2

    /// The tail forwarded from a few examples' cached input must give their
    /// stored pooled feature: shapes alone cannot tell a tail (or a tail
    /// input) copied from another checkpoint or shuffled rows.
    public static func consistencyProblems(_ bundle: FeatureBundle, samples: Int = 3) throws -> [InputError] {
        guard bundle.manifest.camTail != nil, let tail = try load(bundle), !bundle.examples.isEmpty else { return [] }
        let n = bundle.examples.count
        let rows = Array(Set((0..<samples).map { $0 * (n - 1) / max(samples - 1, 1) })).sorted()
        var problems: [InputError] = []
        for e in rows {
            let stored = try bundle.pooledFeatures(rows: [e]).storage
            let computed = tail.target(input: try bundle.tailInput(example: e), upstream: { Matrix(rows: 0, cols: $0.count) },
                                       keepGradients: false).pooled
            let scale = max(stored.map(abs).max() ?? 0, 1e-12)
            let off = zip(stored, computed).map { abs($0 - $1) }.max() ?? 0
            if !(off / scale <= consistencyTolerance) {
                problems.append(InputError(file: bundle.path(CAMTailFile.name), field: "example '\(bundle.examples[e].id)'",
                                           String(format: "forwarded from image_tail_input, gives a pooled feature %.3g off image_pooled (relative; expected ≤ %.0e): the tail or its input is not this bundle's", off / scale, consistencyTolerance)))
            }
        }
        return problems
    }

    /// The manifest's `cam_tail`; `MeanPoolTail` for mean-pooled bundles with
    /// a spatial map; nil when the bundle's maps can only be read through
    /// the head (older ViT and ResNet bundles) or it has no map at all.
    public static func load(_ bundle: FeatureBundle) throws -> (any CAMTail)? {
        if let record = bundle.manifest.camTail {
            let file = try bundle.camTailWeights()
            switch record.kind {
            case .visionLastBlock: return try VisionBlockTail(file: file, record: record)
            case .attentionPool: return try AttentionPoolTail(file: file, record: record)
            }
        }
        return bundle.manifest.pooling == .mean && bundle.hasSpatialMaps ? MeanPoolTail() : nil
    }
}
