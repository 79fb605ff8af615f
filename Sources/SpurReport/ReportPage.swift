import Foundation
import SpurAudit
import SpurCore
import SpurEngine
import SpurSnapshot

/// Writes the report's directory: `index.html` and `img/*.png`. Every number
/// on it comes from `UIModel` (screen 1's audit, the workspace's verdicts and
/// runs), the values the screens draw.
public struct ReportPage {
    public var model: UIModel
    public var runs: [RunRecord]
    /// Examples shown per group (with / without an attribute): bounded so a
    /// 1.28 M-image bundle costs the same page as a small one.
    public var examplesPerGroup: Int
    public var bundlePath: String
    public var version: String
    /// Computed by the caller (the digest lives with the weights code).
    public var bundleDigest: String
    public var progress: (String) -> Void

    public init(model: UIModel, runs: [RunRecord], examplesPerGroup: Int, bundlePath: String, version: String,
                bundleDigest: String, progress: @escaping (String) -> Void = { _ in }) {
        self.model = model; self.runs = runs; self.examplesPerGroup = examplesPerGroup
        self.bundlePath = bundlePath; self.version = version; self.bundleDigest = bundleDigest; self.progress = progress
    }

    /// Writes into `directory` (which must exist and be empty).
    public func write(to directory: String) throws {
        let images = (directory as NSString).appendingPathComponent("img")
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        var body = ""
        body += provenance()
        body += try triage()
        body += try evidence(imageDirectory: images)
        body += try mitigation()
        let page = Self.head(title: "spurscope report — \(model.bundle.manifest.model)") + body + "</body>\n</html>\n"
        try Data(page.utf8).write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("index.html")))
    }

    var bundle: FeatureBundle { model.bundle }
    var classes: [String] { model.classes }
    /// The rule the Groups screen and the evaluation use for benchmark groups.
    var groupsAreTrue: Bool { PresenceSource.best(for: bundle.groupAttributes, in: bundle).isGroundTruth }
    var presenceLabel: String {
        switch model.auditSettings.source {
        case .detections: return "detected attributes (detector threshold \(bundle.manifest.presenceThreshold))"
        default: return "attributes as \(model.auditSettings.source)"
        }
    }
    var auditSplit: String { model.auditSettings.split?.rawValue ?? "all splits" }

    static func head(title: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>\(HTML.escape(title))</title>
        <style>
        body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #111; }
        table { border-collapse: collapse; margin: .5em 0 1.5em; }
        th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        .source { color: #555; font-size: 12px; font-style: italic; }
        .grid { display: flex; flex-wrap: wrap; gap: 8px; }
        figure { margin: 0; border: 1px solid #ddd; padding: 4px; }
        figure img { width: 96px; height: 96px; image-rendering: pixelated; }
        .wrong { color: #b00; } .right { color: #070; }
        pre.config { white-space: pre-wrap; word-break: break-all; max-width: 60em; }
        .empty { color: #555; background: #f4f4f4; padding: .5em; }
        @media print {
          body { margin: 0; font-size: 11px; }
          section { break-inside: avoid-page; }
          section + section > h2 { break-before: page; }
          figure { break-inside: avoid; }
        }
        </style>
        </head>
        <body>

        """
    }

    func provenance() -> String {
        let m = bundle.manifest
        let counts = Split.allCases.map { s in "\(s.rawValue): \(bundle.indices(in: s).count)" }.joined(separator: ", ")
        let groups = (m.groups ?? []).joined(separator: ", ")
        var s = "<h1>spurscope report</h1>\n<section id=\"provenance\">\n<h2>Provenance</h2>\n<table class=\"provenance\">\n"
        func row(_ k: String, _ v: String) { s += "<tr><th>\(HTML.escape(k))</th><td>\(HTML.escape(v))</td></tr>\n" }
        row("bundle", bundlePath)
        row("bundle digest", bundleDigest)
        row("model", m.model)
        row("text encoder", m.textEncoder)
        row("examples per split", counts)
        row("groups", groups.isEmpty ? "none declared in the manifest" : groups)
        row("benchmark groups (mitigation)", groupsAreTrue ? "true (ground truth in examples.csv)" : "detected (detector scores)")
        row("detector threshold", "\(m.presenceThreshold)")
        row("audit", "split \(auditSplit), \(presenceLabel), minimum support \(model.auditSettings.minimumSupport)")
        row("examples shown per group", "at most \(examplesPerGroup) (the first by bundle order)")
        row("spurscope", version)
        row("generated", ISO8601DateFormatter().string(from: Date()))
        return s + "</table>\n</section>\n"
    }

    func triage() throws -> String {
        var s = "<section id=\"triage\">\n<h2>Triage</h2>\n<p class=\"source\">From split \(HTML.escape(auditSplit)), \(HTML.escape(presenceLabel)); ranked by |δ| as on screen 1. δ = accuracy with the attribute − accuracy without; interval 95 %.</p>\n"
        let decisions = Dictionary(try model.workspace.currentDecisions().map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        let history = try model.workspace.history()
        if model.audit.table.rows.isEmpty { s += "<p class=\"empty\">The audit ranked no attributes (no attribute reaches the minimum support).</p>\n" }
        for c in classes.indices {
            let rows = model.audit.table.ranked(class: c, by: .magnitude)
            s += "<h3>\(HTML.escape(classes[c]))</h3>\n"
            guard !rows.isEmpty else { s += "<p class=\"empty\">No attributes ranked for this class.</p>\n"; continue }
            s += "<table class=\"triage\" data-class=\"\(HTML.escape(classes[c]))\">\n<tr><th>attribute</th><th>δ</th><th>95 % interval</th><th>support with</th><th>support without</th><th>confused with</th><th>verdict</th></tr>\n"
            for r in rows {
                let name = model.audit.attributes[r.attribute]
                let (lo, hi) = r.delta95
                let d = decisions[Decision.key(className: classes[c], attribute: name)]
                s += "<tr><td>\(HTML.escape(name))</td><td class=\"num\">\(HTML.signed(r.delta))</td><td class=\"num\">[\(HTML.signed(lo)), \(HTML.signed(hi))]</td>"
                s += "<td class=\"num\">\(r.with.total)</td><td class=\"num\">\(r.without.total)</td><td>\(HTML.escape(r.confusedClass.map { classes[$0] } ?? "—"))</td>"
                s += "<td>\(HTML.escape(d?.verdict.rawValue ?? "undecided"))</td></tr>\n"
            }
            s += "</table>\n"
        }
        s += "<h3>Verdicts</h3>\n"
        if decisions.isEmpty {
            s += "<p class=\"empty\">No verdicts recorded in the workspace yet.</p>\n"
        } else {
            s += "<table class=\"verdicts\">\n<tr><th>class</th><th>attribute</th><th>verdict</th><th>phrase present</th><th>phrase absent</th><th>note</th><th>history</th></tr>\n"
            for d in decisions.values.sorted(by: { ($0.className, $0.attribute) < ($1.className, $1.attribute) }) {
                let changes = history.filter { $0.key == d.key }.map {
                    "\(Workspace.timestamp($0.time)): \($0.previousVerdict?.rawValue ?? "none") → \($0.verdict.rawValue)\($0.note.isEmpty ? "" : " (\($0.note))")"
                }
                s += "<tr><td>\(HTML.escape(d.className))</td><td>\(HTML.escape(d.attribute))</td><td>\(HTML.escape(d.verdict.rawValue))</td>"
                s += "<td>\(HTML.escape(d.phrasePresent))</td><td>\(HTML.escape(d.phraseAbsent))</td><td>\(HTML.escape(d.note))</td>"
                s += "<td>\(changes.map(HTML.escape).joined(separator: "<br>"))</td></tr>\n"
            }
            s += "</table>\n"
        }
        return s + "</section>\n"
    }

    func evidence(imageDirectory: String) throws -> String {
        var s = "<section id=\"evidence\">\n<h2>Evidence</h2>\n"
        let spurious = try model.workspace.currentDecisions().filter { $0.verdict == .spurious }
        guard !spurious.isEmpty else { return s + "<p class=\"empty\">No attribute is marked spurious: no evidence to show.</p>\n</section>\n" }
        guard bundle.hasHeatmaps else {
            s += "<p class=\"empty\">This bundle has no spatial maps (no image_spatial tensor, no cam_tail): Grad-CAM overlays cannot be drawn.</p>\n"
            return s + "</section>\n"
        }
        s += "<p class=\"source\">From split \(HTML.escape(auditSplit)), \(HTML.escape(presenceLabel)); Grad-CAM of the true class under the pre-trained model, inferno colour map, at most \(examplesPerGroup) examples per group.</p>\n"
        var imageIndex = 0
        for d in spurious.sorted(by: { ($0.className, $0.attribute) < ($1.className, $1.attribute) }) {
            guard let c = classes.firstIndex(of: d.className), let a = model.audit.attributes.firstIndex(of: d.attribute) else {
                s += "<p class=\"empty\">\(HTML.escape(d.className)) / \(HTML.escape(d.attribute)): not in this bundle's audit.</p>\n"; continue
            }
            progress("evidence: \(d.className) / \(d.attribute)")
            let (with, without) = model.examples(class: c, attribute: a, limit: examplesPerGroup)
            s += "<h3>\(HTML.escape(d.className)) — \(HTML.escape(d.attribute))</h3>\n"
            for (label, rows) in [("with \(d.attribute)", with), ("without \(d.attribute)", without)] {
                s += "<h4>\(HTML.escape(label)) (\(rows.count) shown)</h4>\n"
                guard !rows.isEmpty else { s += "<p class=\"empty\">No examples.</p>\n"; continue }
                s += "<div class=\"grid\">\n"
                for e in rows {
                    imageIndex += 1
                    s += try figure(example: e, mapClass: c, classifier: nil, name: "e\(imageIndex)", imageDirectory: imageDirectory)
                }
                s += "</div>\n"
            }
        }
        return s + "</section>\n"
    }

    /// The example and its overlay as two PNGs, with prediction and correctness.
    func figure(example e: Int, mapClass: Int, classifier: HeadClassifier?, name: String, imageDirectory: String) throws -> String {
        let p = try model.preview(example: e, mapClass: mapClass, classifier: classifier)
        let overlay = TerminalArt.overlay(p.image, heat: p.heat, alpha: 0.45, colormap: TerminalArt.inferno)
        try ImageFile.writePNG(p.image, to: (imageDirectory as NSString).appendingPathComponent("\(name).png"))
        try ImageFile.writePNG(overlay, to: (imageDirectory as NSString).appendingPathComponent("\(name)-cam.png"))
        let ex = bundle.examples[e]
        let right = p.predicted == ex.label
        return "<figure data-example=\"\(HTML.escape(ex.id))\"><img src=\"img/\(name).png\" alt=\"example \(HTML.escape(ex.id))\"><img class=\"cam\" src=\"img/\(name)-cam.png\" alt=\"Grad-CAM of \(HTML.escape(ex.id))\">"
            + "<figcaption>\(HTML.escape(ex.id)): predicted \(HTML.escape(classes[p.predicted])) <span class=\"\(right ? "right" : "wrong")\">\(right ? "right" : "wrong")</span></figcaption></figure>\n"
    }

    func mitigation() throws -> String {
        var s = "<section id=\"mitigation\">\n<h2>Mitigation</h2>\n"
        guard !runs.isEmpty else { return s + "<p class=\"empty\">No training runs in the workspace for this bundle.</p>\n</section>\n" }
        for run in runs {
            s += "<h3>Run \(run.id): \(HTML.escape(run.method)) (\(HTML.escape(run.status.rawValue)))</h3>\n"
            s += "<p>Configuration:</p>\n<pre class=\"config\">\(HTML.escape(run.config))</pre>\n"
            let epochs = try model.workspace.epochs(run: run.id)
            let reports = epochs.compactMap { try? JSONDecoder().decode(EpochReport.self, from: Data($0.metrics.utf8)) }
            guard !reports.isEmpty else { s += "<p class=\"empty\">This run recorded no epochs.</p>\n"; continue }
            let numbers = reports.map(\.epoch)
            s += "<p class=\"source\">Training loss on split train; accuracies on split val, groups \(groupsAreTrue ? "true" : "detected").</p>\n"
            s += CurveSVG.render(series: [.init(name: "train loss", colour: "#1f77b4", values: reports.map(\.trainLoss))],
                                 epochs: numbers, best: run.bestEpoch, title: "run \(run.id) training loss")
            s += CurveSVG.render(series: [.init(name: "val average accuracy", colour: "#2ca02c", values: reports.map(\.validation.average)),
                                          .init(name: "val worst-group accuracy", colour: "#d62728", values: reports.map(\.validation.worstGroup))],
                                 epochs: numbers, best: run.bestEpoch, title: "run \(run.id) validation accuracy")
            s += try testGroups(run)
        }
        return s + "</section>\n"
    }

    /// Per-group test accuracy of the pre-trained model (before) and the
    /// run's best checkpoint (after), grouped as `eval --run` groups the run:
    /// the same computation as `eval` and `compare`.
    func testGroups(_ run: RunRecord) throws -> String {
        guard run.bestCheckpoint != nil else {
            return "<p class=\"empty\">Run \(run.id) has no checkpoint yet: no test accuracy to show.</p>\n"
        }
        var config = try RunCheckpoints.config(run: run.id, workspace: model.workspace)
        config.method = .zeroshot   // evaluation only: groups by the run's attributes, no method requirement
        let data = try TrainingData.prepare(bundle: bundle, config: config, decisions: try model.workspace.currentDecisions())
        let before = try Evaluation.metrics(Evaluation.classifier(data.pretrained, data: data), data: data, split: data.test)
        let classifier = try RunCheckpoints.bestClassifier(run: run.id, workspace: model.workspace, like: data.pretrained,
                                                           classTemplates: data.classTemplates, templateCount: data.templateCount)
        let after = try Evaluation.metrics(classifier, data: data, split: data.test)
        var s = "<p class=\"source\">Per-group accuracy on split test: the pre-trained model (before) and run \(run.id)'s best checkpoint, "
            + "epoch \(run.bestEpoch.map(String.init) ?? "—") (after); groups by \(HTML.escape(data.evaluationAttributes.joined(separator: " + "))), "
            + "\(data.evaluationFromGroundTruth ? "true" : "detected"). Worst group before: \(HTML.escape(before.worstGroupName)) "
            + "\(HTML.percent(before.worstGroup)); after: \(HTML.escape(after.worstGroupName)) \(HTML.percent(after.worstGroup)).</p>\n"
        s += "<table class=\"groups\">\n<tr><th>group</th><th>before</th><th>after</th><th>examples</th></tr>\n"
        var bars: [(label: String, before: Double?, after: Double?)] = []
        for g in after.groups {
            let b = before.groups.first { $0.name == g.name }?.accuracy
            s += "<tr><td>\(HTML.escape(g.name))</td><td class=\"num\">\(b.map(HTML.percent) ?? "—")</td><td class=\"num\">\(HTML.percent(g.accuracy))</td><td class=\"num\">\(g.total)</td></tr>\n"
            bars.append((g.name, b, g.accuracy))
        }
        return s + "</table>\n" + CurveSVG.bars(bars, title: "run \(run.id) per-group test accuracy")
    }
}
