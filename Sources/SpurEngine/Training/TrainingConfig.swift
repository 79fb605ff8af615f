import Foundation
import SpurCore

/// Everything that determines a run. Stored with the run, so it can be
/// resumed or reproduced exactly.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public enum OptimizerKind: String, Codable, Sendable, CaseIterable { case sgd, adam }
    public enum Sampler: String, Codable, Sendable, CaseIterable {
        /// Shuffle the training split each epoch.
        case natural
        /// Draw each batch's examples with probability 1/(group size), with replacement.
        case groupBalanced = "group-balanced"
    }
    /// `paper`: the CS construct of DESIGN.md "Losses"; `official`: the
    /// authors' code (DESIGN.md "Paper vs the authors' code", `OfficialTerms`).
    public enum LossForm: String, Codable, Sendable, CaseIterable { case paper, official }
    /// SFR's instance weight from the disagreement `d`: `1/(d + ε)` (the
    /// reviewed reading, default) or `exp(γ·d)`.
    public enum SFRWeighting: String, Codable, Sendable, CaseIterable { case inverse, exp }
    /// StarFT's λ schedule: `λ·(1 − (e+1)/E)` in epoch `e` of `E`, or constant.
    public enum StarDecay: String, Codable, Sendable, CaseIterable { case linear, none }

    public var method: Method
    /// The spurious attribute(s); groups are class × each attribute's value.
    public var attributes: [String] = []
    /// Per-image attribute values from ground truth instead of detections.
    public var groundTruth = false
    /// Detection score at which an attribute counts as present; nil: the
    /// bundle's `detection_threshold` (0.5 for bundles without one).
    public var threshold: Float? = nil
    public var epochs = 10
    public var batchSize = 128
    public var optimizer: OptimizerKind = .sgd
    public var learningRate: Float = 0.001
    public var momentum: Float = 0.9
    public var weightDecay: Float = 1e-4
    public var seed: UInt64 = 0
    public var sampler: Sampler = .natural
    /// Stop after this many evaluations without a better checkpoint (0: never).
    public var patience = 0
    /// Templates per step for L_lc / L_ls (0: all).
    public var templatesPerStep = 0
    public var lambdas: [String: Float] = [:]
    /// ours-ls / ours-vs: the paper's terms or the authors' code's.
    public var lossForm: LossForm = .paper
    /// Official form: the word of each attribute's absent value ("land" for
    /// "water"); the present value's word is the attribute's name.
    public var absentWords: [String: String] = [:]
    /// Starting temperature τ of the learnable scale `s = 1/τ`; nil starts
    /// from the bundle's pre-trained scale.
    public var initialTemperature: Float?
    /// Group DRO's step size η and generalisation adjustment C.
    public var groupStepSize: Float = 0.01
    public var groupAdjustment: Float = 0
    /// SFR: reference epochs, weight sharpness γ (exp weighting), feature
    /// dropout, and which way the disagreement weighs.
    public var sfrReferenceEpochs = 1
    public var sfrGamma: Float = 5
    public var sfrDropout: Float = 0.1
    public var sfrWeight: SFRWeighting = .inverse
    /// StarFT's λ and its schedule.
    public var starLambda: Float = 0.5
    public var starDecay: StarDecay = .linear
    /// StarFT's generic contexts; nil means `StarContexts.generic`.
    public var starContexts: [String]?

    public init(method: Method) { self.method = method }

    /// Every setting's default, for front ends to start from and show (the
    /// CLI's `--help`): the values above are the only place defaults are
    /// written. The method is a placeholder; it has no default.
    public static let defaults = TrainingConfig(method: .zeroshot)

    public func lambda(_ term: LossTerm) -> Float { lambdas[term.rawValue] ?? 1 }

    /// Epochs the run reports: none for `zeroshot`, one for a method that
    /// builds its class side in one step.
    public var plannedEpochs: Int {
        switch method.training {
        case .none: return 0
        case .replacesClassifier: return 1
        case .projections: return epochs
        }
    }

    /// StarFT's weight in epoch `epoch` (0-based): `λ·(1 − (e+1)/E)` when
    /// decaying, as the authors' training script does, so the last epoch has 0.
    public func starWeight(epoch: Int) -> Float {
        starDecay == .linear ? starLambda * (1 - Float(epoch + 1) / Float(epochs)) : starLambda
    }

    /// Bounds that make a run meaningful, checked before anything starts.
    public func check() throws {
        func require(_ ok: Bool, _ setting: String, _ message: String) throws {
            if !ok { throw SettingError(setting, message) }
        }
        try require(epochs >= 1 && epochs <= 100_000, "epochs", "is \(epochs), expected 1...100000")
        try require(batchSize >= 2 && batchSize <= 65_536, "batchSize", "is \(batchSize), expected 2...65536")
        try require(learningRate > 0 && learningRate.isFinite, "learningRate", "is \(learningRate), expected a positive number")
        try require(weightDecay >= 0, "weightDecay", "is \(weightDecay), expected 0 or more")
        try require(momentum >= 0 && momentum < 1, "momentum", "is \(momentum), expected 0 ≤ momentum < 1")
        if let threshold { try require(threshold >= 0 && threshold <= 1, "threshold", "is \(threshold), expected 0...1") }
        try require(patience >= 0, "patience", "is negative")
        try require(templatesPerStep >= 0, "templatesPerStep", "is negative")
        try require(lambdas["star"] == nil, "lambdas", "star's weight is the StarFT λ (starLambda), scheduled by starDecay")
        if let t = initialTemperature {
            try require(t.isFinite && t >= 1 / ProjectionHeads.maxScale, "initialTemperature", "is \(t), expected at least \(1 / ProjectionHeads.maxScale) (the scale 1/τ is clamped at \(Int(ProjectionHeads.maxScale)))")
        }
        try require(lossForm == .paper || method.hasLossForm, "lossForm",
                    "official applies to ours-ls and ours-vs, not \(method.rawValue)")
        try checkAbsentWords()
        try method.definition.check(self)
        try require(attributes.count <= 4, "attributes", "\(attributes.count) attributes make \(1 << attributes.count) groups per class; at most 4 are supported")
        try require(Set(attributes).count == attributes.count, "attributes", "names an attribute twice")
    }

    /// The official form's words: one for every attribute of the run, none
    /// for another. Also checked when the data is prepared, whoever built the config.
    public func checkAbsentWords() throws {
        for a in absentWords.keys.sorted() where !attributes.contains(a) {
            throw SettingError("absentWords", "'\(a)' is not a spurious attribute of this run (\(attributes.joined(separator: ", ")))")
        }
        if lossForm == .official && method.hasLossForm, let a = attributes.first(where: { (absentWords[$0] ?? "").isEmpty }) {
            throw SettingError("absentWords", "the official loss form needs a word for images without '\(a)', as the authors use \"land\" for \"water\"")
        }
    }
}
