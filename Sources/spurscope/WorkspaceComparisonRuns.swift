import Foundation
import SpurCore
import SpurEngine

/// The comparison's runs in the workspace: the newest finished run with the
/// identical configuration is reused (unless `rerun`), otherwise one is
/// trained now and recorded as `train` would. Metrics are those of the
/// run's best checkpoint, on groups of the run's attribute(s).
final class WorkspaceComparisonRuns: ComparisonRunSource {
    let bundle: FeatureBundle
    let workspace: Workspace
    let rerun: Bool
    let log: (String) -> Void
    /// Runs trained or looked up by this invocation, by configuration JSON
    /// (with `rerun`, a configuration is trained once per invocation).
    private var runIDs: [String: Int64] = [:]
    private var evaluationData: [String: TrainingData] = [:]
    private var metrics: [String: SplitMetrics] = [:]
    private(set) var trainedRuns = 0, reusedRuns = 0
    private(set) var trainingSeconds = 0.0, trainingCPUSeconds = 0.0
    private(set) var trainedEpochs = 0

    init(bundle: FeatureBundle, workspace: Workspace, rerun: Bool, log: @escaping (String) -> Void) {
        self.bundle = bundle
        self.workspace = workspace
        self.rerun = rerun
        self.log = log
    }

    func validation(_ config: TrainingConfig) throws -> ValidationScore {
        ValidationScore(try evaluate(config, split: .val))
    }

    func test(_ config: TrainingConfig) throws -> SplitMetrics {
        try evaluate(config, split: .test)
    }

    func runID(_ config: TrainingConfig) throws -> Int64 {
        let json = String(decoding: try JSONEncoder.sortedKeys.encode(config), as: UTF8.self)
        if let id = runIDs[json] { return id }
        if !rerun, let existing = try workspace.runs().last(where: { $0.status == .finished && $0.config == json }) {
            runIDs[json] = existing.id
            reusedRuns += 1
            return existing.id
        }
        let started = Date(), startedCPU = Self.cpuSeconds()
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: workspace)
        let outcome = try trainer.run()
        let seconds = Date().timeIntervalSince(started), cpu = Self.cpuSeconds() - startedCPU
        trainedRuns += 1
        trainingSeconds += seconds
        trainingCPUSeconds += cpu
        if config.method.training == .projections { trainedEpochs += outcome.epochsDone }
        // CPU time too: on a shared machine the wall clock says more about the neighbours.
        log(String(format: "    run %lld: %@ seed %llu, %@: %d epochs, %.1f s (CPU %.1f s)", outcome.run, config.method.rawValue, config.seed,
                   TuningCandidate.describe(.defaults, config: config) + (config.groundTruth ? ", true groups" : ""),
                   outcome.epochsDone, seconds, cpu))
        runIDs[json] = outcome.run
        return outcome.run
    }

    /// User + system time of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private func evaluate(_ config: TrainingConfig, split: Split) throws -> SplitMetrics {
        let id = try runID(config)
        let key = "\(id)/\(split.rawValue)"
        if let m = metrics[key] { return m }
        let data = try data(for: config)
        let classifier = try RunCheckpoints.bestClassifier(run: id, workspace: workspace, like: data.pretrained,
                                                           classTemplates: data.classTemplates, templateCount: data.templateCount)
        let m = try Evaluation.metrics(classifier, data: data, split: split == .val ? data.val : data.test)
        metrics[key] = m
        return m
    }

    /// The evaluation view of the bundle for a configuration's attribute(s):
    /// it depends on nothing else a run varies, so it is prepared once.
    private func data(for config: TrainingConfig) throws -> TrainingData {
        var c = TrainingConfig(method: .zeroshot)
        c.attributes = config.attributes
        c.threshold = config.threshold
        let key = c.attributes.joined(separator: "\u{1}") + "\u{1}\(c.threshold.map { "\($0)" } ?? "bundle")"
        if let d = evaluationData[key] { return d }
        let d = try TrainingData.prepare(bundle: bundle, config: c, decisions: try workspace.currentDecisions())
        evaluationData[key] = d
        return d
    }
}
