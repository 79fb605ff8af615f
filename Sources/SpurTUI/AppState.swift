import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The orders of the Attributes table: the audit's own (`detect --sort`
/// takes the same names), the confidence-aware one first.
public typealias AttributeOrder = DiscrepancyTable.Order

extension DiscrepancyTable.Order {
    public var label: String {
        switch self {
        case .evidence: return "evidence (|δ| the data support)"
        case .magnitude: return "|δ|"
        case .delta: return "δ (paper)"
        case .harm: return "−δ (harm)"
        case .support: return "support"
        }
    }
}

public struct AttributesState: Sendable {
    public var classIndex = 0
    public var selected = 0
    public var order = AttributeOrder.evidence
    public var filter = ""
}

/// The editors: the filter, the note form (note and the two `L_ls`
/// phrases), and typed entry of the Train screen's numbers.
public enum TextInput: Sendable {
    case filter(String)
    /// `/` on the Preview and group lists: jumps to the first example whose id contains the text.
    case search(String)
    case note(form: TextForm, className: String, attribute: String)
    case trainSettings(TextForm)
}

/// A small form of one-line fields with a cursor in the focused one.
public struct TextForm: Sendable, Equatable {
    public var labels: [String]
    public var fields: [String]
    public var focus = 0
    /// Cursor position (in characters) within the focused field.
    public var cursor: Int

    public init(labels: [String], fields: [String]) {
        self.labels = labels
        self.fields = fields
        cursor = fields.first?.count ?? 0
    }

    /// Applies an editing key; false when the key is not an editing key.
    public mutating func edit(_ key: Key) -> Bool {
        var text = Array(fields[focus])
        switch key {
        case .tab, .down: focus = (focus + 1) % fields.count; cursor = fields[focus].count; return true
        case .backTab, .up: focus = (focus + fields.count - 1) % fields.count; cursor = fields[focus].count; return true
        case .left: cursor = max(0, cursor - 1)
        case .right: cursor = min(text.count, cursor + 1)
        case .home, .control("a"): cursor = 0
        case .end, .control("e"): cursor = text.count
        case .control("u"): text.removeFirst(cursor); cursor = 0
        case .control("k"): text.removeLast(text.count - cursor)
        case .backspace: if cursor > 0 { text.remove(at: cursor - 1); cursor -= 1 }
        case .delete: if cursor < text.count { text.remove(at: cursor) }
        case .character(let ch): text.insert(ch, at: cursor); cursor += 1
        default: return false
        }
        fields[focus] = String(text)
        return true
    }
}

/// The examples of the Preview list: with the attribute first; detection scores by bundle row.
public struct PreviewList: Sendable {
    public var all: [Int]
    public var withCount: Int
    public var scores: [Int: Float]
}

public struct PreviewState: Sendable {
    public var selected = 0
    public var mapClass: Int?
    public var overlay = true
    public var current: Preview?
}

