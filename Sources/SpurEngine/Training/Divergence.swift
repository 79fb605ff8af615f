import SpurCore

/// A run whose loss or weights stopped being finite numbers. Training on
/// cannot bring them back, and a checkpoint of them would poison every
/// command that reads it, so the run stops as failed instead.
public struct TrainingDiverged: Error, CustomStringConvertible, Equatable, Sendable {
    public var epoch: Int
    public var step: Int
    /// What went non-finite: "the loss is nan", "W_v holds inf", …
    public var what: String
    public var learningRate: Float
    public var optimizer: TrainingConfig.OptimizerKind

    public var description: String {
        "training diverged at epoch \(epoch), step \(step): \(what). Lower the learning rate "
            + "(this run used \(learningRate) with \(optimizer.rawValue)) and train again; checkpoints saved before this step are kept"
    }

    /// Nil while the step's loss and the updated weights are all finite.
    /// Both are checked: a non-finite weight can leave the loss looking
    /// finite (NaN embeddings end up as uniform probabilities, loss ln C).
    static func check(loss: Float, heads: ProjectionHeads, epoch: Int, step: Int, config: TrainingConfig) -> TrainingDiverged? {
        let what: String
        if !loss.isFinite {
            what = "the loss is \(loss)"
        } else if let bad = heads.firstNonFinite {
            what = "\(bad.tensor) holds \(bad.value) after the update"
        } else {
            return nil
        }
        return TrainingDiverged(epoch: epoch, step: step, what: what, learningRate: config.learningRate, optimizer: config.optimizer)
    }
}
