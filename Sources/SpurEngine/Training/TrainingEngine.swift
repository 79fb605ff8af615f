import Foundation
import SpurCore

/// Runs a `Trainer` on its own thread and publishes its events as an
/// `AsyncStream`; the caller (the UI) never blocks on training and talks to
/// it only through the stream and `cancel()`.
public final class TrainingEngine: @unchecked Sendable {
    // @unchecked: `thread` is set once in `start`; the flag is thread-safe.
    public let events: AsyncStream<TrainingEvent>
    private let continuation: AsyncStream<TrainingEvent>.Continuation
    private let flag = CancellationFlag()
    private var thread: Thread?
    private let ended = DispatchSemaphore(value: 0)

    public init() {
        (events, continuation) = AsyncStream.makeStream(of: TrainingEvent.self, bufferingPolicy: .unbounded)
    }

    /// Starts training. `makeTrainer` runs on the engine's thread too, so
    /// preparing the data does not block the caller either; an error there
    /// arrives as a `.failed` event.
    public func start(_ makeTrainer: @escaping @Sendable () throws -> Trainer) {
        let continuation = self.continuation, flag = self.flag, ended = self.ended
        let t = Thread {
            defer { ended.signal() }
            do {
                let trainer = try makeTrainer()
                _ = try trainer.run(cancel: flag) { continuation.yield($0) }
            } catch {
                continuation.yield(.failed(run: -1, message: "\(error)"))
            }
            continuation.finish()
        }
        t.name = "spurscope-training"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Asks the trainer to stop after its current step; the best checkpoint is kept.
    public func cancel() { flag.cancel() }

    /// Waits up to `seconds` for the training thread to end; true when it has
    /// (or never started). A process must not exit while this thread is inside
    /// BLAS: OpenBLAS's exit handler would wait for it forever.
    public func waitForEnd(seconds: Double) -> Bool {
        guard thread != nil else { return true }
        guard ended.wait(timeout: .now() + seconds) == .success else { return false }
        ended.signal()   // later waits return at once too
        return true
    }
}
