import Foundation
import SpurCore

/// What the trainer reports while it runs. The UI subscribes to these; the
/// CLI prints them; the workspace gets the same facts for other processes.
public enum TrainingEvent: Sendable {
    case started(run: Int64, epochs: Int, stepsPerEpoch: Int, resumedAt: Int)
    case step(epoch: Int, step: Int, loss: Float)
    case evaluated(EpochReport)
    /// SFR's instance weights are ready (before the first step).
    case sfrWeights(SFRWeightSummary)
    case finished(RunOutcome)
    case cancelled(RunOutcome)
    case failed(run: Int64, message: String)
}

public struct EpochReport: Codable, Equatable, Sendable {
    public var epoch: Int          // 1-based: evaluations happen after each epoch
    public var step: Int
    public var trainLoss: Double
    public var validation: SplitMetrics
    public var isBest: Bool
    public var bestEpoch: Int
    public var seconds: Double
}

public struct RunOutcome: Codable, Equatable, Sendable {
    public var run: Int64
    public var epochsDone: Int
    public var best: ModelSelection.Candidate?
    public var bestCheckpoint: String?
}

/// A flag the UI or a signal handler sets and the trainer polls between steps.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    public init() {}
    public func cancel() { lock.lock(); set = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return set }
}
