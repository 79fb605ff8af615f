import SpurCore
import SpurEngine

/// The first half of the paper's pipeline on one bundle: which attributes
/// are present, what the model predicts, and the ranked discrepancies.
public struct Audit: Sendable {
    /// The engine's presence sources (`SpurEngine.PresenceSource`), ground truth excepted:
    /// the audit ranks the whole vocabulary, which ground-truth columns do not cover.
    public typealias PresenceSource = SpurEngine.PresenceSource

    public var split: Split?
    public var source: PresenceSource
    public var minimumSupport: Int

    public init(split: Split? = .val, source: PresenceSource = .detections(),
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
        /// The audited examples (bundle rows) and, row for row, which attributes are present in them.
        public var rows: [Int]
        public var presence: AttributePresence
        /// The class of each audited example, row for row (empty when not given).
        public var labels: [Int]

        public init(table: DiscrepancyTable, classes: [String], attributes: [String], rows: [Int], presence: AttributePresence,
                    labels: [Int] = []) {
            self.table = table; self.classes = classes; self.attributes = attributes; self.examples = rows.count
            self.rows = rows; self.presence = presence; self.labels = labels
        }
    }

    /// Runs the audit with the given heads (pre-trained for zero-shot, or a run's checkpoint);
    /// `classifier` replaces the heads' class side (a `dfr` or `orth-proj` run).
    public func run(_ bundle: FeatureBundle, heads: ProjectionHeads, classifier: HeadClassifier? = nil) throws -> Result {
        let m = bundle.manifest
        let rows = split.map { bundle.indices(in: $0) } ?? Array(0..<bundle.exampleTable.count)
        guard !rows.isEmpty else {
            throw InputError(file: bundle.directory, field: "split", "'\(split?.rawValue ?? "all")' has no examples")
        }
        let images = try bundle.pooledFeatures(rows: rows)
        let classifier = try classifier ?? HeadClassifier(heads: heads, classTemplates: try bundle.classTemplateFeatures(),
                                                          templateCount: m.templates.count)
        let predictions = classifier.predict(images)
        let excluded = AttributePresence.excludedAttributes(vocabulary: m.attributes, classes: m.classes)
        // The engine's rule: an example's presence does not depend on which
        // split is audited (zero-shot cuts come from the val split), so it
        // matches training's and the UI's.
        let presence = try AttributePresence.compute(bundle: bundle, source: source, heads: heads, excluded: excluded, rows: rows)
        let labels = rows.map { Int(bundle.exampleTable.labels[$0]) }
        let table = DiscrepancyTable.compute(labels: labels, predictions: predictions,
                                             presence: presence, classCount: m.classes.count,
                                             minimumSupport: minimumSupport)
        return Result(table: table, classes: m.classes, attributes: m.attributes, rows: rows, presence: presence, labels: labels)
    }
}
