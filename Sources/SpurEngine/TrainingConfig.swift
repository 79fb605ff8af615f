import Foundation
import SpurCore

/// The mitigation methods (DESIGN.md "Methods"). All train `W_v`, `W_t` and
/// the temperature only.
public enum Method: String, CaseIterable, Codable, Sendable {
    case zeroshot
    case clipFT = "clip-ft"
    case erm
    case groupDRO = "groupdro"
    case oursLS = "ours-ls"
    case oursVS = "ours-vs"
    case sfr
    case starFT = "starft"
    case dfr
    case orthProj = "orth-proj"

    /// The loss terms of the method's objective.
    public var terms: [LossTerm] {
        switch self {
        case .zeroshot, .dfr, .orthProj: return []
        case .clipFT: return [.clip]
        case .erm, .groupDRO, .sfr: return [.ce]
        case .oursLS: return [.clip, .vc, .lc, .ls]
        case .oursVS: return [.clip, .vc, .lc, .vs]
        case .starFT: return [.clip, .star]
        }
    }

    /// Methods that need per-image values of the spurious attribute(s).
    public var needsImageGroups: Bool { self == .groupDRO || self == .oursVS || self == .dfr }
    /// Methods that need a spurious attribute at all (its phrases or values).
    public var needsAttribute: Bool { needsImageGroups || self == .oursLS || self == .starFT || self == .orthProj }
    /// Methods that train no projection: they fit (`dfr`) or construct
    /// (`orth-proj`) a new class side over the frozen image embeddings.
    public var replacesClassifier: Bool { self == .dfr || self == .orthProj }
    /// Methods that fit on the validation split's group labels, which the
    /// others use only to pick a checkpoint: say so wherever they are reported.
    public var usesValidationGroupLabels: Bool { self == .dfr }

    public var summary: String {
        switch self {
        case .zeroshot: return "no training: the pre-trained projections"
        case .clipFT: return "fine-tune with the CLIP loss on class captions"
        case .erm: return "cross-entropy on s⟨v, c_y⟩"
        case .groupDRO: return "cross-entropy, groups re-weighted online (Sagawa et al. 2019)"
        case .oursLS: return "L_clip + L_vc + L_lc + L_ls (language side; no per-image attribute labels)"
        case .oursVS: return "L_clip + L_vc + L_lc + L_vs (vision side; per-image attribute values)"
        case .sfr: return "cross-entropy with disagreement weights and feature dropout (our reading of SFR)"
        case .starFT: return "L_clip + λ·KL to the original model over spuriosity-injected captions (StarFT)"
        case .dfr: return "logistic regression on frozen embeddings, fitted on group-balanced val (DFR; uses val group labels)"
        case .orthProj: return "class prompts with the attribute's text directions projected out (Chuang et al. 2023; no training)"
        }
    }
}

/// Everything that determines a run. Stored with the run, so it can be
/// resumed or reproduced exactly.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public enum OptimizerKind: String, Codable, Sendable { case sgd, adam }
    public enum Sampler: String, Codable, Sendable {
        /// Shuffle the training split each epoch.
        case natural
        /// Draw each batch's examples with probability 1/(group size), with replacement.
        case groupBalanced = "group-balanced"
    }
    public enum LossForm: String, Codable, Sendable { case paper }

    public var method: Method
    /// The spurious attribute(s); groups are class × each attribute's value.
    public var attributes: [String] = []
    /// Per-image attribute values from ground truth instead of detections.
    public var groundTruth = false
    /// Detection score at which an attribute counts as present.
    public var threshold: Float = 0.5
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
    /// Group DRO's step size η and generalisation adjustment C.
    public var groupStepSize: Float = 0.01
    public var groupAdjustment: Float = 0
    /// SFR: reference epochs, weight sharpness γ, feature dropout, inverse weighting.
    public var sfrReferenceEpochs = 1
    public var sfrGamma: Float = 5
    public var sfrDropout: Float = 0.1
    public var sfrInverse = false
    /// StarFT's λ, decayed linearly to 0 over the epochs when `starDecay`.
    public var starLambda: Float = 0.5
    public var starDecay = false

    public init(method: Method) { self.method = method }

    public func lambda(_ term: LossTerm) -> Float { lambdas[term.rawValue] ?? 1 }

    /// Bounds that make a run meaningful, checked before anything starts.
    public func check() throws {
        func require(_ ok: Bool, _ flag: String, _ message: String) throws {
            if !ok { throw InputError(file: flag, message) }
        }
        try require(epochs >= 1 && epochs <= 100_000, "--epochs", "is \(epochs), expected 1...100000")
        try require(batchSize >= 2 && batchSize <= 65_536, "--batch-size", "is \(batchSize), expected 2...65536")
        try require(learningRate > 0 && learningRate.isFinite, "--lr", "is \(learningRate), expected a positive number")
        try require(weightDecay >= 0, "--wd", "is \(weightDecay), expected 0 or more")
        try require(momentum >= 0 && momentum < 1, "--momentum", "is \(momentum), expected 0 ≤ momentum < 1")
        try require(threshold >= 0 && threshold <= 1, "--threshold", "is \(threshold), expected 0...1")
        try require(patience >= 0, "--patience", "is negative")
        try require(templatesPerStep >= 0, "--templates-per-step", "is negative")
        try require(sfrDropout >= 0 && sfrDropout < 1, "--dropout", "is \(sfrDropout), expected 0 ≤ p < 1")
        try require(attributes.count <= 4, "--attribute", "\(attributes.count) attributes make \(1 << attributes.count) groups per class; at most 4 are supported")
        try require(Set(attributes).count == attributes.count, "--attribute", "names an attribute twice")
    }
}
