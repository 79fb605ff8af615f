import ArgumentParser
import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// `--workspace DIR`, shared by every command that reads or writes decisions and runs.
struct WorkspaceOption: ParsableArguments {
    @Option(name: .long, help: "Directory of the workspace database (default: BUNDLE/.spurscope; use it for read-only bundles).")
    var workspace: String?

    func open(bundle: String) throws -> Workspace { try Workspace(bundle: bundle, directory: workspace) }

    /// The workspace if it exists already, for reading: reading never
    /// creates one, nor waits for a writer's lock.
    func openIfPresent(bundle: String) throws -> Workspace? {
        FileManager.default.fileExists(atPath: Workspace.location(bundle: bundle, directory: workspace))
            ? try Workspace(bundle: bundle, directory: workspace, readingOnly: true) : nil
    }
}

/// How presence is decided and which examples are audited: `detect` and
/// `ui` take the same options, so screen 1 can show what `detect` shows.
struct AuditOptions: ParsableArguments {
    @Option(name: .long, help: "Examples to audit: train, val, test or all.") var split: String = "val"
    @Option(name: .long, parsing: .unconditional, help: "Detection score at which an attribute counts as present (default: the manifest's detection_threshold, 0.5 without one).") var threshold: Float?
    @Option(name: .long, help: "Per-attribute threshold, NAME=SCORE (repeatable).") var attributeThreshold: [String] = []
    @Flag(name: .long, help: "Score attributes with the model itself instead of attributes.csv.") var zeroShot = false
    @Option(name: .long, parsing: .unconditional, help: "With --zero-shot: present above this quantile of the attribute's scores.") var quantile: Double = 0.9
    @Option(name: .long, parsing: .unconditional, help: "Minimum examples with and without an attribute.") var minSupport: Int = 10

