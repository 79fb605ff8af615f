import SpurCore
import SpurEngine

/// The first half of the paper's pipeline on one bundle: which attributes
/// are present, what the model predicts, and the ranked discrepancies.
public struct Audit: Sendable {
    public enum PresenceSource: Sendable, Equatable {
        /// Detector scores from `attributes.csv` at a threshold (per-attribute overrides by name).
        case detections(threshold: Float, overrides: [String: Float])
        /// The model's own zero-shot scores, present above a per-attribute quantile.
        case zeroShot(quantile: Double)
    }

    public var split: Split?
    public var source: PresenceSource
    public var minimumSupport: Int

    public init(split: Split? = .val, source: PresenceSource = .detections(threshold: 0.5, overrides: [:]),
                minimumSupport: Int = 10) {
        self.split = split
        self.source = source
        self.minimumSupport = minimumSupport
    }

    public struct Result: Sendable {
        public var table: DiscrepancyTable
        public var classes: [String]
        public var attributes: [String]
        public var examples: Int

        public init(table: DiscrepancyTable, classes: [String], attributes: [String], examples: Int) {
            self.table = table; self.classes = classes; self.attributes = attributes; self.examples = examples
        }
    }

    /// Runs the audit with the given heads (pre-trained for zero-shot, or a run's checkpoint);
    /// `classifier` replaces the heads' class side (a `dfr` or `orth-proj` run).
    public func run(_ bundle: FeatureBundle, heads: ProjectionHeads, classifier: HeadClassifier? = nil) throws -> Result {
        let m = bundle.manifest
        let rows = split.map { bundle.indices(in: $0) } ?? Array(bundle.examples.indices)
        guard !rows.isEmpty else {
            throw InputError(file: bundle.directory, field: "split", "'\(split?.rawValue ?? "all")' has no examples")
        }
        let images = try bundle.pooledFeatures(rows: rows)
        let classifier = try classifier ?? HeadClassifier(heads: heads, classTemplates: try bundle.classTemplateFeatures(),
                                                          templateCount: m.templates.count)
        let predictions = classifier.predict(images)
        let excluded = AttributePresence.excludedAttributes(vocabulary: m.attributes, classes: m.classes)
        let presence: AttributePresence
        switch source {
        case .detections(let threshold, let overrides):
            var perAttribute: [Int: Float] = [:]
            for (name, t) in overrides {
                guard let i = m.attributes.firstIndex(of: name) else {
                    throw InputError(file: "--attribute-threshold", "'\(name)' is not in the bundle's attribute vocabulary")
                }
                perAttribute[i] = t
            }
            presence = AttributePresence.fromDetections(bundle.detections, exampleCount: bundle.examples.count,
                                                        attributeCount: m.attributes.count, threshold: threshold,
                                                        perAttribute: perAttribute, excluded: excluded)
                .restricted(to: rows)
        case .zeroShot(let quantile):
            let prompts = try bundle.textFeatures(for: m.attributes.map { "a photo of \($0)." })
            presence = AttributePresence.zeroShot(heads: heads, images: images, attributePrompts: prompts,
                                                  quantile: quantile, excluded: excluded)
        }
        let table = DiscrepancyTable.compute(labels: rows.map { bundle.examples[$0].label }, predictions: predictions,
                                             presence: presence, classCount: m.classes.count,
                                             minimumSupport: minimumSupport)
        return Result(table: table, classes: m.classes, attributes: m.attributes, examples: rows.count)
    }
}
