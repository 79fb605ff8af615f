import Foundation
import SpurAudit
import SpurCore
import SpurEngine

public struct AttributesState: Sendable {
    public var classIndex = 0
    public var selected = 0
    public var sortBySupport = false
    public var filter = ""
}

/// The one-line editors: the filter, or the note form (note and the two `L_ls` phrases).
public enum TextInput: Sendable {
    case filter(String)
    case note(fields: [String], focus: Int, className: String, attribute: String)
}

public struct PreviewState: Sendable {
    public var selected = 0
    public var mapClass: Int?
    public var overlay = true
    public var current: Preview?
}

public struct TrainState: Sendable {
    public var methodIndex = Method.allCases.firstIndex(of: .oursLS) ?? 0
    public var epochs = 10
    /// nil: the attributes marked spurious (or the bundle's groups); else one vocabulary attribute.
    public var attribute: String?
    public static let learningRates: [Float] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
    public static let batchSizes = [32, 64, 128, 256]
    public var learningRateIndex = 2
    public var batchSizeIndex = 2
    public var learningRate: Float { Self.learningRates[learningRateIndex] }
    public var batchSize: Int { Self.batchSizes[batchSizeIndex] }
    public var runID: Int64?
    public var running = false
    /// The run shown was started elsewhere (the CLI) and is followed through the workspace.
    public var external = false
    public var stepLosses: [Float] = []
    public var reports: [EpochReport] = []
    public var stepsPerEpoch = 1
    public var totalEpochs = 0
    public var startedAt: Date?
    public var status = "idle"
    public var method: Method { Method.allCases[methodIndex] }
}

public struct GroupsState: Sendable {
    public var runs: [RunRecord] = []
    public var runIndex: Int?
    public var pretrained: SplitMetrics?
    public var run: SplitMetrics?
    public var selected = 0
    public var browsing = false
    public var examples: [Int] = []
    public var exampleIndex = 0
    public var mapClass: Int?
    public var overlay = true
    public var preview: Preview?
}

/// Results of background work, delivered to the UI thread through `Inbox`.
public enum Message: Sendable {
    case preview(Preview, forGroups: Bool)
    case jobFailed(String)
    case engine(TrainingEvent)
    case groups(pretrained: SplitMetrics, run: SplitMetrics?, runs: [RunRecord])
}

/// A thread-safe queue from workers to the UI thread.
public final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [Message] = []
    public init() {}
    public func post(_ m: Message) { lock.lock(); messages.append(m); lock.unlock() }
    public func drain() -> [Message] { lock.lock(); defer { lock.unlock() }; let m = messages; messages = []; return m }
}

/// One background job at a time plus one "latest wins" slot: moving through
/// a list of previews never queues stale work.
public final class JobRunner: @unchecked Sendable {
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "spurscope-jobs")
    private var running = false
    private var pending: (@Sendable () -> Void)?

    public init() {}

    public var busy: Bool { lock.lock(); defer { lock.unlock() }; return running || pending != nil }

    public func submit(_ job: @escaping @Sendable () -> Void) {
        lock.lock()
        if running { pending = job; lock.unlock(); return }
        running = true
        lock.unlock()
        run(job)
    }

    private func run(_ job: @escaping @Sendable () -> Void) {
        queue.async { [self] in
            job()
            lock.lock()
            if let next = pending { pending = nil; lock.unlock(); run(next) } else { running = false; lock.unlock() }
        }
    }
}
