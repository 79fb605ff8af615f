import SpurCore

/// Where the presence of an attribute in an example comes from. One value
/// of this type decides presence for the audit, training, evaluation, the
/// probes and the UI alike.
public enum PresenceSource: Sendable, Equatable {
    /// Detector scores (`detections.safetensors` or `attributes.csv`):
    /// present when the best score of the attribute in the example reaches
    /// its threshold (`overrides` by attribute name, `threshold` for the
    /// rest; nil: the bundle's `detection_threshold`).
    case detections(threshold: Float? = nil, overrides: [String: Float] = [:])
    /// The model's own zero-shot scores: present at or above the attribute's
    /// `quantile` of scores over the val split (all examples without one).
    case zeroShot(quantile: Double)
    /// The bundle's `attr:NAME` columns; a blank cell is unknown.
    case groundTruth

    /// The threshold of bundles whose manifest names none: detection scores
    /// are probabilities, present from an even chance.
    public static let defaultThreshold: Float = BundleManifest.defaultDetectionThreshold

    /// Evaluation's rule: ground truth when the bundle has a column for
    /// every one of `attributes`, detections at `threshold` (nil: the
    /// bundle's) otherwise.
    public static func best(for attributes: [String], in bundle: FeatureBundle,
                            threshold: Float? = nil) -> PresenceSource {
        !attributes.isEmpty && attributes.allSatisfy(bundle.groundTruthAttributes.contains) ? .groundTruth : .detections(threshold: threshold)
    }

    /// The same source with a detection threshold left to the bundle made explicit.
    public func resolved(for bundle: FeatureBundle) -> PresenceSource {
        if case .detections(nil, let o) = self { return .detections(threshold: bundle.manifest.presenceThreshold, overrides: o) }
        return self
    }

    public var isGroundTruth: Bool { self == .groundTruth }

    /// "ground truth", "detections ≥ 0.5", "zero-shot scores".
    /// With the threshold resolved against a bundle: `summary(for:)`.
    public var summary: String {
        switch self {
        case .groundTruth: return "ground truth"
        case .detections(let t, let o):
            return (t.map { "detections ≥ \($0)" } ?? "detections at the bundle's threshold") + (o.isEmpty ? "" : " (\(o.count) per-attribute thresholds)")
        case .zeroShot(let q): return "zero-shot scores above the \(q) quantile"
        }
    }
}

/// Each example's group: its class and the combined value of the grouping
/// attributes (bit `j` set when `attributes[j]` is present), or no group
/// when a value is unknown. The one place that turns a presence source into
/// groups, so an example is in the same group in the audit, a run's
/// training and evaluation, the probes and the UI.
public struct GroupAssignment: Equatable, Sendable {
    public let attributes: [String]
    public let source: PresenceSource
    /// Per example of the bundle (all splits): the combined value, −1 when
    /// any attribute's value is unknown (a blank ground-truth cell).
    public let values: [Int]
    /// Per example of the bundle: the class index.
    public let labels: [Int]

    /// `heads` score attributes for a zero-shot source (default: the
    /// bundle's pre-trained projections); the other sources ignore them.
    public init(bundle b: FeatureBundle, attributes: [String], source: PresenceSource,
                heads: ProjectionHeads? = nil) throws {
        self.attributes = attributes
        self.source = source
        labels = b.examples.map(\.label)
        var values = [Int](repeating: 0, count: b.examples.count)
        switch source {
        case .groundTruth:
            let missing = attributes.filter { !b.groundTruthAttributes.contains($0) }
            guard missing.isEmpty else {
                throw SettingError("groundTruth", "\(b.path(FeatureBundle.examplesFile)) has no ground-truth column for \(missing.map { "attr:\($0)" }.joined(separator: ", "))")
            }
            for (e, example) in b.examples.enumerated() {
                for (j, a) in attributes.enumerated() {
                    guard let x = example.attributes[a] else { values[e] = -1; break }
                    values[e] |= (x == 0 ? 0 : 1) << j
                }
            }
        case .detections, .zeroShot:
            let vocabulary = b.manifest.attributes
            let indices = try attributes.map { a in
                guard let i = vocabulary.firstIndex(of: a) else {
                    let known = "the attribute vocabulary of \(b.path(FeatureBundle.manifestFile)) (\(vocabulary.joined(separator: ", ")))"
                    throw SettingError("attributes", b.groundTruthAttributes.contains(a)
                        ? "'\(a)' is a ground-truth column but not in \(known), so it has no detections: group by ground truth"
                        : "'\(a)' is neither in \(known) nor a ground-truth column (attr:\(a) in \(b.path(FeatureBundle.examplesFile)))")
                }
                return i
            }
            let wanted = Set(indices)
            let presence = try AttributePresence.compute(bundle: b, source: source, heads: heads,
                                                         excluded: Set(vocabulary.indices).subtracting(wanted))
            for e in 0..<b.examples.count {
                let present = presence.present(in: e)
                for (j, i) in indices.enumerated() where present.contains(Int32(i)) { values[e] |= 1 << j }
            }
        }
        self.values = values
    }

