import Foundation
import SpurCore

/// Mini-batch training of the projections over cached features.
///
/// Deterministic for a seed: every random stream is derived from the seed,
/// the purpose and the epoch, so a run resumed from its last checkpoint
/// replays exactly what the uninterrupted run would have done.
public final class Trainer {
    public let bundle: FeatureBundle
    public let config: TrainingConfig
    public let data: TrainingData
    public let workspace: Workspace
    public let runID: Int64
    public let directory: String

    public var bestCheckpointPath: String { directory + "/best.safetensors" }
    public var lastCheckpointPath: String { directory + "/last.safetensors" }

    init(bundle: FeatureBundle, config: TrainingConfig, data: TrainingData, workspace: Workspace, runID: Int64) {
        self.bundle = bundle
        self.config = config
        self.data = data
        self.workspace = workspace
        self.runID = runID
        directory = workspace.runDirectory(runID)
    }

    /// A new run, recorded in the workspace before anything trains.
    public static func create(bundle: FeatureBundle, config: TrainingConfig, workspace: Workspace) throws -> Trainer {
        try config.check()
        let data = try TrainingData.prepare(bundle: bundle, config: config, decisions: try workspace.currentDecisions())
        let json = String(decoding: try JSONEncoder.sortedKeys.encode(config), as: UTF8.self)
        let id = try workspace.createRun(method: config.method.rawValue, config: json, pid: Int(getpid()))
        let t = Trainer(bundle: bundle, config: config, data: data, workspace: workspace, runID: id)
        try FileManager.default.createDirectory(atPath: t.directory, withIntermediateDirectories: true)
        return t
    }

    /// An existing run, to be continued from its last checkpoint.
    public static func resume(bundle: FeatureBundle, run id: Int64, workspace: Workspace) throws -> Trainer {
        guard let record = try workspace.run(id) else {
            throw SettingError("resume", "run \(id) is not in the workspace \(workspace.path)")
        }
        guard record.status != .finished else {
            throw SettingError("resume", "run \(id) has already finished")
        }
        let config = try JSONDecoder().decode(TrainingConfig.self, from: Data(record.config.utf8))
        let data = try TrainingData.prepare(bundle: bundle, config: config, decisions: try workspace.currentDecisions())
        try workspace.updateRun(id, status: .running, message: "", pid: Int(getpid()))
        return Trainer(bundle: bundle, config: config, data: data, workspace: workspace, runID: id)
    }

    public var stepsPerEpoch: Int { (data.train.rows.count + config.batchSize - 1) / config.batchSize }

    // MARK: the loop

    public func run(cancel: CancellationFlag = CancellationFlag(), emit: (TrainingEvent) -> Void = { _ in }) throws -> RunOutcome {
        do {
            return try loop(cancel: cancel, emit: emit)
        } catch {
            try? workspace.updateRun(runID, status: .failed, message: "\(error)")
            emit(.failed(run: runID, message: "\(error)"))
            throw error
        }
    }

