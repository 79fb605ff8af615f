/// Group DRO's online group weights (Sagawa et al. 2019, Algorithm 1):
/// after each batch, `q_g ← q_g · exp(η · (L_g + C/√n_g))` for the groups in
/// the batch, then `q ← q / Σ q`; the batch loss is `Σ_g q_g L_g`.
public struct GroupDROWeights: Equatable, Sendable {
    public var q: [Double]
    public let stepSize: Double
    public let adjustment: Double
    /// Training examples per group, for the `C/√n_g` adjustment.
    public let counts: [Int]

    public init(groups: Int, counts: [Int], stepSize: Double, adjustment: Double = 0) {
        q = [Double](repeating: 1 / Double(groups), count: groups)
        self.counts = counts
        self.stepSize = stepSize
        self.adjustment = adjustment
    }

    /// Updates `q` from this batch's mean loss per group (groups absent from
    /// the batch keep their weight before normalisation).
    public mutating func update(groupLosses: [Int: Double]) {
        for (g, loss) in groupLosses {
            let adjust = counts[g] > 0 ? adjustment / Double(counts[g]).squareRoot() : 0
            q[g] *= exp(stepSize * (loss + adjust))
        }
        let total = q.reduce(0, +)
        q = q.map { $0 / total }
    }

    /// Per-example weights `w_i = q_{g_i} / n_{g_i}` (batch counts), so that
    /// `Σ_i w_i CE_i = Σ_g q_g L_g`; their sum is the total weight of the
    /// groups present. Examples in no group get weight 0.
    public func exampleWeights(groups: [Int]) -> [Float] {
        var inBatch: [Int: Int] = [:]
        for g in groups where g >= 0 { inBatch[g, default: 0] += 1 }
        return groups.map { g in g >= 0 ? Float(q[g] / Double(inBatch[g]!)) : 0 }
    }

    /// Mean per-group losses of a batch.
    public static func groupLosses(perExample: [Float], groups: [Int]) -> [Int: Double] {
        var sum: [Int: Double] = [:], n: [Int: Int] = [:]
        for (l, g) in zip(perExample, groups) where g >= 0 { sum[g, default: 0] += Double(l); n[g, default: 0] += 1 }
        var out: [Int: Double] = [:]
        for (g, total) in sum { out[g] = total / Double(n[g]!) }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#endif