    /// Distinct combined values: `2^J`, or 1 with no attribute.
    public var valueCount: Int { 1 << attributes.count }

    public func group(of example: Int) -> GroupAccuracy.Group? {
        values[example] < 0 ? nil : GroupAccuracy.Group(label: labels[example], value: values[example])
    }

    /// The examples among `rows` in group `g`, in the order of `rows`.
    public func members(of g: GroupAccuracy.Group, among rows: [Int]) -> [Int] {
        rows.filter { group(of: $0) == g }
    }

    /// Accuracy per group of `predictions`, one per example of `rows`.
    public func accuracy(predictions: [Int], rows: [Int]) -> GroupAccuracy {
        GroupAccuracy(labels: rows.map { labels[$0] }, predictions: predictions, values: rows.map { values[$0] })
    }

    /// "water" / "no water", or "water, no boat" with several attributes; "all" with none.
    public static func valueName(_ v: Int, attributes: [String]) -> String {
        if attributes.isEmpty { return "all" }
        return attributes.enumerated().map { j, a in (v >> j) & 1 == 1 ? a : "no \(a)" }.joined(separator: ", ")
    }

    public func valueName(_ v: Int) -> String { Self.valueName(v, attributes: attributes) }

    /// The spurious attributes of a run when none are given: the ones
    /// marked spurious (oldest mark first), else the bundle's benchmark
    /// groups (manifest `groups`, else its first ground-truth column).
    public static func runAttributes(given: [String], decisions: [Decision], bundle: FeatureBundle) -> [String] {
        if !given.isEmpty { return given }
        let marked = Decision.spuriousAttributes(decisions)
        return marked.isEmpty ? bundle.groupAttributes : marked
    }
}

extension AttributePresence {
    /// Presence of every vocabulary attribute (less `excluded`) in the
    /// bundle's examples `rows` (default: all), renumbered `0..<rows.count`,
    /// from a detector or zero-shot source. A zero-shot cut is taken over
    /// the val split (all examples when it is empty), so an example's
    /// presence is the same whichever rows are asked for.
    public static func compute(bundle b: FeatureBundle, source: PresenceSource, heads: ProjectionHeads? = nil,
                               excluded: Set<Int> = [], rows: [Int]? = nil) throws -> AttributePresence {
        let m = b.manifest
        switch source {
        case .detections(let threshold, let overrides):
            var perAttribute: [Int: Float] = [:]
            for (name, t) in overrides {
                guard let i = m.attributes.firstIndex(of: name) else {
                    throw SettingError("attributeThresholds", "'\(name)' is not in the attribute vocabulary of \(b.path(FeatureBundle.manifestFile))")
                }
                perAttribute[i] = t
            }
            let all = fromDetections(b.detectionTable, attributeCount: m.attributes.count,
                                     threshold: threshold ?? m.presenceThreshold, perAttribute: perAttribute, excluded: excluded)
            return rows.map { all.restricted(to: $0) } ?? all
        case .zeroShot(let quantile):
            let prompts = try b.textFeatures(for: m.attributes.map(Self.zeroShotPrompt))
            let val = b.indices(in: .val)
            let reference = val.isEmpty ? Array(b.examples.indices) : val
            let wanted = rows ?? Array(b.examples.indices)
            return zeroShot(heads: try heads ?? b.pretrainedHeads(), images: try b.pooledFeatures(rows: wanted),
                            reference: try b.pooledFeatures(rows: reference), attributePrompts: prompts,
                            quantile: quantile, excluded: excluded)
        case .groundTruth:
            throw SettingError("presence", "ground truth gives values for the bundle's attr: columns only, not for the whole attribute vocabulary: use detections or zero-shot scores")
        }
    }

    /// The prompt that scores an attribute zero-shot.
    public static func zeroShotPrompt(_ attribute: String) -> String { CLIPTemplates.wordPrompt(attribute) }
}
