import Foundation
import SpurCore
import SpurEngine

/// `compare --seeds … [--tune]`: every method as mean ± sd over seeds, each
/// group-aware method with detected and with true groups, the purity of
/// the detected groups, and (with --tune) what validation picked.
struct SeedCompare {
    var bundlePath: String
    var methods: [Method]
    var seeds: [UInt64]
    var tuning: TuningMode
    var grid: TuningGrid
    var options: TrainingOptions
    var workspace: Workspace
    var rerun: Bool

    /// The whole report, as `--json` writes it.
    struct Report: Codable {
        struct Row: Codable {
            var label: String
            var method: Method
            var groups: GroupSource
            var untuned: Bool
            var usesValGroupLabels: Bool
            var candidates: [TuningCandidate]
            var picked: [String]
            var average: MeanSD
            var adjustedAverage: MeanSD
            var worstGroup: MeanSD
            var validationWorstGroup: MeanSD
            var seeds: [SeedResult]
        }
        var bundle: String
        /// The command line that made the report, to rerun it.
        var command: String
        var split = "test"
        var attributes: [String]
        var groupsFrom: String
        var testExamples: Int
        var seeds: [UInt64]
        var tuning: TuningMode
        var grid: TuningGrid?
        var epochs: Int
        var rows: [Row]
        var purity: [GroupPurity]?
        var trainedRuns: Int
        var reusedRuns: Int
        var seconds: Double
        var trainingCPUSeconds: Double
        /// Epochs of gradient-trained runs per CPU second of all training:
        /// the machine's speed, as the neighbours on a shared one do not change it.
        var epochsPerCPUSecond: Double?
    }

    func run(log: @escaping (String) -> Void) throws -> Report {
        let started = Date()
        let b = try FeatureBundle.open(bundlePath)
        var base = options
        if base.attribute.isEmpty {
            let spurious = try workspace.spuriousAttributes()
            base.attribute = spurious.isEmpty ? b.groupAttributes : spurious
        }
        let attributes = base.attribute
        let truth = !attributes.isEmpty && attributes.allSatisfy(b.groundTruthAttributes.contains)
        let absentWords = Set(base.absentWord.compactMap { $0.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } })
        let comparison = SeedComparison(seeds: seeds, tuning: tuning, grid: grid,
                                        officialFormAvailable: !attributes.isEmpty && attributes.allSatisfy(absentWords.contains),
                                        groundTruthAvailable: truth)
        if tuning != .off && !comparison.officialFormAvailable && methods.contains(where: \.hasLossForm) {
            log("note: the official loss form is left out of the grid: it needs --absent-word for \(attributes.joined(separator: ", "))")
        }
        let configure: SeedComparison.Configure = { method, candidate, groundTruth, seed in
            var o = base
            o.seed = seed
            o.groundTruth = groundTruth
            if let lr = candidate.learningRate { o.lr = lr }
            if let s = candidate.sampler { o.sampler = s }
            if let f = candidate.lossForm { o.lossForm = f }
            // Appended last, so it wins over a --lambda for the same term.
            if let w = candidate.termWeight, let term = method.ownTerm { o.lambda.append("\(term.rawValue)=\(w)") }
            return try o.config(method: method, bundle: bundlePath, workspace: workspace, dropInapplicable: true)
        }
        let runs = WorkspaceComparisonRuns(bundle: b, workspace: workspace, rerun: rerun, log: log)
        let rows = try comparison.rows(for: methods, configure: configure)
        var results: [RowResult] = []
        for (i, row) in rows.enumerated() {
            let elapsed = Date().timeIntervalSince(started)
            log(String(format: "[%d/%d] %@ (%.0f s so far)", i + 1, rows.count, row.label, elapsed))
            results.append(try comparison.run(row, configure: configure, runs: runs, progress: { log("  " + $0) }))
        }

        var purityConfig = TrainingConfig(method: .zeroshot)
        purityConfig.attributes = attributes
        purityConfig.threshold = base.threshold
        let purity = truth ? DetectedGroupPurity.measure(
            data: try TrainingData.prepare(bundle: b, config: purityConfig, decisions: try workspace.currentDecisions()),
            trainedOnGroundTruth: false) : nil
        let seconds = Date().timeIntervalSince(started)
        log(String(format: "done in %.0f s: %d runs trained (%.0f s, CPU %.0f s, %d epochs), %d reused", seconds, runs.trainedRuns,
                   runs.trainingSeconds, runs.trainingCPUSeconds, runs.trainedEpochs, runs.reusedRuns))
        return Report(
            bundle: bundlePath, command: (["spurscope"] + CommandLine.arguments.dropFirst()).joined(separator: " "), attributes: attributes, groupsFrom: truth ? "ground truth" : "detections",
            testExamples: b.indices(in: .test).count, seeds: seeds, tuning: tuning, grid: tuning == .off ? nil : grid,
            epochs: base.epochs,
            rows: results.map { r in
                Report.Row(label: r.row.label, method: r.row.method, groups: r.row.groups, untuned: r.row.untuned,
                           usesValGroupLabels: r.row.method.usesValidationGroupLabels, candidates: r.candidates,
                           picked: r.seeds.map { TuningCandidate.describe($0.candidate, config: $0.config) },
                           average: r.average, adjustedAverage: r.adjustedAverage, worstGroup: r.worstGroup,
                           validationWorstGroup: r.validationWorstGroup, seeds: r.seeds)
            },
            purity: purity, trainedRuns: runs.trainedRuns, reusedRuns: runs.reusedRuns, seconds: seconds,
            trainingCPUSeconds: runs.trainingCPUSeconds,
            epochsPerCPUSecond: runs.trainedEpochs > 0 && runs.trainingCPUSeconds > 0
                ? Double(runs.trainedEpochs) / runs.trainingCPUSeconds : nil)
    }
}

