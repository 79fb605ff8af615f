import SpurCore
import Foundation

/// A loss on embeddings with its gradients: the building block of every
/// objective. All logits are `s · ⟨a, b⟩` of unit vectors.
public struct EmbeddingLoss: Sendable {
    public var value: Float
    /// Gradient with respect to the first embedding set (anchors / images).
    public var dFirst: Matrix
    /// Gradient with respect to the second set (candidates / texts / classes),
    /// when the term has one distinct from the first.
    public var dSecond: Matrix?
    /// Gradient with respect to the scale `s` (not `log s`).
    public var dScale: Float
}

/// The loss terms of DESIGN.md ("Losses"), each with its hand-derived
/// backward pass. They work on normalised embeddings; `Objective` chains them
/// back through the normalisation and the projections.
public enum ContrastiveTerms {

    /// The CS construct within one modality.
    ///
    /// Anchor `i` (with `groups[i] ≥ 0`) has positives `P(i) = {j ≠ i : g_j = g_i}`
    /// and negatives `Q(i) = {j : g_j ≥ 0, g_j ≠ g_i}`;
    /// `CS = −mean_{i: P(i)≠∅} mean_{p∈P(i)} log(e^{s⟨e_i,e_p⟩} / Σ_{j∈P(i)∪Q(i)} e^{s⟨e_i,e_j⟩})`.
    /// A negative group id leaves the row out entirely, as anchor and as
    /// candidate (an unknown attribute value). No valid anchor gives 0.
    public static func supervisedContrastive(_ e: Matrix, groups: [Int], scale s: Float) -> EmbeddingLoss {
        let n = e.rows
        precondition(groups.count == n, "\(groups.count) group ids for \(n) embeddings")
        let sim = Matrix.product(e, e, transposeB: true)
        var g = Matrix(rows: n, cols: n)
        var groupSize: [Int: Int] = [:]
        for id in groups where id >= 0 { groupSize[id, default: 0] += 1 }

        var total: Double = 0
        var anchors = 0
        var logits = [Float](repeating: 0, count: n)
        for i in 0..<n {
            let gi = groups[i]
            guard gi >= 0, let size = groupSize[gi], size > 1 else { continue }
            let positives = Float(size - 1)
            anchors += 1
            var m = -Float.infinity
            for j in 0..<n where j != i && groups[j] >= 0 {
                logits[j] = s * sim.storage[i * n + j]
                m = max(m, logits[j])
            }
            var z: Float = 0
            for j in 0..<n where j != i && groups[j] >= 0 { z += expf(logits[j] - m) }
            let lse = m + logf(z)
            var positiveSum: Float = 0
            for j in 0..<n where j != i && groups[j] >= 0 {
                let isPositive = groups[j] == gi
                if isPositive { positiveSum += logits[j] }
                g.storage[i * n + j] = expf(logits[j] - lse) - (isPositive ? 1 / positives : 0)
            }
            total += Double(lse - positiveSum / positives)
        }
        guard anchors > 0 else {
            return EmbeddingLoss(value: 0, dFirst: Matrix(rows: n, cols: e.cols), dSecond: nil, dScale: 0)
        }
        g.scale(by: 1 / Float(anchors))
        let dScale = g.dot(sim)
        // logits = s·E·Eᵀ, so dE = s·(G + Gᵀ)·E.
        var dE = Matrix(rows: n, cols: e.cols)
        Matrix.gemm(g, e, alpha: s, into: &dE)
        Matrix.gemm(g, transposeA: true, e, alpha: s, beta: 1, into: &dE)
        return EmbeddingLoss(value: Float(total / Double(anchors)), dFirst: dE, dSecond: nil, dScale: dScale)
    }

    /// CLIP's symmetric InfoNCE: image `i` is paired with caption `i`;
    /// `½ (CE over rows + CE over columns)` of `s·V·Tᵀ` with diagonal targets.
    public static func clip(images v: Matrix, captions t: Matrix, scale s: Float) -> EmbeddingLoss {
        precondition(v.rows == t.rows && v.cols == t.cols, "clip loss needs one caption per image")
        let b = v.rows
        let sim = Matrix.product(v, t, transposeB: true)
        var logits = sim
        logits.scale(by: s)
        let rowLog = logits.logSoftmaxRows()
        let colLog = logits.transposed.logSoftmaxRows()   // row j = column j of logits
        var total: Double = 0
        var g = Matrix(rows: b, cols: b)
        let half = 0.5 / Float(b)
        for i in 0..<b {
            total -= Double(rowLog.storage[i * b + i]) + Double(colLog.storage[i * b + i])
            for j in 0..<b {
                g.storage[i * b + j] = half * (expf(rowLog.storage[i * b + j]) + expf(colLog.storage[j * b + i]))
            }
            g.storage[i * b + i] -= 2 * half
        }
        let dScale = g.dot(sim)
        let dV = Matrix.product(g, t, alpha: s)
        let dT = Matrix.product(g, transposeA: true, v, alpha: s)
        return EmbeddingLoss(value: Float(total / Double(2 * b)), dFirst: dV, dSecond: dT, dScale: dScale)
    }

