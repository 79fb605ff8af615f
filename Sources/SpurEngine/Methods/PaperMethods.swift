/// What the paper's two methods share: the contrastive terms in the paper's
/// or the authors' form, group-balanced batches, and a tuning grid over the
/// form and the weight of the method's own term.
///
/// They draw every group equally often by default: the authors' code does,
/// and on the embedded benchmark they mitigate only so (natural sampling
/// left `ours-ls` at ERM's worst group; docs/results.md).
public protocol PaperMethod: MethodDefinition {
    /// L_ls or L_vs.
    var paperTerm: LossTerm { get }
    var officialSummary: String { get }
}

extension PaperMethod {
    public var terms: [LossTerm] { [.clip, .vc, .lc, paperTerm] }
    public var hasLossForm: Bool { true }
    public var ownTerm: LossTerm? { paperTerm }
    public var defaultSampler: TrainingConfig.Sampler { .groupBalanced }

    public func summary(lossForm: TrainingConfig.LossForm) -> String {
        lossForm == .official ? officialSummary : summary
    }

    /// Loss form × learning rate × sampler × own-term weight; the official
    /// form only when its absent-value words are known.
    public func tuningCandidates(_ grid: TuningGrid, officialFormAvailable: Bool) -> [TuningCandidate] {
        let forms = officialFormAvailable ? grid.lossForms : grid.lossForms.filter { $0 == .paper }
        let weights: [Float?] = grid.termWeights.isEmpty ? [nil] : grid.termWeights
        return forms.flatMap { form in
            grid.learningRates.flatMap { lr in
                grid.samplers.flatMap { sampler in
                    weights.map { TuningCandidate(learningRate: lr, sampler: sampler, lossForm: form, termWeight: $0) }
                }
            }
        }
    }
}

/// `ours-ls`: the language side. The attribute enters only through its
/// words (L_ls), so no image needs an attribute label.
public struct LanguageSideMethod: PaperMethod {
    public var paperTerm: LossTerm { .ls }
    public var needsAttribute: Bool { true }
    public var summary: String { "L_clip + L_vc + L_lc + L_ls (language side; no per-image attribute labels)" }
    public var officialSummary: String {
        "L_clip + L_vc + L_lc + L_ls as the authors' code has them (mean-cosine in-modal terms, L_ls as |cos| to the attribute's words)"
    }
}

/// `ours-vs`: the vision side. L_vs contrasts images by class × attribute
/// value, so every training image needs its value.
public struct VisionSideMethod: PaperMethod {
    public var paperTerm: LossTerm { .vs }
    public var needsImageGroups: Bool { true }
    public var summary: String { "L_clip + L_vc + L_lc + L_vs (vision side; per-image attribute values)" }
    public var officialSummary: String {
        "L_clip + L_vc + L_lc + L_vs as the authors' code has them (mean-cosine in-modal terms, L_vs as cross-entropy over the attribute's value prompts)"
    }
}