public struct TrainState: Sendable {
    /// The next run's settings; the engine's rules resolve the rest (`TrainingSettings.build`).
    public var settings = TrainingSettings(method: .oursLS)
    /// nil: the attributes marked spurious (or the bundle's groups); else one vocabulary attribute.
    public var attribute: String?
    public static let learningRates: [Float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    public static let batchSizes = [32, 64, 128, 256]
    public static let weightDecays: [Float] = [0, 1e-5, 1e-4, 1e-3, 1e-2]
    public var method: Method { settings.method }
    public var epochs: Int { settings.base.epochs }
    public var learningRate: Float { settings.base.learningRate }
    public var batchSize: Int { settings.base.batchSize }
    public var weightDecay: Float { settings.base.weightDecay }
    public var optimizer: TrainingConfig.OptimizerKind { settings.base.optimizer }
    public var lossForm: TrainingConfig.LossForm { settings.base.lossForm }
    /// Follows the method (`Method.defaultSampler`, as on the CLI) until `s` changes it.
    public var sampler: TrainingConfig.Sampler { settings.sampler ?? settings.method.defaultSampler }
    /// The official form's absent word of each attribute, as shown and as
    /// the run gets it (filled in by the controller from the verdicts).
    public var absentWords: [String: String] = [:]

    // The run shown (a local one, one followed from another process, or the latest).
    public var runID: Int64?
    public var runMethod: String?
    public var running = false
    /// The run shown was started elsewhere (the CLI) and is followed through the workspace.
    public var external = false
    public var stepLosses: [Float] = []
    public var reports: [EpochReport] = []
    public var stepsPerEpoch = 1
    public var totalEpochs = 0
    public var startedAt: Date?
    /// Set when the run ends: the clock stops there.
    public var finishedAt: Date?
    public var status = "idle"
    /// A run this screen can continue with `R` (interrupted or cancelled).
    public var resumable: Int64?
    /// The epoch row selected in the table (an index of `reports`); nil follows the newest epoch.
    public var epochCursor: Int?

    public var elapsed: TimeInterval? {
        guard let startedAt else { return nil }
        return max(0, (finishedAt ?? Date()).timeIntervalSince(startedAt))
    }

    /// Seconds left at the pace so far (the run may stop earlier: early stopping).
    public var eta: TimeInterval? {
        guard running, let elapsed, !reports.isEmpty, totalEpochs > 0 else { return nil }
        let done = reports.last!.epoch
        guard done > 0 else { return nil }
        return elapsed / Double(done) * Double(max(0, totalEpochs - done))
    }

    public var best: EpochReport? { reports.last { $0.epoch == reports.last?.bestEpoch } ?? reports.filter(\.isBest).last }
}

/// A model screen 4 can show: the pre-trained one or a run's best checkpoint.
public enum ModelChoice: Hashable, Sendable {
    case pretrained
    case run(Int64)
}

/// Which side of the comparison a list picks for.
public enum ModelSide: Sendable { case a, b }

/// One model on the test split.
public struct ModelEvaluation: Sendable {
    public var choice: ModelChoice
    /// The run (nil: the pre-trained model).
    public var run: RunRecord?
    public var metrics: SplitMetrics
    /// The prediction of every test example (test-split order).
    public var predictions: [Int]
    /// A run's classifier (its Grad-CAMs); nil for the pre-trained model.
    public var classifier: HeadClassifier?

    /// "pre-trained", or "run 2 (orth-proj)" with its status when not finished.
    public var name: String {
        guard let r = run else { return "pre-trained" }
        let status = r.isInterrupted ? ", interrupted" : r.status == .finished ? "" : ", \(r.status.rawValue)"
        return "run \(r.id) (\(r.method)\(status))"
    }

    /// "pre-trained" or "run 2": a column title.
    public var shortName: String { run.map { "run \($0.id)" } ?? "pre-trained" }
}

/// What the Groups screen shows: computed off the UI thread in one job.
public struct GroupsSnapshot: Sendable {
    /// The runs that can be compared (with a best checkpoint), oldest first.
    public var runs: [RunRecord]
    /// The test split: bundle rows, labels and group values.
    public var testRows: [Int]
    public var testLabels: [Int]
    public var testValues: [Int]
    public var a: ModelEvaluation
    /// Nil while no run can be compared.
    public var b: ModelEvaluation?
    /// "detected groups by water" / "true groups by water"; nil: class alone.
    public var groupSource: String? = nil
}

public struct GroupsState: Sendable {
    public var snapshot: GroupsSnapshot?
    /// Model A (left); model B (right; nil: the latest finished run).
    public var a = ModelChoice.pretrained
    public var b: ModelChoice?
    public var selected = 0
    public var browsing = false
    /// Positions in the snapshot's test split, misclassified first.
    public var examples: [Int] = []
    public var exampleIndex = 0
    public var mapClass: Int?
    public var overlay = true
    /// The selected example under model A and model B.
    public var previews: (a: Preview?, b: Preview?) = (nil, nil)
    /// The model list is open for this side (Enter picks).
    public var picking: ModelSide?
    public var pickIndex = 0

    public var runs: [RunRecord] { snapshot?.runs ?? [] }
    /// What the model list offers: the pre-trained model, then every comparable run.
    public var choices: [ModelChoice] { [.pretrained] + runs.map { .run($0.id) } }
}