    /// Cross-entropy of `s·⟨v_i, c_y⟩` over classes, weighted per example:
    /// `Σ_i w_i CE_i / Σ_i w_i` (unit weights when `weights` is nil).
    /// `perExample` holds every `CE_i` for Group DRO's group losses.
    public static func classification(images v: Matrix, classes c: Matrix, labels: [Int],
                                      weights: [Float]? = nil, scale s: Float)
        -> (loss: EmbeddingLoss, perExample: [Float])
    {
        let b = v.rows, k = c.rows
        precondition(labels.count == b, "\(labels.count) labels for \(b) images")
        let w = weights ?? [Float](repeating: 1, count: b)
        let wSum = w.reduce(0, +)
        let sim = Matrix.product(v, c, transposeB: true)
        var logits = sim
        logits.scale(by: s)
        let logProb = logits.logSoftmaxRows()
        var perExample = [Float](repeating: 0, count: b)
        var g = Matrix(rows: b, cols: k)
        var total: Double = 0
        for i in 0..<b {
            perExample[i] = -logProb.storage[i * k + labels[i]]
            total += Double(w[i] * perExample[i])
            let scaleRow = wSum > 0 ? w[i] / wSum : 0
            for j in 0..<k {
                g.storage[i * k + j] = scaleRow * (expf(logProb.storage[i * k + j]) - (j == labels[i] ? 1 : 0))
            }
        }
        let dScale = g.dot(sim)
        let dV = Matrix.product(g, c, alpha: s)
        let dC = Matrix.product(g, transposeA: true, v, alpha: s)
        let value = wSum > 0 ? Float(total / Double(wSum)) : 0
        return (EmbeddingLoss(value: value, dFirst: dV, dSecond: dC, dScale: dScale), perExample)
    }

    /// StarFT's `R_star = (1/B) Σ_i KL(softmax(T_i·) ‖ softmax(S_i·))` with
    /// `S_ij = s⁰⟨v_i, t̃_j⟩` (current model), `T_ij = s⁰⟨v⁰_i, t̃⁰_j⟩` (frozen
    /// original), over captions of examples of other classes only (pairs
    /// with `y_i = y_j` are masked out of both softmaxes). Rows with no other
    /// class in the batch contribute 0 but still count in `B`.
    public static func spuriousAlignment(images v: Matrix, captions t: Matrix, originalImages v0: Matrix,
                                         originalCaptions t0: Matrix, labels: [Int], scale s: Float) -> EmbeddingLoss {
        let b = v.rows
        let sim = Matrix.product(v, t, transposeB: true)
        let sim0 = Matrix.product(v0, t0, transposeB: true)
        var g = Matrix(rows: b, cols: b)
        var total: Double = 0
        for i in 0..<b {
            let others = (0..<b).filter { labels[$0] != labels[i] }
            guard !others.isEmpty else { continue }
            func logSoftmax(_ m: Matrix) -> [Float] {
                let z = others.map { s * m[i, $0] }
                let mx = z.max()!
                let lse = mx + logf(z.reduce(0) { $0 + expf($1 - mx) })
                return z.map { $0 - lse }
            }
            let logP = logSoftmax(sim), logQ = logSoftmax(sim0)
            for (k, j) in others.enumerated() {
                let q = expf(logQ[k])
                total += Double(q * (logQ[k] - logP[k]))
                // d KL / d S_ij = p_ij − q_ij; logits are s⁰·sim.
                g[i, j] = (expf(logP[k]) - q) / Float(b)
            }
        }
        let dV = Matrix.product(g, t, alpha: s)
        let dT = Matrix.product(g, transposeA: true, v, alpha: s)
        return EmbeddingLoss(value: Float(total / Double(b)), dFirst: dV, dSecond: dT, dScale: 0)
    }
}
