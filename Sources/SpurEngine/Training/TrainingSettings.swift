import SpurCore

/// A run's settings as a front end holds them, before the engine's rules
/// resolve them into a `TrainingConfig`: the command line and the Train
/// screen both build their runs here, so each default and each rule
/// (which attributes, which sampler, which temperature, which absent words)
/// has one home and the two cannot disagree.
public struct TrainingSettings: Sendable, Equatable {
    /// The settings no rule decides, at `TrainingConfig`'s defaults until changed.
    public var base: TrainingConfig
    /// The spurious attribute(s); empty: the ones marked spurious, else the
    /// bundle's benchmark groups (`GroupAssignment.runAttributes`).
    public var attributes: [String] = []
    /// nil: the method's own (`Method.defaultSampler`).
    public var sampler: TrainingConfig.Sampler?
    /// nil: τ = `officialTemperature` under the official loss form (the
    /// authors' code starts there), else the bundle's pre-trained scale.
    public var temperature: Temperature?
    /// Official form: the word of each attribute's absent value.
    public var absentWords: [String: String] = [:]
    /// Leave out the loss form and absent words where they do not apply
    /// instead of rejecting them: `compare` passes one set to every method.
    public var dropInapplicable = false

    public enum Temperature: Equatable, Sendable {
        case pretrained
        case value(Float)
    }

    public static let officialTemperature: Float = 0.07

    public init(method: Method) { base = TrainingConfig(method: method) }

    public var method: Method {
        get { base.method }
        set { base.method = newValue }
    }

    /// Under this method, whether the official form is what will run.
    public var isOfficialForm: Bool { method.hasLossForm && base.lossForm == .official }

    /// The settings this method reads, in the order a front end shows them:
    /// a form offers only these, and only these can be wrong.
    public var applicable: [TrainingSetting] {
        switch method.training {
        case .none: return []
        case .replacesClassifier: return [.attributes]
        case .projections: break
        }
        var out: [TrainingSetting] = []
        if method.hasLossForm { out.append(.lossForm) }
        if isOfficialForm { out.append(.absentWords) }
        return out + [.attributes, .epochs, .learningRate, .batchSize, .optimizer, .weightDecay, .sampler]
    }

    /// The default absent word of an attribute for the official form: the
    /// absent phrase the expert gave when marking it spurious (the newest
    /// such verdict), else the engine's default phrase ("without water").
    public static func defaultAbsentWord(_ attribute: String, decisions: [Decision]) -> String {
        decisions.filter { $0.attribute == attribute && $0.verdict == .spurious }.max { $0.id < $1.id }?.phraseAbsent
            ?? Decision.defaultPhrases(attribute).absent
    }

    /// A run's configuration, and whether its attributes fell back to the
    /// bundle's benchmark groups because none is marked (front ends say so).
    public struct Built: Sendable {
        public var config: TrainingConfig
        public var usesBenchmarkGroups: Bool
    }

    /// The configuration these settings make, checked (`TrainingConfig.check`).
    /// The bundle and decisions are read only when the attributes are left to the rule.
    public func build(decisions: @autoclosure () throws -> [Decision],
                      bundle: @autoclosure () throws -> FeatureBundle) throws -> Built {
        var c = base
        c.attributes = attributes
        var fallback = false
        if c.attributes.isEmpty && method.training != .none {
            // For methods that use no attribute, the attributes only name the evaluation groups.
            let d = try decisions()
            c.attributes = GroupAssignment.runAttributes(given: [], decisions: d, bundle: try bundle())
            fallback = method.usesAttribute && Decision.spuriousAttributes(d).isEmpty && !c.attributes.isEmpty
        }
        if dropInapplicable && !method.hasLossForm { c.lossForm = .paper }
        let official = c.lossForm == .official
        c.sampler = sampler ?? method.defaultSampler
        switch temperature ?? (official ? .value(Self.officialTemperature) : .pretrained) {
        case .pretrained: c.initialTemperature = nil
        case .value(let t): c.initialTemperature = t
        }
        if !official && !dropInapplicable && !absentWords.isEmpty {
            throw SettingError(TrainingSetting.absentWords.rawValue, "applies to the official loss form only")
        }
        c.absentWords = official ? absentWords : [:]
        try c.check()
        return Built(config: c, usesBenchmarkGroups: fallback)
    }
}

/// The settings a front end offers for a run, each named as the
/// `TrainingConfig` field that holds it: the name a `SettingError` carries
/// and each front end maps to its own control (a flag, a key).
public enum TrainingSetting: String, CaseIterable, Sendable {
    case lossForm, absentWords, attributes, epochs, learningRate, batchSize, optimizer, weightDecay, sampler
}