    func audit() throws -> Audit {
        let splitChoice: Split? = split == "all" ? nil : try Split(rawValue: split).orThrow(InputError(file: "--split", "'\(split)' is not train, val, test or all"))
        // The same bounds as train's --threshold: detection scores are probabilities.
        if let threshold, !(threshold >= 0 && threshold <= 1) { throw InputError(file: "--threshold", "is \(threshold), expected 0...1") }
        guard minSupport >= 1 else { throw InputError(file: "--min-support", "is \(minSupport), expected at least 1") }
        guard quantile > 0 && quantile < 1 else { throw InputError(file: "--quantile", "is \(quantile), expected between 0 and 1") }
        var overrides: [String: Float] = [:]
        for item in attributeThreshold {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let t = Float(parts[1]) else {
                throw InputError(file: "--attribute-threshold", "'\(item)' is not NAME=SCORE")
            }
            guard t >= 0 && t <= 1 else {
                throw InputError(file: "--attribute-threshold", "'\(item)': the score is \(t), expected 0...1")
            }
            overrides[parts[0]] = t
        }
        return Audit(split: splitChoice, source: zeroShot ? .zeroShot(quantile: quantile) : .detections(threshold: threshold, overrides: overrides),
                     minimumSupport: minSupport)
    }
}

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Rank attributes per class by accuracy discrepancy δ = acc(with) − acc(without).",
        discussion: """
        For every class and every attribute with enough examples with and without it, \
        the model's accuracy on both sides (95% Wilson intervals), δ, and the class most \
        often predicted for the failures without the attribute. Presence comes from \
        attributes.csv at a score threshold, or from the model's own zero-shot scores \
        (--zero-shot). Attributes named like a class are left out. Sorted by |δ| unless \
        --sort says otherwise; the current verdict from the workspace is shown.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "Only this class.") var `class`: String?
    @Option(name: .long, parsing: .unconditional, help: "Rows per class (0: all).") var top: Int = 10
    @OptionGroup var auditOptions: AuditOptions
    @Option(name: .long, help: "Order: evidence (the smallest |δ| the δ's 95 % interval supports, as the UI ranks), magnitude (|δ|), delta (largest δ, the paper's order), harm (smallest δ: presence hurts most) or support.") var sort: String = "magnitude"
    @Option(name: .long, parsing: .unconditional, help: "Audit this run's best checkpoint instead of the pre-trained model.") var checkpoint: Int64?
    @Flag(name: .long, help: "One JSON object.") var json = false
    @Flag(name: .long, help: "CSV rows.") var csv = false
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        guard let order = DiscrepancyTable.Order(rawValue: sort) else {
            throw InputError(file: "--sort", "'\(sort)' is not evidence, magnitude, delta, harm or support")
        }
        guard top >= 0 else { throw InputError(file: "--top", "is \(top), expected 0 (all) or more") }
        let audit = try auditOptions.audit()
        let (split, zeroShot, threshold, minSupport) = (auditOptions.split, auditOptions.zeroShot, auditOptions.threshold, auditOptions.minSupport)
        let b = try FeatureBundle.open(bundle)
        let classFilter = try `class`.map { name in
            try b.manifest.classes.firstIndex(of: name).orThrow(
                InputError(file: "--class", "'\(name)' is not a class of \(bundle) (classes: \(b.manifest.classes.joined(separator: ", ")))"))
        }
        let workspace = try workspaceOption.openIfPresent(bundle: bundle)
        var heads = try b.pretrainedHeads()
        var classifier: HeadClassifier?
        if let checkpoint {
            guard let workspace else { throw InputError(file: "--checkpoint", "there is no workspace for \(bundle) yet") }
            classifier = try RunCheckpoints.bestClassifier(run: checkpoint, workspace: workspace, like: heads,
                                                           classTemplates: try b.classTemplateFeatures(), templateCount: b.manifest.templates.count)
            heads = classifier!.heads
        }
        let result = try audit.run(b, heads: heads, classifier: classifier)
        var verdicts: [String: Decision] = [:]
        for d in try workspace?.currentDecisions() ?? [] { verdicts[d.key] = d }
        func verdict(_ r: DiscrepancyRow) -> String {
            verdicts[Decision.key(className: result.classes[r.classIndex], attribute: result.attributes[r.attribute])]?.verdict.rawValue ?? "undecided"
        }
        let classes = classFilter.map { [$0] } ?? Array(result.classes.indices)
        let perClass = classes.map { c -> (Int, [DiscrepancyRow]) in
            let rows = result.table.ranked(class: c, by: order)
            return (c, top > 0 ? Array(rows.prefix(top)) : rows)
        }

        if json {
            let object: [String: Any] = [
                "bundle": bundle, "split": split, "examples": result.examples,
                "presence": zeroShot ? "zero-shot" : "detections", "model": checkpoint.map { "run \($0)" } ?? "pre-trained",
                "classes": perClass.map { c, rows -> [String: Any] in
                    ["class": result.classes[c], "examples": result.table.classTotals[c].total,
                     "accuracy": result.table.classTotals[c].value,
                     "attributes": rows.map { row(r: $0, result: result, verdict: verdict($0)) }]
                },
            ]
            print(try JSONOutput.line(object))
        } else if csv {
            let header = ["class", "attribute", "delta", "acc_with", "acc_with_low", "acc_with_high", "n_with",
                          "acc_without", "acc_without_low", "acc_without_high", "n_without", "confused_class", "verdict"]
            let lines = perClass.flatMap { _, rows in
                rows.map { r -> [String] in
                    let w = r.with.wilson95, wo = r.without.wilson95
                    // Names from the bundle: their control characters are shown, never obeyed by the terminal.
                    return [TerminalText.escaped(result.classes[r.classIndex]), TerminalText.escaped(result.attributes[r.attribute]),
                            fmt(r.delta), fmt(r.with.value), fmt(w.low), fmt(w.high), String(r.with.total),
                            fmt(r.without.value), fmt(wo.low), fmt(wo.high), String(r.without.total),
                            r.confusedClass.map { TerminalText.escaped(result.classes[$0]) } ?? "", verdict(r)]
                }
            }
            FileHandle.standardOutput.write(try CSVTable.encode(header: header, rows: lines, for: "standard output"))
        } else {
            print("\(bundle): \(result.examples) \(split) examples, presence from \(zeroShot ? "zero-shot scores" : "detections ≥ \(threshold ?? b.manifest.presenceThreshold)"), model \(checkpoint.map { "run \($0)" } ?? "pre-trained")")
            for (c, rows) in perClass {
                let t = result.table.classTotals[c]
                print("")
                print("\(result.classes[c]) — \(t.total) examples, accuracy \(pct(t.value))")
                if rows.isEmpty {
                    let why = result.emptyTableReason(class: c, minimumSupport: minSupport).map { ": \($0)" } ?? ""
                    print("  no attribute with \(minSupport)+ examples on both sides\(why)")
                    print("  (change it with --min-support, --split all, --threshold or --zero-shot)")
                    continue
                }
                print("  #  attribute         δ      with                           without                        confused with   verdict")
                for (i, r) in rows.enumerated() {
                    let w = r.with.wilson95, wo = r.without.wilson95
                    let name = TerminalText.escaped(result.attributes[r.attribute]).padding(toLength: 14, withPad: " ", startingAt: 0)
                    let withText = "\(pct(r.with.value)) [\(pct(w.low))–\(pct(w.high))] n=\(r.with.total)"
                    let withoutText = "\(pct(r.without.value)) [\(pct(wo.low))–\(pct(wo.high))] n=\(r.without.total)"
                    print(String(format: "%3d  ", i + 1) + name + String(format: " %+6.1f  ", 100 * r.delta)
                          + withText.padding(toLength: 31, withPad: " ", startingAt: 0)
                          + withoutText.padding(toLength: 31, withPad: " ", startingAt: 0)
                          + (r.confusedClass.map { result.classes[$0] } ?? "—").padding(toLength: 16, withPad: " ", startingAt: 0)
                          + verdict(r))
                }
            }
        }
    }

    func row(r: DiscrepancyRow, result: Audit.Result, verdict: String) -> [String: Any] {
        let w = r.with.wilson95, wo = r.without.wilson95
        return ["attribute": result.attributes[r.attribute], "delta": r.delta,
                "with": ["accuracy": r.with.value, "low": w.low, "high": w.high, "n": r.with.total],
                "without": ["accuracy": r.without.value, "low": wo.low, "high": wo.high, "n": r.without.total],
                "confused_class": r.confusedClass.map { result.classes[$0] as Any } ?? NSNull(), "verdict": verdict]
    }

    func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
    func fmt(_ x: Double) -> String { String(format: "%.4f", x) }
}

struct MarkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark",
        abstract: "Record a verdict on a (class, attribute) pair: spurious, healthy or undecided.",
        discussion: """
        Every change is kept as history. The phrases are what L_ls puts after the class \
        name ("{class} with {attribute}" / "{class} without {attribute}" by default); \
        phrases and note not given carry over from the pair's previous decision.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "The class.") var `class`: String
    @Option(name: .long, help: "The attribute.") var attribute: String
    @Option(name: .long, help: "spurious, healthy or undecided.") var verdict: String
    @Option(name: .long, help: "A note for whoever reads the decision later.") var note: String?
    @Option(name: .long, help: "Phrase for the attribute present (L_ls).") var phrasePresent: String?
    @Option(name: .long, help: "Phrase for the attribute absent (L_ls).") var phraseAbsent: String?
    @Flag(name: .long, help: "Print the recorded decision as JSON.") var json = false
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        guard let v = Verdict(rawValue: verdict) else {
            throw InputError(file: "--verdict", "'\(verdict)' is not spurious, healthy or undecided")
        }
        // A verdict is about names in the manifest: the examples are not read
        // (unless phrases need the prompt table and text encoder, below).
        let manifest = try FeatureBundle.openManifest(bundle)
        guard manifest.classes.contains(`class`) else {
            throw InputError(file: "--class", "'\(`class`)' is not a class of \(bundle) (classes: \(manifest.classes.joined(separator: ", ")))")
        }
        guard manifest.attributes.contains(attribute) else {
            throw InputError(file: "--attribute", "'\(attribute)' is not in the attribute vocabulary of \(bundle)")
        }
        let d = try workspaceOption.open(bundle: bundle).record(
            className: `class`, attribute: attribute, verdict: v, note: note,
            phrasePresent: phrasePresent, phraseAbsent: phraseAbsent)
        if json { print(try JSONOutput.line(DecisionsCommand.object(d))) }
        else { print(TerminalText.escaped("\(d.className) / \(d.attribute): \(d.previousVerdict?.rawValue ?? "undecided") → \(d.verdict.rawValue)")) }
        let given = [phrasePresent, phraseAbsent].compactMap { $0 }
        guard !given.isEmpty else { return }
        let b = try FeatureBundle.open(bundle)
        let prompts = given.map { TrainingData.groupPrompts(className: `class`, phrase: $0, templates: b.manifest.templates) }
        let cut = Set(b.truncatedTexts(prompts.flatMap { $0 }))
        for (p, filled) in zip(given, prompts) where filled.contains(where: cut.contains) {
            FileHandle.standardError.write(Data("note: '\(p)' makes prompts longer than CLIP's 77 tokens; the text tower reads them cut, as CLIP does\n".utf8))
        }
    }
}

