/// The mitigation methods (docs/DESIGN.md "Methods"), by the name runs are
/// stored and chosen under. What each one is and does lives in its
/// definition, one file per method in this folder.
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

    public var definition: any MethodDefinition {
        switch self {
        case .zeroshot: ZeroShotMethod()
        case .clipFT: CLIPFineTuningMethod()
        case .erm: EmpiricalRiskMethod()
        case .groupDRO: GroupDROMethod()
        case .oursLS: LanguageSideMethod()
        case .oursVS: VisionSideMethod()
        case .sfr: SFRMethod()
        case .starFT: StarFTMethod()
        case .dfr: DFRMethod()
        case .orthProj: OrthogonalProjectionMethod()
        }
    }
}

/// The definition's traits under the method's name, for callers that hold a `Method`.
extension Method {
    public var summary: String { definition.summary }
    public func summary(lossForm: TrainingConfig.LossForm) -> String { definition.summary(lossForm: lossForm) }
    public var training: MethodTraining { definition.training }
    public var terms: [LossTerm] { definition.terms }
    public var needsImageGroups: Bool { definition.needsImageGroups }
    public var needsAttribute: Bool { definition.needsAttribute }
    public var usesAttribute: Bool { definition.usesAttribute }
    public var hasLossForm: Bool { definition.hasLossForm }
    public var ownTerm: LossTerm? { definition.ownTerm }
    public var defaultSampler: TrainingConfig.Sampler { definition.defaultSampler }
    public var replacesClassifier: Bool { training == .replacesClassifier }
    public var usesValidationGroupLabels: Bool { definition.usesValidationGroupLabels }
    public var seedMatters: Bool { definition.seedMatters }
}