/// The report as Markdown: results/methods.md, which docs/results.md links.
enum SeedCompareMarkdown {
    /// Method names for prose: the paper's methods last, as "ours-*" when both are there.
    static func names(_ methods: [Method], conjunction: String = ", ") -> String {
        let paper = methods.filter { $0.definition is any PaperMethod }
        var words = methods.filter { !($0.definition is any PaperMethod) }.map(\.rawValue)
        words += paper.count > 1 ? ["ours-*"] : paper.map(\.rawValue)
        guard words.count > 1, conjunction != ", " else { return words.joined(separator: ", ") }
        return words.dropLast().joined(separator: ", ") + conjunction + words.last!
    }

    static func pct(_ x: Double) -> String { String(format: "%.1f", 100 * x) }

    static func render(_ r: SeedCompare.Report, options: TrainingOptions) -> String {
        var out: [String] = []
        let seedList = r.seeds.map(String.init).joined(separator: ", ")
        out.append("`\(r.command)`")
        out.append("")
        out.append("Test split (\(r.testExamples) examples), groups class × \(r.attributes.joined(separator: " × ")) "
                   + "(\(r.groupsFrom)); mean ± sd (sample sd) over seeds \(seedList). "
                   + "Methods trained by gradient: SGD, momentum \(options.momentum), batch \(options.batchSize), "
                   + "weight decay \(options.wd), \(r.epochs) epochs, the checkpoint with the best validation worst group.")
        out.append("")
        if let g = r.grid {
            // Which knob each method's grid varies, from the methods' own grids.
            let methods = Method.allCases
            let grids = Dictionary(uniqueKeysWithValues: methods.map { ($0, g.candidates(for: $0, officialFormAvailable: true)) })
            let tunedSampler = methods.filter { Set(grids[$0]!.compactMap(\.sampler)).count > 1 }
            let tunedForm = methods.filter { Set(grids[$0]!.compactMap(\.lossForm)).count > 1 }
            let untuned = methods.filter { grids[$0]! == [.defaults] }
            let lrs = g.learningRates.map { "\($0)" }.joined(separator: ", ")
            out.append("Tuned on validation worst group only (ties: validation average), "
                       + (r.tuning == .firstSeed ? "once, on seed \(r.seeds[0]); the other seeds reuse the pick" : "separately for every seed")
                       + ": lr ∈ {\(lrs)}; sampler ∈ {\(g.samplers.map(\.rawValue).joined(separator: ", "))} "
                       + "for \(names(tunedSampler)); loss form ∈ {\(g.lossForms.map(\.rawValue).joined(separator: ", "))} for \(names(tunedForm)) "
                       + "(official only with --absent-word)"
                       + (g.termWeights.isEmpty ? "" : "; λ of the method's own term (L_ls, L_vs) ∈ {\(g.termWeights.map { String(format: "%g", $0) }.joined(separator: ", "))} for \(names(tunedForm))")
                       + ". \(names(untuned, conjunction: " and ")) \(untuned.count == 1 ? "has" : "have") nothing to tune.")
            out.append("")
        }
        // The baseline: erm as a user who tunes nothing trains it, else the pre-trained model.
        let reference = r.rows.first { $0.method == .erm && $0.groups == .none && ($0.untuned || r.tuning == .off) }
            ?? r.rows.first { $0.method == .zeroshot }
        let referenceName = reference?.method == .erm ? "erm (defaults)" : "zero-shot"
        out.append("| Method | \(r.tuning == .off ? "Settings" : "Picked on val") | Avg. acc. | Adjusted avg. | Worst group |"
                   + (reference == nil ? "" : " Δ worst vs \(referenceName) |"))
        out.append("|---|---|---|---|---|" + (reference == nil ? "" : "---|"))
        let best = r.rows.max { $0.worstGroup.mean < $1.worstGroup.mean }
        for row in r.rows {
            // One setting when every seed used the same, else each seed's.
            let picked = Set(row.picked).count == 1 ? row.picked[0] : row.picked.joined(separator: " / ")
            let worst = row.worstGroup.percentText
            var line = "| \(row.label)\(row.usesValGroupLabels ? "\\*" : "") | \(picked) | \(row.average.percentText) | "
                + "\(row.adjustedAverage.percentText) | \(row.label == best?.label ? "**\(worst)**" : worst) |"
            if let reference {
                line += String(format: " %+.1f |", 100 * (row.worstGroup.mean - reference.worstGroup.mean))
            }
            out.append(line)
        }
        out.append("")
        if r.rows.contains(where: \.usesValGroupLabels) {
            out.append("\\* fits its classifier on the val split's group labels; the other methods use val only to pick a checkpoint (and, tuned, their knobs).")
            out.append("")
        }
        out += verdict(r)
        if let purity = r.purity {
            out.append("")
            out.append("Detected groups of the train split against the ground truth (detection threshold \(options.threshold.map { "\($0)" } ?? "the bundle's")): "
                       + "purity is the share of a detected group's members that truly belong to it, found the share of the true group it contains.")
            out.append("")
            out.append("| Group | Detected | True members | Purity | True group | Found |")
            out.append("|---|---|---|---|---|---|")
            for g in purity {
                out.append("| \(g.name)\(g.isMinority ? " (minority)" : "") | \(g.detected) | \(g.trueMembers) | "
                           + "\(g.purity.map(pct) ?? "—") | \(g.groundTruth) | \(g.coverage.map(pct) ?? "—") |")
            }
        }
        out.append("")
        out.append(String(format: "%d runs trained and %d reused in %.1f minutes (training: %.1f CPU minutes", r.trainedRuns, r.reusedRuns,
                          r.seconds / 60, r.trainingCPUSeconds / 60)
                   + (r.epochsPerCPUSecond.map { String(format: ", %.1f epochs per CPU second", $0) } ?? "") + ").")
        return out.joined(separator: "\n")
    }

