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

/// How SFR's disagreements and weights spread over the training set: a
/// reference that barely moved makes every `d ≈ 0` and every weight ≈ 1.
public struct SFRWeightSummary: Codable, Equatable, Sendable {
    public var weighting: TrainingConfig.SFRWeighting
    /// Quantiles 0, 0.1, 0.5, 0.9, 1 of `d`.
    public var disagreement: [Float]
    public var weightMin: Float
    public var weightMax: Float

    public init(disagreement d: [Float], weights: [Float], weighting: TrainingConfig.SFRWeighting) {
        let sorted = d.sorted()
        disagreement = [0, 0.1, 0.5, 0.9, 1].map { sorted[Int((Double(sorted.count - 1) * $0).rounded())] }
        weightMin = weights.min() ?? 0
        weightMax = weights.max() ?? 0
        self.weighting = weighting
    }

    public var description: String {
        let q = disagreement.map { String(format: "%.3f", $0) }
        return "SFR disagreement d: min \(q[0]), 10% \(q[1]), median \(q[2]), 90% \(q[3]), max \(q[4]); "
            + String(format: "weights (%@) %.3f…%.3f", weighting.rawValue, weightMin, weightMax)
    }
}

/// A flag the UI or a signal handler sets and the trainer polls between steps.
public final class CancellationFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    public init() {}
    public func cancel() { lock.lock(); set = true; lock.unlock() }
    public var isCancelled: Bool { lock.lock(); defer { lock.unlock() }; return set }
}

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
        var dro = GroupDROWeights(groups: data.classes.count * data.valueCount, counts: groupCounts(groups),
                                  stepSize: Double(config.groupStepSize), adjustment: Double(config.groupAdjustment))
        if let q = saved?.groupWeights, q.count == dro.q.count { dro.q = q }
        let startEpoch = saved?.epochsDone ?? 0
        emit(.started(run: runID, epochs: config.method == .zeroshot ? 0 : config.method.replacesClassifier ? 1 : config.epochs,
                      stepsPerEpoch: stepsPerEpoch, resumedAt: startEpoch))

        if config.method == .zeroshot {
            let report = try evaluate(heads, epoch: 0, step: 0, loss: 0, selection: &selection, seconds: 0)
            emit(.evaluated(report))
            return try finish(selection: selection, epochsDone: 0, emit: emit, cancelled: false)
        }
        if config.method.replacesClassifier {
            // One "epoch": build the class side (ClassifierMethods.swift), evaluate, keep it.
            let started = Date()
            let (classifier, note) = try replacementClassifier()
            let report = try evaluate(heads, classifier: classifier, epoch: 1, step: 0, loss: 0, selection: &selection,
                                      seconds: Date().timeIntervalSince(started))
            emit(.evaluated(report))
            return try finish(selection: selection, epochsDone: 1, emit: emit, cancelled: false, message: note)
        }

        var exampleWeights: [Float]?
        if config.method == .sfr {
            let (d, w) = sfrWeights()
            exampleWeights = w
            emit(.sfrWeights(SFRWeightSummary(disagreement: d, weights: w, weighting: config.sfrWeight)))
        }
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
                let batch = makeBatch(idx, groups: groups, rng: &rng)
                var objective = Objective(terms: config.method.terms, originalHeads: data.pretrained,
                                          form: config.method.hasLossForm ? config.lossForm : .paper)
                for t in objective.terms { objective.weights[t] = config.lambda(t) }
                if config.method == .starFT { objective.weights[.star] = config.starWeight(epoch: epoch) }
                if config.method == .groupDRO {
                    // Algorithm 1: update q from this batch's group losses, then
                    // descend on Σ_g q_g L_g.
                    // The losses need only the forward pass: no gradient is computed twice.
                    let logProb = HeadClassifier(heads: heads, classTemplates: batch.classTemplates,
                                                 templateCount: batch.templateCount).logits(batch.images).logSoftmaxRows()
                    let perExample = batch.labels.enumerated().map { -logProb[$0.offset, $0.element] }
                    let batchGroups = idx.map { groups[$0] }
                    dro.update(groupLosses: GroupDROWeights.groupLosses(perExample: perExample, groups: batchGroups))
                    let w = dro.exampleWeights(groups: batchGroups)
                    objective.exampleWeights = w
                    objective.weights[.ce] = w.reduce(0, +)
                } else if let exampleWeights {
                    objective.exampleWeights = idx.map { exampleWeights[$0] }
                }
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
            try Checkpoint(heads: heads, optimizerState: optimizer.state, selection: selection, groupWeights: dro.q,
                           epochsDone: epoch + 1).write(to: lastCheckpointPath)
            emit(.evaluated(report))
            if selection.shouldStop { return try finish(selection: selection, epochsDone: epoch + 1, emit: emit, cancelled: false) }
        }
        return try finish(selection: selection, epochsDone: config.epochs, emit: emit, cancelled: false)
    }

    private func evaluate(_ heads: ProjectionHeads, classifier: HeadClassifier? = nil, epoch: Int, step: Int, loss: Double,
                          selection: inout ModelSelection, seconds: Double) throws -> EpochReport {
        let metrics = try Evaluation.metrics(classifier ?? Evaluation.classifier(heads, data: data), data: data, split: data.val)
        let isBest = selection.offer(epoch: epoch, worstGroup: metrics.worstGroup, average: metrics.average)
        if isBest {
            try Checkpoint(heads: heads, optimizerState: [:], selection: selection, groupWeights: nil, epochsDone: epoch,
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

    // MARK: batches

    /// Training group of each training example: class × attribute value, or
    /// the class alone when the value is unknown.
    func trainGroups() -> [Int] {
        zip(data.train.labels, data.train.values).map { y, v in v < 0 ? -1 : y * data.valueCount + v }
    }

    func groupCounts(_ groups: [Int]) -> [Int] {
        var c = [Int](repeating: 0, count: data.classes.count * data.valueCount)
        for g in groups where g >= 0 { c[g] += 1 }
        return c
    }

    /// The epoch's example order: a shuffle, or group-balanced draws with
    /// replacement (each example weighted 1 / its group's size).
    func batchOrder(epoch: Int, groups: [Int]) -> [Int] {
        var rng = SeededGenerator(seed: config.seed, purpose: "order-epoch-\(epoch)")
        let n = data.train.rows.count
        switch config.sampler {
        case .natural:
            var order = Array(0..<n)
            order.shuffle(using: &rng)
            return order
        case .groupBalanced:
            // Unknown values are grouped by class alone.
            let keys = zip(groups, data.train.labels).map { g, y in g >= 0 ? g : -1 - y }
            var members: [Int: [Int]] = [:]
            for (i, k) in keys.enumerated() { members[k, default: []].append(i) }
            let groupKeys = members.keys.sorted()
            return (0..<n).map { _ in
                let k = groupKeys[Int(rng.next() % UInt64(groupKeys.count))]
                let m = members[k]!
                return m[Int(rng.next() % UInt64(m.count))]
            }
        }
    }

    func makeBatch(_ idx: [Int], groups: [Int], rng: inout SeededGenerator) -> LossBatch {
        let k = data.templateCount
        var images = data.train.images.gatherRows(idx)
        if config.method == .sfr && config.sfrDropout > 0 {
            // Inverted dropout on the pooled feature before W_v.
            let keep = 1 - config.sfrDropout
            for i in images.storage.indices {
                images.storage[i] = Double(rng.next() >> 11) * 0x1p-53 < Double(keep) ? images.storage[i] / keep : 0
            }
        }
        let labels = idx.map { data.train.labels[$0] }
        // Each example's caption: a template drawn uniformly, filled with its class.
        let captionRows = labels.map { $0 * k + Int(rng.next() % UInt64(k)) }
        var batch = LossBatch(images: images, labels: labels, attributes: idx.map { data.train.values[$0] },
                              captions: data.classTemplates.gatherRows(captionRows),
                              classTemplates: data.classTemplates, groupTemplates: data.groupTemplates,
                              classCount: data.classes.count, templateCount: k)
        batch.attributeValues = data.valueCount
        if config.templatesPerStep > 0 && config.templatesPerStep < k {
            var chosen = Array(0..<k)
            chosen.shuffle(using: &rng)
            chosen = Array(chosen.prefix(config.templatesPerStep)).sorted()
            let blocks = data.groupTemplates.rows / k
            batch.classTemplates = data.classTemplates.gatherRows((0..<data.classes.count).flatMap { c in chosen.map { c * k + $0 } })
            batch.groupTemplates = data.groupTemplates.gatherRows((0..<blocks).flatMap { b in chosen.map { b * k + $0 } })
            batch.templateCount = chosen.count
        }
        if config.method == .starFT {
            // The example's own caption with a context drawn from the pool.
            let m = data.starContextCount
            batch.spuriousCaptions = data.spuriousCaptions.gatherRows(captionRows.map { $0 * m + Int(rng.next() % UInt64(m)) })
        }
        if data.attributePrompts.rows > 0 { batch.attributePrompts = data.attributePrompts }
        return batch
    }


    // MARK: SFR

    /// Instance weights from the disagreement between the zero-shot model
    /// and a short ERM reference: `d_i = ½ Σ_y |p_zs − p_ref|`,
    /// `w_i ∝ 1/(d_i + ε)` (default) or `exp(γ d_i)`, normalised to mean 1.
    /// Returns the disagreements and the weights.
    func sfrWeights() -> (disagreement: [Float], weights: [Float]) {
        var reference = data.pretrained
        var sgd = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
        let n = data.train.rows.count
        for epoch in 0..<config.sfrReferenceEpochs {
            var rng = SeededGenerator(seed: config.seed, purpose: "sfr-reference-\(epoch)")
            var order = Array(0..<n)
            order.shuffle(using: &rng)
            for s in stride(from: 0, to: n, by: config.batchSize) {
                let idx = Array(order[s..<min(n, s + config.batchSize)])
                let batch = LossBatch(images: data.train.images.gatherRows(idx), labels: idx.map { data.train.labels[$0] },
                                      attributes: idx.map { _ in -1 }, captions: Matrix(rows: idx.count, cols: data.classTemplates.cols),
                                      classTemplates: data.classTemplates, groupTemplates: data.groupTemplates,
                                      classCount: data.classes.count, templateCount: data.templateCount)
                sgd.step(&reference, gradients: Objective(terms: [.ce]).evaluate(reference, on: batch).gradients)
            }
        }
        func probabilities(_ h: ProjectionHeads) -> Matrix {
            let logits = HeadClassifier(heads: h, classTemplates: data.classTemplates, templateCount: data.templateCount)
                .logits(data.train.images).logSoftmaxRows()
            return Matrix(rows: logits.rows, cols: logits.cols, storage: logits.storage.map(expf))
        }
        let p0 = probabilities(data.pretrained), p1 = probabilities(reference)
        let d = (0..<n).map { i in 0.5 * (0..<p0.cols).reduce(Float(0)) { $0 + abs(p0[i, $1] - p1[i, $1]) } }
        return (d, Self.sfrWeights(disagreement: d, weighting: config.sfrWeight, gamma: config.sfrGamma))
    }

    /// `1/(d + ε)` or `exp(γ d)`, normalised to mean 1.
    static func sfrWeights(disagreement d: [Float], weighting: TrainingConfig.SFRWeighting, gamma: Float) -> [Float] {
        let raw = d.map { weighting == .inverse ? 1 / ($0 + 1e-3) : expf(gamma * $0) }
        let mean = raw.reduce(0, +) / Float(d.count)
        return raw.map { $0 / mean }
    }
}

/// A run's checkpoint: heads, optimizer state, model selection and Group DRO
/// weights, in one safetensors file written atomically.
struct Checkpoint {
    var heads: ProjectionHeads
    var optimizerState: [String: [Float]]
    var selection: ModelSelection
    var groupWeights: [Double]?
    var epochsDone: Int
    /// The class side of `dfr` / `orth-proj` runs, which replace the text-derived one.
    var classifier: HeadClassifier? = nil

    func write(to path: String) throws {
        // The trainer stops before this can happen; a non-finite checkpoint
        // would break every later eval, cam and resume.
        if let bad = heads.firstNonFinite {
            throw InputError(file: path, field: "tensor '\(bad.tensor)'", "not written: element \(bad.index) is \(bad.value)")
        }
        AtomicFile.removeStaleTemporaries(of: path)   // a write killed earlier in this run
        var w = SafetensorsWriter()
        w.add("W_v", heads.image)
        w.add("W_t", heads.text)
        w.add("logit_scale", shape: [], floats: [heads.logitScale])
        for (name, values) in optimizerState.sorted(by: { $0.key < $1.key }) {
            w.add("optimizer." + name, shape: [values.count], floats: values)
        }
        w.metadata["epochs_done"] = String(epochsDone)
        w.metadata["selection"] = String(decoding: try JSONEncoder.sortedKeys.encode(selection), as: UTF8.self)
        // Doubles as text: a resumed run must continue with exactly these weights.
        if let groupWeights { w.metadata["group_weights"] = groupWeights.map { "\($0)" }.joined(separator: " ") }
        if let classifier {
            w.add("classifier.weight", classifier.classEmbeddings)
            w.add("classifier.bias", shape: [classifier.bias.count], floats: classifier.bias)
            w.add("classifier.scale", shape: [], floats: [classifier.scale])
        }
        try w.write(to: path)
    }

    static func readIfPresent(_ path: String, like heads: ProjectionHeads) throws -> Checkpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try read(path, like: heads)
    }

    static func read(_ path: String, like heads: ProjectionHeads) throws -> Checkpoint {
        let f = try SafetensorsFile(path: path)
        let h = ProjectionHeads(image: try f.matrix("W_v", shape: [heads.image.rows, heads.image.cols]),
                                text: try f.matrix("W_t", shape: [heads.text.rows, heads.text.cols]),
                                logitScale: try f.floats("logit_scale")[0])
        if let bad = h.firstNonFinite {
            throw InputError(file: path, field: "tensor '\(bad.tensor)'", "element \(bad.index) is \(bad.value), expected a finite number")
        }
        var state: [String: [Float]] = [:]
        for name in f.names where name.hasPrefix("optimizer.") { state[String(name.dropFirst(10))] = try f.floats(name) }
        let selection = try f.metadata["selection"].map { try JSONDecoder().decode(ModelSelection.self, from: Data($0.utf8)) }
            ?? ModelSelection()
        let q = f.metadata["group_weights"].map { $0.split(separator: " ").compactMap { Double($0) } }
        var classifier: HeadClassifier?
        if f.names.contains("classifier.weight") {
            let weight = try f.matrix("classifier.weight", shape: [nil, h.embeddingDim])
            let bias = try f.floats("classifier.bias"), scale = try f.floats("classifier.scale")
            guard bias.count == weight.rows, scale.count == 1 else {
                throw InputError(file: path, field: "classifier.bias", "has \(bias.count) values for \(weight.rows) classes (and \(scale.count) scales, expected 1)")
            }
            classifier = HeadClassifier(heads: h, classEmbeddings: weight, scale: scale[0], bias: bias)
        }
        return Checkpoint(heads: h, optimizerState: state, selection: selection, groupWeights: q,
                          epochsDone: Int(f.metadata["epochs_done"] ?? "0") ?? 0, classifier: classifier)
    }
}


/// The best checkpoint's heads of a finished (or cancelled) run.
public enum RunCheckpoints {
    public static func bestHeads(run id: Int64, workspace: Workspace, like pretrained: ProjectionHeads) throws -> ProjectionHeads {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        guard let path = record.bestCheckpoint else {
            throw SettingError("run", "run \(id) has no checkpoint yet (status \(record.status.rawValue))")
        }
        return try Checkpoint.read(path, like: pretrained).heads
    }

    /// The classifier of a run's best checkpoint: its fitted or projected
    /// class side (`dfr`, `orth-proj`), or the class prompts through its heads.
    public static func bestClassifier(run id: Int64, workspace: Workspace, like pretrained: ProjectionHeads,
                                      classTemplates: Matrix, templateCount: Int) throws -> HeadClassifier {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        guard let path = record.bestCheckpoint else {
            throw SettingError("run", "run \(id) has no checkpoint yet (status \(record.status.rawValue))")
        }
        let checkpoint = try Checkpoint.read(path, like: pretrained)
        return checkpoint.classifier
            ?? HeadClassifier(heads: checkpoint.heads, classTemplates: classTemplates, templateCount: templateCount)
    }

    public static func config(run id: Int64, workspace: Workspace) throws -> TrainingConfig {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        return try JSONDecoder().decode(TrainingConfig.self, from: Data(record.config.utf8))
    }
}
