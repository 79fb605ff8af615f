import SpurCore

/// `groupdro`: cross-entropy with the groups re-weighted online, toward the
/// worst (Sagawa et al. 2019).
public struct GroupDROMethod: MethodDefinition {
    public var summary: String { "cross-entropy, groups re-weighted online (Sagawa et al. 2019)" }
    public var terms: [LossTerm] { [.ce] }
    public var needsImageGroups: Bool { true }

    /// The learning rate only: Group DRO already re-weights groups, and
    /// balancing its batches too would count the same correction twice.
    public func tuningCandidates(_ grid: TuningGrid, officialFormAvailable: Bool) -> [TuningCandidate] {
        grid.learningRates.map { TuningCandidate(learningRate: $0, sampler: .natural) }
    }

    public func hooks(_ run: TrainingRunContext) -> any TrainingHooks { GroupDROHooks(run) }
}

/// Algorithm 1 in the loop: update `q` from the batch's group losses under
/// the current heads, then descend on `Σ_g q_g L_g`.
final class GroupDROHooks: TrainingHooks {
    private var weights: GroupDROWeights
    private let groups: [Int]

    init(_ run: TrainingRunContext) {
        weights = GroupDROWeights(groups: run.groupCounts.count, counts: run.groupCounts,
                                  stepSize: Double(run.config.groupStepSize), adjustment: Double(run.config.groupAdjustment))
        groups = run.groups
    }

    func weigh(_ objective: inout Objective, batch: LossBatch, indices: [Int], heads: ProjectionHeads, epoch: Int) {
        // The losses need only the forward pass: no gradient is computed twice.
        let logProb = HeadClassifier(heads: heads, classTemplates: batch.classTemplates,
                                     templateCount: batch.templateCount).logits(batch.images).logSoftmaxRows()
        let perExample = batch.labels.enumerated().map { -logProb[$0.offset, $0.element] }
        let batchGroups = indices.map { groups[$0] }
        weights.update(groupLosses: GroupDROWeights.groupLosses(perExample: perExample, groups: batchGroups))
        let w = weights.exampleWeights(groups: batchGroups)
        objective.exampleWeights = w
        objective.weights[.ce] = w.reduce(0, +)
    }

    var checkpointState: [Double]? { weights.q }
    func restore(checkpointState q: [Double]) {
        if q.count == weights.q.count { weights.q = q }
    }
}

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
