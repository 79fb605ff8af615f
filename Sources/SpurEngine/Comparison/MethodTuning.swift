import Foundation

/// One point of a method's tuning grid. A nil knob keeps the value the
/// comparison's options give every method (or that option's own default).
public struct TuningCandidate: Codable, Equatable, Hashable, Sendable {
    public var learningRate: Float?
    public var sampler: TrainingConfig.Sampler?
    public var lossForm: TrainingConfig.LossForm?
    /// λ of the method's own term (`Method.ownTerm`: L_ls for ours-ls, L_vs for ours-vs).
    public var termWeight: Float?

    public init(learningRate: Float? = nil, sampler: TrainingConfig.Sampler? = nil, lossForm: TrainingConfig.LossForm? = nil,
                termWeight: Float? = nil) {
        self.learningRate = learningRate
        self.sampler = sampler
        self.lossForm = lossForm
        self.termWeight = termWeight
    }

    /// The options' own values: what an untuned comparison trains.
    public static let defaults = TuningCandidate()
}

/// Which knobs `compare --tune` searches, per method.
///
/// Small on purpose: the grid is trained for every row (and, with
/// `everySeed`, every seed), and `make results` must stay within minutes on
/// two cores. Learning rates one decade apart around the default 1e-3
/// (SGD with momentum 0.9): at 1e-4 no method moves within a few epochs,
/// above 3e-2 the scale parameter diverges. The sampler where it can matter
/// (methods trained by gradient; Group DRO already re-weights groups, so
/// balancing its batches too would count the same correction twice), and
/// the loss form for `ours-*` when the official form's absent-value words
/// are known. The weight of `ours-*`' own term only when asked for
/// (`termWeights`): on the sample bundle L_ls gained 2.3 points of test worst
/// group from λ 0 (no term) to 3 with detected groups, 0.5 of them from the
/// default 1 to 3 (docs/results.md, "What the paper's terms add"), and each weight
/// multiplies the ours-* grid.
public struct TuningGrid: Codable, Equatable, Sendable {
    public var learningRates: [Float]
    public var samplers: [TrainingConfig.Sampler]
    public var lossForms: [TrainingConfig.LossForm]
    /// λ of the method's own term for `ours-*`; empty: not tuned (the options' λ).
    public var termWeights: [Float]

    public init(learningRates: [Float] = [1e-3, 1e-2], samplers: [TrainingConfig.Sampler] = [.natural, .groupBalanced],
                lossForms: [TrainingConfig.LossForm] = [.paper, .official], termWeights: [Float] = []) {
        self.learningRates = learningRates
        self.samplers = samplers
        self.lossForms = lossForms
        self.termWeights = termWeights
    }

    /// The candidates of `method`, in a fixed order (ties go to the earlier
    /// one). Methods with nothing to tune have the single default candidate:
    /// `zeroshot` and `orth-proj` train nothing, `dfr` selects its own L2
    /// strength on half of val.
    public func candidates(for method: Method, officialFormAvailable: Bool) -> [TuningCandidate] {
        method.definition.tuningCandidates(self, officialFormAvailable: officialFormAvailable)
    }
}

/// A run's validation result, all that tuning may look at.
public struct ValidationScore: Codable, Equatable, Sendable {
    public var worstGroup: Double
    public var average: Double

    public init(worstGroup: Double, average: Double) {
        self.worstGroup = worstGroup
        self.average = average
    }

    public init(_ m: SplitMetrics) { self.init(worstGroup: m.worstGroup, average: m.average) }
}

public enum Tuning {
    /// The index of the best candidate by validation worst group (ties:
    /// higher validation average, then the earlier candidate), the rule a
    /// run uses to pick its checkpoint. `validate` is the only thing it
    /// calls: the test split cannot enter the choice.
    public static func pick<C>(_ candidates: [C], validate: (C) throws -> ValidationScore) rethrows -> (index: Int, scores: [ValidationScore]) {
        precondition(!candidates.isEmpty, "a tuning grid has at least one candidate")
        let scores = try candidates.map(validate)
        var best = 0
        for i in scores.indices.dropFirst()
        where (scores[i].worstGroup, scores[i].average) > (scores[best].worstGroup, scores[best].average) {
            best = i
        }
        return (best, scores)
    }
}
