import Foundation
import SpurCore

/// One split's cached features and labels, with the attribute value of each
/// example used for training groups and the one used for evaluation groups.
public struct SplitData: Sendable {
    public var rows: [Int]
    public var images: Matrix
    public var labels: [Int]
    /// Combined value of the spurious attribute(s) used in training (−1 unknown).
    public var values: [Int]
    /// The same from the best source for evaluation: ground truth when the
    /// bundle has it for every attribute, detections otherwise.
    public var evaluationValues: [Int]
}

/// Everything a run reads from the bundle, prepared once.
public struct TrainingData: Sendable {
    /// L_ls's prompts of one group: every template filled with
    /// "{class} {phrase}".
    public static func groupPrompts(className: String, phrase: String, templates: [String]) -> [String] {
        templates.map { FeatureBundle.fill($0, with: "\(className) \(phrase)") }
    }

    public var classes: [String]
    public var templateCount: Int
    /// The run's spurious attribute(s): they define the training groups.
    public var attributes: [String]
    /// Distinct combined values per class: `2^J`, or 1 with no attribute.
    public var valueCount: Int
    /// The attribute(s) that define evaluation groups: the run's, or the
    /// bundle's benchmark groups for methods that use none.
    public var evaluationAttributes: [String]
    public var train: SplitData
    public var val: SplitData
    public var test: SplitData
    public var classTemplates: Matrix
    /// `L_ls` texts: blocks of K rows, block `(c·J + j)·2 + a`.
    public var groupTemplates: Matrix
    /// StarFT: every class-template caption with every context appended,
    /// row `(c·K + k)·M + m` for context `m` of `starContextCount`
    /// (`StarFTMethod.prepare`; empty for other methods).
    public var spuriousCaptions: Matrix
    public var starContextCount: Int
    /// The official form's attribute prompts, row `2j + a` (see `LossBatch.attributePrompts`).
    public var attributePrompts: Matrix
    /// orth-proj: the phrases projected out of the class prompts and their
    /// prompts' features (`OrthogonalProjectionMethod.prepare`; empty for other methods).
    public var projectionPhrases: [String] = []
    public var projectionPrompts: Matrix = Matrix(rows: 0, cols: 0)
    public var pretrained: ProjectionHeads
    /// Whether evaluation groups come from ground truth.
    public var evaluationFromGroundTruth: Bool

    /// Training examples per (class, value) group, for the adjusted average and Group DRO.
    public var trainGroupCounts: [GroupAccuracy.Group: Int] {
        var c: [GroupAccuracy.Group: Int] = [:]
        for (y, v) in zip(train.labels, train.evaluationValues) where v >= 0 { c[.init(label: y, value: v), default: 0] += 1 }
        return c
    }

    /// Human-readable name of a combined value: "water" / "no water", or
    /// "water, no boat" with several attributes.
    public func valueName(_ v: Int) -> String { GroupAssignment.valueName(v, attributes: evaluationAttributes) }

    /// The presence source of a run's training groups.
    public static func trainingSource(_ config: TrainingConfig) -> PresenceSource {
        config.groundTruth ? .groundTruth : .detections(threshold: config.threshold)
    }

    public static func prepare(bundle b: FeatureBundle, config: TrainingConfig, decisions: [Decision]) throws -> TrainingData {
        let m = b.manifest
        for a in config.attributes where !m.attributes.contains(a) {
            throw SettingError("attributes", "'\(a)' is not in the attribute vocabulary of \(b.path(FeatureBundle.manifestFile)) (\(m.attributes.joined(separator: ", ")))")
        }
        if config.method.needsAttribute && config.attributes.isEmpty {
            throw SettingError("attributes", "method \(config.method.rawValue) needs a spurious attribute: mark one spurious or name one for the run")
        }
        try config.checkAbsentWords()
        let official = config.lossForm == .official && config.method.hasLossForm
        if config.groundTruth && config.attributes.isEmpty {
            throw SettingError("groundTruth", "ground-truth groups need a spurious attribute")
        }
        let j = config.attributes.count
        let evaluationAttributes = config.attributes.isEmpty ? b.groupAttributes : config.attributes
        // The one grouping rule (GroupAssignment): training groups from the
        // run's source, evaluation groups from the best one the bundle has.
        let training = try GroupAssignment(bundle: b, attributes: config.attributes, source: trainingSource(config))
        let evaluation = try GroupAssignment(bundle: b, attributes: evaluationAttributes,
                                             source: .best(for: evaluationAttributes, in: b, threshold: config.threshold))
        let evaluationTruth = evaluation.source.isGroundTruth
        let pooled = try b.pooledFeatures()
        func split(_ s: Split) throws -> SplitData {
            let rows = b.indices(in: s)
            return SplitData(rows: rows, images: pooled.gatherRows(rows), labels: rows.map { b.examples[$0].label },
                             values: rows.map { training.values[$0] }, evaluationValues: rows.map { evaluation.values[$0] })
        }
        let train = try split(.train), val = try split(.val), test = try split(.test)
        guard !train.rows.isEmpty else { throw InputError(file: b.path(FeatureBundle.examplesFile), field: "split", "the train split is empty") }
        guard !val.rows.isEmpty else { throw InputError(file: b.path(FeatureBundle.examplesFile), field: "split", "the val split is empty: model selection needs it") }

        // Phrases per (class, attribute) from the verdicts, defaults otherwise.
        let phrase = MethodPhrases(decisions: decisions)
        var groupTexts: [String] = []
        for c in m.classes {
            for a in config.attributes {
                let p = phrase(c, a)
                for text in [p.absent, p.present] {
                    groupTexts += Self.groupPrompts(className: c, phrase: text, templates: m.templates)
                }
            }
        }
        let attributeTexts = official
            ? config.attributes.flatMap { a in [config.absentWords[a]!, a].map(OfficialTerms.prompt) } : []
        let dt = m.dims.textDim
        var data = TrainingData(
            classes: m.classes, templateCount: m.templates.count, attributes: config.attributes,
            valueCount: 1 << j, evaluationAttributes: evaluationAttributes, train: train, val: val, test: test,
            classTemplates: try b.classTemplateFeatures(),
            // Encoded only for the methods that read them: an imported bundle
            // need not carry prompts a method never uses.
            groupTemplates: groupTexts.isEmpty || !config.method.terms.contains(.ls) ? Matrix(rows: 0, cols: dt) : try b.textFeatures(for: groupTexts),
            spuriousCaptions: Matrix(rows: 0, cols: dt), starContextCount: 0,
            attributePrompts: attributeTexts.isEmpty ? Matrix(rows: 0, cols: dt) : try b.textFeatures(for: attributeTexts),
            pretrained: try b.pretrainedHeads(),
            evaluationFromGroundTruth: evaluationTruth)
        try config.method.definition.prepare(&data, bundle: b, config: config, phrases: phrase)
        return data
    }
}
