import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The Train screen's handlers: settings, the local engine, and the run
/// shown from the workspace (followed, finished, interrupted).
extension App {
    /// The next or previous value of a ladder (from the nearest rung when the value was typed).
    func step<T: Comparable>(_ ladder: [T], _ value: T, up: Bool) -> T {
        if up { return ladder.first { $0 > value } ?? ladder.last! }
        return ladder.last { $0 < value } ?? ladder.first!
    }

    func settingsEditable() -> Bool {
        guard train.running && !train.external else { return true }
        banner = "Settings apply to the next run: this one is training (x cancels it)."
        return false
    }

    /// Typed epochs, learning rate, batch size and weight decay: all or none applied.
    func applyTyped(_ fields: [String]) -> String? {
        let t = fields.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let epochs = Int(t[0]), (1...100_000).contains(epochs) else { return "epochs: '\(t[0])' is not a whole number from 1 to 100000" }
        guard let lr = Float(t[1]), lr.isFinite, lr > 0 else { return "learning rate: '\(t[1])' is not a number above 0" }
        guard let batch = Int(t[2]), batch >= 1 else { return "batch size: '\(t[2])' is not a whole number ≥ 1" }
        guard let wd = Float(t[3]), wd.isFinite, wd >= 0 else { return "weight decay: '\(t[3])' is not a number ≥ 0" }
        train.epochs = epochs; train.learningRate = lr; train.batchSize = batch; train.weightDecay = wd
        return nil
    }

    public func trainingAttributes() -> [String] {
        GroupAssignment.runAttributes(given: train.attribute.map { [$0] } ?? [], decisions: Array(decisions.values), bundle: model.bundle)
    }

    public func trainingConfig() -> TrainingConfig {
        var config = TrainingConfig(method: train.method)
        config.attributes = train.method == .zeroshot ? [] : trainingAttributes()
        config.epochs = train.epochs
        config.learningRate = train.learningRate
        config.batchSize = train.batchSize
        config.weightDecay = train.weightDecay
        config.optimizer = train.optimizer
        config.sampler = train.sampler
        config.lossForm = train.lossForm
        // As on the CLI, the official form starts from τ = 0.07.
        if train.method.hasLossForm && train.lossForm == .official { config.initialTemperature = 0.07 }
        return config
    }

    func startTraining() {
        guard !(train.running && !train.external) else { banner = "A run is already going (x cancels it)."; return }
        let config = trainingConfig()
        do { try config.check() } catch { banner = "\(error)"; return }
        let bundle = model.bundle, workspace = model.workspace
        launch(method: config.method.rawValue) { try Trainer.create(bundle: bundle, config: config, workspace: workspace) }
    }

    func resumeRun() {
        guard !(train.running && !train.external) else { banner = "A run is already going (x cancels it)."; return }
        guard let id = train.resumable else { banner = "R: the run shown is not interrupted or cancelled"; return }
        let bundle = model.bundle, workspace = model.workspace
        launch(method: train.runMethod ?? "") { try Trainer.resume(bundle: bundle, run: id, workspace: workspace) }
    }

    fileprivate func launch(method: String, _ make: @escaping @Sendable () throws -> Trainer) {
        let engine = TrainingEngine()
        self.engine = engine
        localRun = nil
        train.runID = nil; train.runMethod = method
        train.reports = []; train.stepLosses = []; train.totalEpochs = 0; train.tableTop = nil
        train.running = true; train.external = false; train.resumable = nil
        train.status = "starting…"
        train.startedAt = Date(); train.finishedAt = nil
        let inbox = self.inbox
        engine.start(make)
        Task.detached { for await e in engine.events { inbox.post(.engine(e)) } }
    }

    func applyEngine(_ e: TrainingEvent) {
        switch e {
        case .started(let run, let epochs, let steps, _):
            localRun = run
            train.runID = run; train.totalEpochs = epochs; train.stepsPerEpoch = max(1, steps); train.status = "running"
        case .step(_, _, let loss):
            train.stepLosses.append(loss)
        case .evaluated(let r):
            train.reports.removeAll { $0.epoch >= r.epoch }
            train.reports.append(r)
        case .sfrWeights(let summary):
            train.status = "running; " + summary.description
        case .finished:
            endLocalRun(status: "finished")
        case .cancelled(let o):
            endLocalRun(status: "cancelled after \(o.epochsDone) epochs (best checkpoint kept; R resumes)")
            train.resumable = o.run
        case .failed(_, let message):
            endLocalRun(status: "failed")
            banner = message
        }
    }

    func endLocalRun(status: String) {
        train.running = false
        train.finishedAt = Date()
        train.status = status
        if groups.snapshot != nil { loadGroups() }   // the Groups screen shows the new run
    }

    func applyWorkspace(_ w: WorkspaceSnapshot) {
        let fresh = Dictionary(w.decisions.map { ("\($0.className)\u{1}\($0.attribute)", $0) }, uniquingKeysWith: { $1 })
        if fresh != decisions {
            decisions = fresh
            if projection != nil || fresh.values.contains(where: { $0.verdict == .spurious }) { loadProjection() }
        }
        // A new comparable run (finished elsewhere) refreshes the Groups table.
        if let s = groups.snapshot, !groupJobs.busy {
            let comparable = w.runs.filter { ($0.status != .running || $0.isInterrupted) && $0.bestCheckpoint != nil }.map(\.id)
            if comparable != s.runs.map(\.id) { loadGroups() }
        }
        // While a local run trains (or just trained), its events own the Train screen.
        if train.running && !train.external { return }
        guard let r = w.shown else { return }
        if r.id == localRun && r.status != .running { return }
        let me = Int(getpid())
        train.runID = r.id
        train.runMethod = r.method
        train.reports = w.shownEpochs
        train.stepLosses = w.shownEpochs.map { Float($0.trainLoss) }
        if let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(r.config.utf8)) {
            train.totalEpochs = config.method == .zeroshot ? 0 : config.method.replacesClassifier ? 1 : config.epochs
        }
        train.startedAt = r.createdAt
        let live = r.status == .running && !r.isInterrupted && r.pid != me
        train.running = live
        train.external = live
        // The clock stops at the run's last update once it is not live.
        train.finishedAt = live ? nil : r.updatedAt
        train.resumable = r.isInterrupted || r.status == .cancelled ? r.id : nil
        switch r.status {
        case .running where live: train.status = "following run \(r.id) (\(r.method)) from another process"
        case .running: train.status = "interrupted: its process is gone (R resumes)"
        case .finished: train.status = "finished"
        case .cancelled: train.status = "cancelled (R resumes)"
        case .failed: train.status = "failed: " + r.message
        }
    }
}