    private func loop(cancel: CancellationFlag, emit: (TrainingEvent) -> Void) throws -> RunOutcome {
        let saved = try Checkpoint.readIfPresent(lastCheckpointPath, like: data.pretrained)
        var heads = saved?.heads ?? data.pretrained
        if saved == nil, let τ = config.initialTemperature { heads.logitScale = logf(1 / τ) }
        var optimizer: any Optimizer = config.optimizer == .sgd
            ? SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
            : Adam(learningRate: config.learningRate, weightDecay: config.weightDecay)
        if let saved { optimizer.restore(saved.optimizerState, like: heads) }
        var selection = saved?.selection ?? ModelSelection(patience: config.patience)
        let groups = trainGroups()
        let method = config.method.definition
        let hooks = methodHooks(groups: groups)
        if let state = saved?.methodState { hooks.restore(checkpointState: state) }
        let startEpoch = saved?.epochsDone ?? 0
        emit(.started(run: runID, epochs: config.plannedEpochs, stepsPerEpoch: stepsPerEpoch, resumedAt: startEpoch))

        switch method.training {
        case .none:
            let report = try evaluate(heads, epoch: 0, step: 0, loss: 0, selection: &selection, seconds: 0)
            emit(.evaluated(report))
            return try finish(selection: selection, epochsDone: 0, emit: emit, cancelled: false)
        case .replacesClassifier:
            // One "epoch": build the class side, evaluate, keep it.
            let started = Date()
            guard let classSide = method as? any ClassSideMethod else {
                preconditionFailure("\(config.method.rawValue) replaces the classifier but is no ClassSideMethod")
            }
            let (classifier, note) = try classSide.classifier(data: data, config: config)
            let report = try evaluate(heads, classifier: classifier, epoch: 1, step: 0, loss: 0, selection: &selection,
                                      seconds: Date().timeIntervalSince(started))
            emit(.evaluated(report))
            return try finish(selection: selection, epochsDone: 1, emit: emit, cancelled: false, message: note)
        case .projections:
            break
        }

        hooks.begin(emit: emit)
        var step = startEpoch * stepsPerEpoch
        for epoch in startEpoch..<config.epochs {
            let started = Date()
            let order = batchOrder(epoch: epoch, groups: groups)
            var rng = SeededGenerator(seed: config.seed, purpose: "steps-epoch-\(epoch)")
            var lossSum = 0.0
            for s in 0..<stepsPerEpoch {
                if cancel.isCancelled {
                    return try finish(selection: selection, epochsDone: epoch, emit: emit, cancelled: true)
                }
                let idx = Array(order[(s * config.batchSize) ..< min(order.count, (s + 1) * config.batchSize)])
                let batch = makeBatch(idx, hooks: hooks, rng: &rng)
                var objective = Objective(terms: config.method.terms, originalHeads: data.pretrained,
                                          form: config.method.hasLossForm ? config.lossForm : .paper)
                for t in objective.terms { objective.weights[t] = config.lambda(t) }
                hooks.weigh(&objective, batch: batch, indices: idx, heads: heads, epoch: epoch)
                let result = objective.evaluate(heads, on: batch)
                optimizer.step(&heads, gradients: result.gradients)
                lossSum += Double(result.total)
                step += 1
                if let diverged = TrainingDiverged.check(loss: result.total, heads: heads, epoch: epoch + 1, step: step, config: config) {
                    throw diverged   // run() records the run as failed and emits .failed
                }
                emit(.step(epoch: epoch + 1, step: step, loss: result.total))
            }
            let report = try evaluate(heads, epoch: epoch + 1, step: step, loss: lossSum / Double(stepsPerEpoch),
                                      selection: &selection, seconds: Date().timeIntervalSince(started))
            try Checkpoint(heads: heads, optimizerState: optimizer.state, selection: selection, methodState: hooks.checkpointState,
                           epochsDone: epoch + 1).write(to: lastCheckpointPath)
            emit(.evaluated(report))
            if selection.shouldStop { return try finish(selection: selection, epochsDone: epoch + 1, emit: emit, cancelled: false) }
        }
        return try finish(selection: selection, epochsDone: config.epochs, emit: emit, cancelled: false)
    }

    /// The method's additions to this loop, fresh for one pass over the run.
    func methodHooks(groups: [Int]? = nil) -> any TrainingHooks {
        let groups = groups ?? trainGroups()
        return config.method.definition.hooks(TrainingRunContext(config: config, data: data, groups: groups,
                                                                 groupCounts: groupCounts(groups)))
    }

    private func evaluate(_ heads: ProjectionHeads, classifier: HeadClassifier? = nil, epoch: Int, step: Int, loss: Double,
                          selection: inout ModelSelection, seconds: Double) throws -> EpochReport {
        let metrics = try Evaluation.metrics(classifier ?? Evaluation.classifier(heads, data: data), data: data, split: data.val)
        let isBest = selection.offer(epoch: epoch, worstGroup: metrics.worstGroup, average: metrics.average)
        if isBest {
            try Checkpoint(heads: heads, optimizerState: [:], selection: selection, methodState: nil, epochsDone: epoch,
                           classifier: classifier)
                .write(to: bestCheckpointPath)
            try workspace.updateRun(runID, bestEpoch: epoch, bestCheckpoint: bestCheckpointPath)
        }
        let report = EpochReport(epoch: epoch, step: step, trainLoss: loss, validation: metrics, isBest: isBest,
                                 bestEpoch: selection.best?.epoch ?? epoch, seconds: seconds)
        try workspace.recordEpoch(run: runID, epoch: epoch, step: step, trainLoss: loss,
                                  metrics: String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
        return report
    }

    private func finish(selection: ModelSelection, epochsDone: Int, emit: (TrainingEvent) -> Void, cancelled: Bool,
                        message: String = "") throws -> RunOutcome {
        let outcome = RunOutcome(run: runID, epochsDone: epochsDone, best: selection.best,
                                 bestCheckpoint: selection.best == nil ? nil : bestCheckpointPath)
        try workspace.updateRun(runID, status: cancelled ? .cancelled : .finished,
                                message: cancelled ? "cancelled after \(epochsDone) epochs" : message)
        emit(cancelled ? .cancelled(outcome) : .finished(outcome))
        return outcome
    }
}
