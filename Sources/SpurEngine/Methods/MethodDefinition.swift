import Foundation
import SpurCore

/// How a method produces its model: the shared loop of `Trainer` runs it,
/// or it builds a class side in one step, or it is the pre-trained model.
public enum MethodTraining: Sendable, Equatable {
    /// Nothing to train: the pre-trained projections (`zeroshot`).
    case none
    /// Fits or constructs a new class side over the frozen image embeddings
    /// (`ClassSideMethod`): one "epoch", no projection trained.
    case replacesClassifier
    /// Mini-batch descent on the projections and the scale.
    case projections
}

/// One method's home: its traits, its objective, what it adds to the
/// training data and the loop, its tuning grid and the checks of its own
/// settings. `Method` names the methods; each case's definition lives in a
/// file of its own in this folder, so a method is read, and added, in one
/// place (docs/DESIGN.md "Methods", "Adding a method").
public protocol MethodDefinition: Sendable {
    /// One line for `--help` and the Train screen.
    var summary: String { get }
    /// The summary under a loss form (only `hasLossForm` methods differ).
    func summary(lossForm: TrainingConfig.LossForm) -> String
    var training: MethodTraining { get }
    /// The loss terms of the objective, for `.projections` methods.
    var terms: [LossTerm] { get }
    /// Needs per-image values of the spurious attribute(s).
    var needsImageGroups: Bool { get }
    /// Needs a spurious attribute at all (its phrases or its values).
    var needsAttribute: Bool { get }
    /// Uses the marked attribute(s) when there are any, needing none.
    var usesAttribute: Bool { get }
    /// Has the paper's and the authors' form of its terms (`lossForm`).
    var hasLossForm: Bool { get }
    /// The term that makes the method what it is, the one tuning may weigh.
    var ownTerm: LossTerm? { get }
    /// The sampler it runs with unless told otherwise.
    var defaultSampler: TrainingConfig.Sampler { get }
    /// Fits on the validation split's group labels, which the others use
    /// only to pick a checkpoint: reports must say so.
    var usesValidationGroupLabels: Bool { get }
    /// Whether the result depends on the seed.
    var seedMatters: Bool { get }
    /// The candidates `compare --tune` trains, in a fixed order.
    func tuningCandidates(_ grid: TuningGrid, officialFormAvailable: Bool) -> [TuningCandidate]
    /// Bounds of the settings only this method reads.
    func check(_ config: TrainingConfig) throws
    /// The texts only this method reads, encoded into `data` before a run is
    /// recorded, so a phrase no encoder can give leaves no failed run.
    func prepare(_ data: inout TrainingData, bundle: FeatureBundle, config: TrainingConfig,
                 phrases: MethodPhrases) throws
    /// What the method adds to the shared loop, for one run.
    func hooks(_ run: TrainingRunContext) -> any TrainingHooks
}

/// A method that replaces the class side instead of training the projections.
public protocol ClassSideMethod: MethodDefinition {
    /// The class side, and a sentence for the run's record saying how it was made.
    func classifier(data: TrainingData, config: TrainingConfig) throws -> (HeadClassifier, note: String)
}

extension MethodDefinition {
    public func summary(lossForm: TrainingConfig.LossForm) -> String { summary }
    public var training: MethodTraining { .projections }
    public var terms: [LossTerm] { [] }
    public var needsImageGroups: Bool { false }
    public var needsAttribute: Bool { needsImageGroups }
    public var usesAttribute: Bool { needsAttribute }
    public var hasLossForm: Bool { false }
    public var ownTerm: LossTerm? { nil }
    public var defaultSampler: TrainingConfig.Sampler { .natural }
    public var usesValidationGroupLabels: Bool { false }
    public var seedMatters: Bool { training != .none }
    /// Learning rate × sampler for methods trained by gradient; the single
    /// default candidate for the rest.
    public func tuningCandidates(_ grid: TuningGrid, officialFormAvailable: Bool) -> [TuningCandidate] {
        guard training == .projections else { return [.defaults] }
        return grid.learningRates.flatMap { lr in grid.samplers.map { TuningCandidate(learningRate: lr, sampler: $0) } }
    }
    public func check(_ config: TrainingConfig) throws {}
    public func prepare(_ data: inout TrainingData, bundle: FeatureBundle, config: TrainingConfig,
                        phrases: MethodPhrases) throws {}
    public func hooks(_ run: TrainingRunContext) -> any TrainingHooks { NoTrainingHooks() }
}

extension ClassSideMethod {
    public var training: MethodTraining { .replacesClassifier }
}

/// The phrases of each (class, attribute): the verdicts', else the defaults.
public struct MethodPhrases: Sendable {
    private var byKey: [String: (present: String, absent: String)] = [:]

    public init(decisions: [Decision]) {
        for d in decisions { byKey[d.key] = (d.phrasePresent, d.phraseAbsent) }
    }

    public func callAsFunction(_ className: String, _ attribute: String) -> (present: String, absent: String) {
        byKey[Decision.key(className: className, attribute: attribute)] ?? Decision.defaultPhrases(attribute)
    }
}

/// What a method's hooks may read of the run they belong to.
public struct TrainingRunContext: Sendable {
    public var config: TrainingConfig
    public var data: TrainingData
    /// Training group of each training example (−1 unknown), `Trainer.trainGroups`.
    public var groups: [Int]
    /// Training examples per group.
    public var groupCounts: [Int]
}

/// A method's additions to the shared training loop, one instance per run
/// (it may hold state, as Group DRO's weights). Called in this order each
/// step: `perturbImages`, `completeBatch`, `weigh`. The defaults add nothing.
public protocol TrainingHooks: AnyObject {
    /// Before the first step (SFR's reference model and weights).
    func begin(emit: (TrainingEvent) -> Void)
    /// The batch's gathered image features, before any caption is drawn
    /// (SFR's dropout): the random stream's order is part of a run's identity.
    func perturbImages(_ images: inout Matrix, rng: inout SeededGenerator)
    /// The batch after its captions and templates are drawn (StarFT's injected captions).
    func completeBatch(_ batch: inout LossBatch, captionRows: [Int], rng: inout SeededGenerator)
    /// The objective's weights for this step (Group DRO's online weights, StarFT's schedule, SFR's instance weights).
    func weigh(_ objective: inout Objective, batch: LossBatch, indices: [Int], heads: ProjectionHeads, epoch: Int)
    /// State a checkpoint keeps so that a resumed run continues exactly.
    var checkpointState: [Double]? { get }
    func restore(checkpointState: [Double])
}

extension TrainingHooks {
    public func begin(emit: (TrainingEvent) -> Void) {}
    public func perturbImages(_ images: inout Matrix, rng: inout SeededGenerator) {}
    public func completeBatch(_ batch: inout LossBatch, captionRows: [Int], rng: inout SeededGenerator) {}
    public func weigh(_ objective: inout Objective, batch: LossBatch, indices: [Int], heads: ProjectionHeads, epoch: Int) {}
    public var checkpointState: [Double]? { nil }
    public func restore(checkpointState: [Double]) {}
}

public final class NoTrainingHooks: TrainingHooks {
    public init() {}
}
