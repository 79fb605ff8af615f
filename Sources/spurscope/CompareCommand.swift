import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train (or reuse) every method and print the paper's Table 4 layout as Markdown.",
        discussion: """
        For each method, the newest finished run with exactly this configuration is reused; \
        otherwise it is trained now. Each is evaluated on the test split: adjusted average \
        and worst-group accuracy, average and worst-group AIoU. Groups are class × the \
        spurious attribute (--attribute, else the workspace's spurious verdicts, else the \
        bundle's benchmark groups).

        With --seeds (or --tune): every method over the seeds as mean ± sd of test average, \
        adjusted average and worst group (no AIoU); methods that train on group labels twice, \
        with detected and with ground-truth groups; the purity of the detected train groups. \
        --tune picks lr, sampler and (ours-*) loss form by validation worst group on the first \
        seed; --tune-per-seed on every seed.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "Comma-separated methods (default: all).") var methods: String?
    @Flag(name: .long, help: "Train every method again even if a matching run exists.") var rerun = false
    @Flag(name: .long, help: "One JSON object instead of Markdown.") var json = false
    @Option(name: .long, help: ArgumentHelp("Comma-separated seeds: every method's test average, adjusted average and worst group as mean ± sd over them, group-aware methods with detected and with true groups.", valueName: "seeds")) var seeds: String?
    @Flag(name: .long, help: "Pick each method's lr (and sampler, and ours-*' loss form) by validation worst group, once on the first seed.") var tune = false
    @Flag(name: .long, help: "Like --tune, picking separately for every seed.") var tunePerSeed = false
    @Option(name: .long, help: ArgumentHelp("Learning rates of the tuning grid.", valueName: "lrs")) var tuneLr: String = "0.001,0.01"
    @Option(name: .long, help: ArgumentHelp(
        "Weights of ours-ls' L_ls and ours-vs' L_vs to tune over too, e.g. 0.3,1,3 (default: not tuned; each weight multiplies their grid).",
        valueName: "lambdas"))
    var tuneLambda: String?
    @OptionGroup var options: TrainingOptions
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        let b = try FeatureBundle.open(bundle)
        let ws = try workspaceOption.open(bundle: bundle)
        let chosen = try (methods?.split(separator: ",").map { try parseMethod(String($0).trimmingCharacters(in: .whitespaces)) }) ?? Method.allCases
        guard !chosen.isEmpty else {
            throw InputError(file: "--methods", "names no method (expected a comma-separated list of \(Method.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        if tuneLambda != nil && !(tune || tunePerSeed) {
            throw InputError(file: "--tune-lambda", "tunes nothing without --tune or --tune-per-seed")
        }
        if seeds != nil || tune || tunePerSeed {
            try runSeeds(methods: chosen, workspace: ws)
            return
        }
        var rows: [(Method, Int64, SplitMetrics)] = []
        for method in chosen {
            var config = try options.config(method: method, bundle: bundle, workspace: ws, dropInapplicable: true)
            if config.attributes.isEmpty {
                let spurious = try ws.spuriousAttributes()
                config.attributes = spurious.isEmpty ? b.groupAttributes : spurious
            }
            let json = String(decoding: try JSONEncoder.sortedKeys.encode(config), as: UTF8.self)
            let existing = rerun ? nil : try ws.runs().last { $0.status == .finished && $0.config == json }
            let runID: Int64
            if let existing {
                runID = existing.id
                FileHandle.standardError.write(Data("\(method.rawValue): reusing run \(runID)\n".utf8))
            } else {
                FileHandle.standardError.write(Data("\(method.rawValue): training…\n".utf8))
                runID = try Trainer.create(bundle: b, config: config, workspace: ws).run().run
            }
            var evalConfig = config
            evalConfig.method = .zeroshot
            let data = try TrainingData.prepare(bundle: b, config: evalConfig, decisions: try ws.currentDecisions())
            let classifier = try RunCheckpoints.bestClassifier(run: runID, workspace: ws, like: data.pretrained,
                                                               classTemplates: data.classTemplates, templateCount: data.templateCount)
            rows.append((method, runID, try Evaluation.metrics(classifier, data: data, split: data.test, bundle: b)))
        }
        if json {
            struct Row: Encodable {
                var method: Method, run: Int64, usesValGroupLabels: Bool, adjustedAverage: Double, average: Double
                var worstGroup: Double, aiouAverage: OrNull<Double>, aiouWorstGroup: OrNull<Double>
            }
            struct Table: Encodable { var bundle: String, split = "test", methods: [Row] }
            print(try JSONOutput.line(Table(bundle: bundle, methods: rows.map { m, run, r in
                Row(method: m, run: run, usesValGroupLabels: m.usesValidationGroupLabels, adjustedAverage: r.adjustedAverage,
                    average: r.average, worstGroup: r.worstGroup, aiouAverage: OrNull(r.aiouAverage), aiouWorstGroup: OrNull(r.aiouWorstGroup))
            })))
            return
        }
        func pct(_ x: Double) -> String { String(format: "%.1f", 100 * x) }
        func num(_ x: Double?) -> String { x.map { String(format: "%.3f", $0) } ?? "—" }
        print("| Method | Run | Avg. acc. (adjusted) | Worst-group acc. | Avg. AIoU | Worst-group AIoU |")
        print("|---|---|---|---|---|---|")
        for (m, run, r) in rows {
            print("| \(m.rawValue)\(m.usesValidationGroupLabels ? "*" : "") | \(run) | \(pct(r.adjustedAverage)) | \(pct(r.worstGroup)) | \(num(r.aiouAverage)) | \(num(r.aiouWorstGroup)) |")
        }
        if rows.contains(where: { $0.0.usesValidationGroupLabels }) {
            print("")
            print("\\* fits its classifier on the val split's group labels; the other methods use val only to pick a checkpoint.")
        }
    }
}

extension CompareCommand {
    func runSeeds(methods: [Method], workspace: Workspace) throws {
        let seedList = try seeds.map { text in
            try text.split(separator: ",", omittingEmptySubsequences: false).map { item -> UInt64 in
                guard let v = UInt64(item.trimmingCharacters(in: .whitespaces)) else {
                    throw InputError(file: "--seeds", "'\(item)' in '\(text)' is not a seed (a whole number ≥ 0)")
                }
                return v
            }
        } ?? [options.seed]
        guard Set(seedList).count == seedList.count else { throw InputError(file: "--seeds", "names a seed twice") }
        let rates = try Self.numbers(tuneLr, flag: "--tune-lr", what: "a positive learning rate") { $0 > 0 }
        let weights = try tuneLambda.map { try Self.numbers($0, flag: "--tune-lambda", what: "a weight (a finite number ≥ 0)") { $0 >= 0 } } ?? []
        let compare = SeedCompare(bundlePath: bundle, methods: methods, seeds: seedList,
                                  tuning: tunePerSeed ? .everySeed : tune ? .firstSeed : .off,
                                  grid: TuningGrid(learningRates: rates, termWeights: weights), options: options, workspace: workspace, rerun: rerun)
        let report = try compare.run { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        if json {
            // snake_case keys, as every other command's JSON.
            let encoder = JSONEncoder.sortedKeys
            encoder.keyEncodingStrategy = .convertToSnakeCase
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(SeedCompareMarkdown.render(report, options: options))
        }
    }
}

extension CompareCommand {
    /// A comma-separated list of finite numbers, each `valid`.
    static func numbers(_ text: String, flag: String, what: String, valid: (Float) -> Bool) throws -> [Float] {
        try text.split(separator: ",", omittingEmptySubsequences: false).map { item -> Float in
            guard let v = Float(item.trimmingCharacters(in: .whitespaces)), v.isFinite, valid(v) else {
                throw InputError(file: flag, "'\(item)' in '\(text)' is not \(what)")
            }
            return v
        }
    }
}
