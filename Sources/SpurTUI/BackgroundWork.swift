import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// What crosses between the UI thread and the work it starts: the messages
// background jobs post, the inbox the UI drains each frame, the job runner
// and the ordered queue of workspace writes.

/// The workspace as last read (off the UI thread, about once a second).
public struct WorkspaceSnapshot: Sendable {
    public var decisions: [Decision]
    public var runs: [RunRecord]
    /// The run the Train screen should show when no local run trains: a live
    /// one from another process, else the one shown, else the latest.
    public var shown: RunRecord?
    public var shownEpochs: [EpochReport]
}

/// Results of background work, delivered to the UI thread through `Inbox`.
public enum Message: Sendable {
    case preview(Preview)
    case groupsPreview(a: Preview, b: Preview?)
    case jobFailed(String)
    case engine(TrainingEvent)
    case groups(GroupsSnapshot)
    /// `generation`: the UI's write count when the read was asked for.
    case workspace(WorkspaceSnapshot, generation: Int)
    case projection(key: String, OrthogonalProjection.Preview)
    case projectionFailed(key: String, String)
    /// A workspace write is done (`generation`: the writes submitted so far when it finished).
    case written(WriteResult, generation: Int)
}

/// What a workspace write reports back to the UI thread.
public enum WriteResult: Sendable {
    case saved(Decision, banner: String, marked: Bool)
    case banner(String)
}

/// A thread-safe queue from workers to the UI thread.
public final class Inbox: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [Message] = []
    public init() {}
    public func post(_ m: Message) { lock.lock(); messages.append(m); lock.unlock() }
    public func drain() -> [Message] { lock.lock(); defer { lock.unlock() }; let m = messages; messages = []; return m }
    public var isEmpty: Bool { lock.lock(); defer { lock.unlock() }; return messages.isEmpty }
}

/// One kind of background job: one running at a time plus one "latest
/// wins" slot, so moving through a list of previews never queues stale work.
/// Each kind has its own runner, so a preview request cannot drop a pending
/// groups evaluation.
public final class JobRunner: @unchecked Sendable {
    private let lock = NSLock()
    private let queue: DispatchQueue
    private var running = false
    private var pending: (@Sendable () -> Void)?

    public init(_ name: String) { queue = DispatchQueue(label: "spurscope-\(name)") }

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

/// Workspace writes, in the order they were made, off the UI thread; every
/// one runs (unlike `JobRunner`, which keeps only the latest request).
public final class WriteQueue: @unchecked Sendable {
    private let lock = NSLock()
    private let queue = DispatchQueue(label: "spurscope-workspace-writes")
    private var queued = 0

    public init() {}

    public var busy: Bool { lock.lock(); defer { lock.unlock() }; return queued > 0 }

    public func submit(_ job: @escaping @Sendable () -> Void) {
        lock.lock(); queued += 1; lock.unlock()
        queue.async { [self] in
            job()
            lock.lock(); queued -= 1; lock.unlock()
        }
    }
}
