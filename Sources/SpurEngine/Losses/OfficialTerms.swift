import SpurCore
import Foundation

/// The loss terms as the authors' public code trains them (DESIGN.md,
/// "Paper vs the authors' code"), selected with `--loss-form official`.
/// Each has its hand-derived backward pass; `Objective` chains them back
/// through the normalisations and projections.
public enum OfficialTerms {

    /// The prompt of an attribute value's word, the same text the zero-shot
    /// detector scores ("a photo of water."), so a bundle's prompt table has
    /// it for every attribute of its vocabulary.
    public static func prompt(_ word: String) -> String { CLIPTemplates.wordPrompt(word) }

    /// In-modal term as a mean cosine similarity, not InfoNCE:
    /// `(1/n) Σ_i [ −(1/n) Σ_j cos_ij·1[g_i = g_j] + (1/n) Σ_j cos_ij·1[g_i ≠ g_j] ]`,
    /// with `j` over all rows, `i` itself included (as a masked mean over the
    /// whole similarity matrix is; the diagonal is a constant −1/n without
    /// gradient). Used for `L_vc` (images by label) and `L_lc` (class-template
    /// texts by class). The scale plays no part.
    public static func meanCosine(_ e: Matrix, groups: [Int]) -> EmbeddingLoss {
        let n = e.rows
        precondition(groups.count == n, "\(groups.count) group ids for \(n) embeddings")
        let sim = Matrix.product(e, e, transposeB: true)
        // m_ij = −1 for the same group, +1 otherwise, scaled by 1/n².
        var m = Matrix(rows: n, cols: n)
        let w = 1 / Float(n * n)
        for i in 0..<n {
            for j in 0..<n { m.storage[i * n + j] = groups[i] == groups[j] ? -w : w }
        }
        // m is symmetric: d(Σ m∘EEᵀ)/dE = (m + mᵀ)E = 2mE.
        let dE = Matrix.product(m, e, alpha: 2)
        return EmbeddingLoss(value: m.dot(sim), dFirst: dE, dSecond: nil, dScale: 0)
    }

    /// `L_clip` against class embeddings: image `i` and the class embedding of
    /// each batch sample's own label, `L_ij = s⟨v_i, c_{y_j}⟩`, `½(CE_rows + CE_cols)`
    /// with diagonal targets. Same-class batch mates are negatives.
    /// `dSecond` is the gradient with respect to the class embeddings `[C, E]`.
    public static func clipAgainstClasses(images v: Matrix, classes c: Matrix, labels: [Int], scale s: Float) -> EmbeddingLoss {
        precondition(labels.count == v.rows, "\(labels.count) labels for \(v.rows) images")
        var r = ContrastiveTerms.clip(images: v, captions: c.gatherRows(labels), scale: s)
        // Row j of the captions is class y_j: sum each class's rows back (Sᵀ·dT, S one-hot).
        var oneHot = Matrix(rows: labels.count, cols: c.rows)
        for (j, y) in labels.enumerated() { oneHot[j, y] = 1 }
        r.dSecond = Matrix.product(oneHot, transposeA: true, r.dSecond!)
        return r
    }

    /// `L_ls`: `mean_{r,w} |⟨t_r, e_w⟩|` over class prompts `t_r` and the
    /// attribute's word prompts `e_w` — class text pushed towards
    /// orthogonality with the spurious words. The subgradient at 0 is 0.
    public static func absoluteCosine(_ a: Matrix, _ b: Matrix) -> EmbeddingLoss {
        let sim = Matrix.product(a, b, transposeB: true)
        let count = Float(sim.storage.count)
        var sign = sim
        for i in sign.storage.indices {
            let x = sim.storage[i]
            sign.storage[i] = x > 0 ? 1 / count : x < 0 ? -1 / count : 0
        }
        let value = sim.storage.reduce(Double(0)) { $0 + Double(abs($1)) } / Double(count)
        return EmbeddingLoss(value: Float(value), dFirst: Matrix.product(sign, b),
                             dSecond: Matrix.product(sign, transposeA: true, a), dScale: 0)
    }

    /// The authors' "`L_vs`": per attribute `j`, the cross-entropy of
    /// `s⟨v_i, e_{j,a}⟩` over its two value prompts (`a = 0` absent, `1`
    /// present; rows `2j + a` of `prompts`) against the image's value, over
    /// images whose value is known; the mean over attributes. `values` holds
    /// the attributes' bits (−1 unknown). `dSecond` is the gradient with
    /// respect to `prompts`.
    public static func attributeValueCrossEntropy(images v: Matrix, prompts e: Matrix, values: [Int],
                                                  scale s: Float) -> EmbeddingLoss {
        let attributes = e.rows / 2
        precondition(attributes >= 1 && e.rows == 2 * attributes, "value prompts come in pairs, got \(e.rows) rows")
        var value: Float = 0, dScale: Float = 0
        var dV = Matrix(rows: v.rows, cols: v.cols)
        var dE = Matrix(rows: e.rows, cols: e.cols)
        let share = 1 / Float(attributes)
        for j in 0..<attributes {
            let labels = values.map { $0 < 0 ? 0 : ($0 >> j) & 1 }
            let weights = values.map { Float($0 < 0 ? 0 : 1) }
            let (r, _) = ContrastiveTerms.classification(images: v, classes: e.rows(2 * j ..< 2 * j + 2),
                                                          labels: labels, weights: weights, scale: s)
            value += share * r.value
            dScale += share * r.dScale
            dV.add(r.dFirst, scaledBy: share)
            for k in 0..<2 * e.cols { dE.storage[2 * j * e.cols + k] += share * r.dSecond!.storage[k] }
        }
        return EmbeddingLoss(value: value, dFirst: dV, dSecond: dE, dScale: dScale)
    }
}