struct DecisionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decisions", abstract: "List the current verdicts (or, with --history, every change).")

    @Argument(help: "The bundle directory.") var bundle: String
    @Flag(name: .long, help: "Every recorded change, oldest first.") var history = false
    @Flag(name: .long, help: "One JSON object.") var json = false
    @OptionGroup var workspaceOption: WorkspaceOption

    static func object(_ d: Decision) -> [String: Any] {
        ["id": d.id, "class": d.className, "attribute": d.attribute, "verdict": d.verdict.rawValue,
         "previous_verdict": d.previousVerdict?.rawValue ?? NSNull(), "phrase_present": d.phrasePresent,
         "phrase_absent": d.phraseAbsent, "note": d.note, "time": Workspace.timestamp(d.time)]
    }

    func run() throws {
        _ = try FeatureBundle.openManifest(bundle)
        let decisions = try workspaceOption.openIfPresent(bundle: bundle).map { history ? try $0.history() : try $0.currentDecisions() } ?? []
        if json {
            print(try JSONOutput.line(["bundle": bundle, "decisions": decisions.map(Self.object)]))
            return
        }
        if decisions.isEmpty { print("no decisions yet (spurscope mark \(bundle) --class C --attribute A --verdict spurious)"); return }
        for d in decisions {
            let note = d.note.isEmpty ? "" : "  — \(d.note)"
            // Workspaces written by older versions (or by hand) may hold control characters.
            print(TerminalText.escaped("\(Workspace.timestamp(d.time))  \(d.className) / \(d.attribute): \(d.verdict.rawValue)"
                  + (history ? " (was \(d.previousVerdict?.rawValue ?? "undecided"))" : "")
                  + "  [\(d.phrasePresent) | \(d.phraseAbsent)]\(note)"))
        }
    }
}

extension Optional {
    func orThrow(_ error: @autoclosure () -> Error) throws -> Wrapped {
        guard let self else { throw error() }
        return self
    }
}