    /// Which method wins, by how much, and whether the margin exceeds the spread.
    static func verdict(_ r: SeedCompare.Report) -> [String] {
        var out: [String] = []
        let ranked = r.rows.sorted { $0.worstGroup.mean > $1.worstGroup.mean }
        guard let first = ranked.first else { return out }
        func name(_ row: SeedCompare.Report.Row) -> String { "`\(row.label)`\(row.usesValGroupLabels ? "\\*" : "")" }
        func pointsAhead(_ a: SeedCompare.Report.Row, _ b: SeedCompare.Report.Row) -> String {
            let d = SeedDifference(a.seeds, b.seeds)
            let spread = max(a.worstGroup.sd, b.worstGroup.sd)
            var s = String(format: "%.1f points ahead of %@ (%@)", 100 * (a.worstGroup.mean - b.worstGroup.mean), name(b), b.worstGroup.percentText)
            guard a.seeds.count > 1 else { return s + " (one seed: no spread to weigh the gap against)" }
            if let d {
                s += String(format: "; per seed the difference is %.1f ± %.1f", 100 * d.mean, 100 * d.sd)
            }
            s += (a.worstGroup.mean - b.worstGroup.mean) > 2 * spread
                ? ", more than twice the larger spread" : ", within twice the larger spread (not a clear win)"
            return s
        }
        var line = "**Best worst group:** \(name(first)), \(first.worstGroup.percentText)"
        if ranked.count > 1 { line += ", " + pointsAhead(first, ranked[1]) }
        out.append(line + ".")
        if first.usesValGroupLabels, let other = ranked.first(where: { !$0.usesValGroupLabels }) {
            out.append("")
            out.append("Best without fitting on val group labels: \(name(other)), \(other.worstGroup.percentText)"
                       + (ranked.firstIndex { $0.label == other.label }.map { i in i + 1 < ranked.count ? ", " + pointsAhead(other, ranked[i + 1]) : "" } ?? "") + ".")
        }
        // What a user with only the detector gets: no true groups in training, no fitting on val.
        let deployable = ranked.filter { $0.groups != .groundTruth && !$0.usesValGroupLabels }
        if let d = deployable.first, d.label != first.label {
            out.append("")
            out.append("Best with detected groups (or none) and no fitting on val: \(name(d)), \(d.worstGroup.percentText)"
                       + (deployable.count > 1 ? ", " + pointsAhead(d, deployable[1]) : "") + ".")
        }
        let pairs = Dictionary(grouping: r.rows.filter { $0.groups != .none }, by: \.method)
        let gaps = r.rows.compactMap { row -> String? in
            guard row.groups == .detected, let t = pairs[row.method]?.first(where: { $0.groups == .groundTruth }) else { return nil }
            return String(format: "%@ %.1f → %.1f", row.method.rawValue, 100 * row.worstGroup.mean, 100 * t.worstGroup.mean)
        }
        if !gaps.isEmpty {
            out.append("")
            out.append("Detected → true groups (worst group, mean): " + gaps.joined(separator: "; ") + ".")
        }
        return out
    }
}

/// Mean ± sd over seeds of the paired difference of two rows' test worst
/// groups (same seeds, same order); nil when the seeds differ.
struct SeedDifference {
    var mean: Double
    var sd: Double

    init?(_ a: [SeedResult], _ b: [SeedResult]) {
        guard a.map(\.seed) == b.map(\.seed), !a.isEmpty else { return nil }
        let m = MeanSD(zip(a, b).map { $0.test.worstGroup - $1.test.worstGroup })
        mean = m.mean
        sd = m.sd
    }
}
