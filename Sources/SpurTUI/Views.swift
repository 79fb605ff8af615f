import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Draws the application's state into a cell grid. Pure: reads `App`,
/// writes the grid, calls no terminal.
public enum Views {
    public static let minimumWidth = 50
    public static let minimumHeight = 15

    public static func render(_ app: App, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        let t = app.theme
        guard width >= minimumWidth && height >= minimumHeight else {
            let lines = ["Terminal too small", "\(width)×\(height): spurscope needs at least \(minimumWidth)×\(minimumHeight).", "Enlarge the window, or q to quit."]
            for (i, l) in lines.enumerated() {
                g.text(l, x: max(0, (width - l.count) / 2), y: max(0, height / 2 - 1 + i), style: i == 0 ? t.header : t.text)
            }
            return g
        }
        tabs(app, &g)
        let body = (x: 0, y: 2, w: width, h: height - 4)
        switch app.screen {
        case .attributes: attributesScreen(app, &g, body)
        case .preview: previewScreen(app, &g, body)
        case .train: trainScreen(app, &g, body)
        case .groups: groupsScreen(app, &g, body)
        }
        footer(app, &g)
        if app.showHelp { help(app, &g) }
        if let input = app.input { editor(input, app, &g) }
        return g
    }

    static func tabs(_ app: App, _ g: inout CellGrid) {
        let t = app.theme
        g.text("spurscope", x: 1, y: 0, style: t.header)
        var x = 12
        for s in Screen.allCases {
            let label = " \(s.rawValue) \(s.title) "
            g.text(label, x: x, y: 0, style: s == app.screen ? t.selection : t.dim)
            x += label.count + 1
        }
    }

    static func footer(_ app: App, _ g: inout CellGrid) {
        let t = app.theme, y = g.height - 2
        if let b = app.banner {
            g.fill(x: 0, y: y, width: g.width, height: 1, style: t.banner)
            g.text(" " + b, x: 0, y: y, style: t.banner)
        } else {
            let hints = KeyBindings.hints(for: app.screen).map(\.hintText) + ["1-4 screens"]
            g.text(" " + hints.joined(separator: "  "), x: 0, y: y, style: t.dim)
        }
        let s = g.height - 1
        g.fill(x: 0, y: s, width: g.width, height: 1, style: t.statusBar)
        let engine = "engine: \(app.train.status)"
        let right = app.isIdle ? "ready" : "working…"
        let left = " \(app.model.bundle.directory) │ \((app.model.workspace.path as NSString).lastPathComponent) │ \(engine)"
        g.text(left, x: 0, y: s, style: t.statusBar, maxWidth: g.width - right.count - 2)
        g.text(right, x: g.width - right.count - 1, y: s, style: t.statusBar)
    }

    static func pct(_ x: Double) -> String { String(format: "%5.1f%%", 100 * x) }

    // MARK: Attributes

    static func attributesScreen(_ app: App, _ g: inout CellGrid, _ b: (x: Int, y: Int, w: Int, h: Int)) {
        let t = app.theme, m = app.model
        let c = app.attributes.classIndex
        let total = m.audit.table.classTotals[c]
        var title = "Class \(m.classes[c]) (\(c + 1)/\(m.classes.count), Tab: next) — \(total.total) val examples, accuracy \(pct(total.value).trimmingCharacters(in: .whitespaces))"
        title += "   sort: \(app.attributes.sortBySupport ? "support" : "|δ|")"
        if !app.attributes.filter.isEmpty { title += "   filter: \(app.attributes.filter)" }
        g.text(title, x: 1, y: b.y, style: t.header)
        let header = "  attribute          δ     with      n  without     n  confused     verdict"
        g.text(header, x: 1, y: b.y + 1, style: t.dim)
        let rows = app.attributeRows()
        if rows.isEmpty {
            g.text("  no attribute with enough examples on both sides" + (app.attributes.filter.isEmpty ? "" : " matches the filter"), x: 1, y: b.y + 3, style: t.dim)
            return
        }
        let visible = b.h - 2
        let top = max(0, min(app.attributes.selected - visible / 2, rows.count - visible))
        for (i, r) in rows.enumerated().dropFirst(top).prefix(visible) {
            let name = m.audit.attributes[r.attribute]
            let verdict = app.verdict(className: m.classes[c], attribute: name)?.verdict.rawValue ?? "undecided"
            let line = "  " + name.padding(toLength: 15, withPad: " ", startingAt: 0)
                + String(format: " %+6.1f  ", 100 * r.delta) + pct(r.with.value) + String(format: " %5d  ", r.with.total)
                + pct(r.without.value) + String(format: " %5d  ", r.without.total)
                + (r.confusedClass.map { m.classes[$0] } ?? "—").padding(toLength: 11, withPad: " ", startingAt: 0) + "  " + verdict
            let y = b.y + 2 + i - top
            if i == min(app.attributes.selected, rows.count - 1) {
                g.fill(x: 1, y: y, width: b.w - 2, height: 1, style: t.selection)
                g.text(line, x: 1, y: y, style: t.selection, maxWidth: b.w - 2)
            } else {
                g.text(line, x: 1, y: y, style: verdict == "spurious" ? t.bad : verdict == "healthy" ? t.good : t.text, maxWidth: b.w - 2)
            }
        }
    }

    // MARK: Preview

    static func previewScreen(_ app: App, _ g: inout CellGrid, _ b: (x: Int, y: Int, w: Int, h: Int)) {
        let t = app.theme, m = app.model
        guard let row = app.selectedAttribute else {
            g.text("Pick an attribute on the Attributes screen (1) first.", x: 1, y: b.y, style: t.dim)
            return
        }
        let attr = m.audit.attributes[row.attribute], cls = m.classes[row.classIndex]
        g.text("\(cls) with and without '\(attr)' (val)   c: map class   v: \(app.preview.overlay ? "side by side" : "overlay")", x: 1, y: b.y, style: t.header)
        let (list, withCount) = app.previewList()
        let listWidth = 24
        for (i, e) in list.enumerated().prefix(b.h - 2) {
            let ex = m.bundle.examples[e]
            let label = (i < withCount ? "+ " : "− ") + ex.id
            let y = b.y + 1 + i
            g.text(label, x: 1, y: y, style: i == app.preview.selected ? t.selection : (i < withCount ? t.text : t.dim), maxWidth: listWidth)
        }
        if let p = app.preview.current {
            drawPreview(p, app: app, overlay: app.preview.overlay, &g, x: listWidth + 2, y: b.y + 1, w: b.w - listWidth - 3, h: b.h - 1)
        } else if !list.isEmpty {
            g.text("rendering…", x: listWidth + 2, y: b.y + 2, style: t.dim)
        }
    }

    /// The image and its heatmap: side by side (image | heatmap over image) or
    /// the overlay alone, as half blocks, or as the ASCII ramp on monochrome.
    static func drawPreview(_ p: Preview, app: App, overlay: Bool, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int) {
        let t = app.theme, m = app.model
        let ex = m.bundle.examples[p.example]
        let caption = "\(ex.id): \(m.classes[ex.label]) → predicted \(m.classes[p.predicted]); map of \(m.classes[p.mapClass])"
        g.text(caption, x: x, y: y, style: p.predicted == ex.label ? t.good : t.bad, maxWidth: w)
        let map = t.heatmap
        let blended = TerminalArt.overlay(p.image, heat: p.heat, alpha: 0.6, colormap: map.color)
        let pictures: [RGBImage] = overlay ? [blended] : [p.image, TerminalArt.colored(heat: p.heat, colormap: map.color)]
        let ascii = app.ascii || t.monochrome
        // Each picture fits its share of the pane (below the caption, at most
        // 32 columns by 16 rows), keeping the image's aspect ratio.
        let box = (columns: min(32, (w - 2 * (pictures.count - 1)) / pictures.count), rows: min(16, h - 2))
        guard box.columns >= 1 && box.rows >= 1 else { return }
        let size = TerminalArt.fit(width: p.image.width, height: p.image.height, columns: box.columns, rows: box.rows)
        for (k, pic) in pictures.enumerated() {
            let px = x + k * (size.columns + 2)
            if ascii {
                let source = k == 1 ? TerminalArt.colored(heat: p.heat) { v in
                    let c = UInt8(255 * v); return (c, c, c)
                } : pic
                for (r, line) in TerminalArt.ascii(source, columns: size.columns, rows: size.rows).enumerated() {
                    g.text(line, x: px, y: y + 1 + r, style: t.text)
                }
            } else {
                for (r, cells) in TerminalArt.halfBlocks(pic, columns: size.columns, rows: size.rows).enumerated() {
                    for (c, cell) in cells.enumerated() {
                        g[px + c, y + 1 + r] = Cell(character: "▀", style: Style(
                            foreground: .rgb(cell.top[0], cell.top[1], cell.top[2]),
                            background: .rgb(cell.bottom[0], cell.bottom[1], cell.bottom[2])))
                    }
                }
            }
        }
    }

    // MARK: Train

    static func trainScreen(_ app: App, _ g: inout CellGrid, _ b: (x: Int, y: Int, w: Int, h: Int)) {
        let t = app.theme, s = app.train
        let attrs = s.method == .zeroshot ? "—" : app.trainingAttributes().joined(separator: " + ")
        let source = s.attribute == nil ? " (marked)" : ""
        g.text("Method \(s.method.rawValue) (m)   attribute \(attrs)\(source) (a)   epochs \(s.epochs) (+/-)   lr \(s.learningRate) (l)   batch \(s.batchSize) (b)",
               x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        g.text(s.method.summary, x: 1, y: b.y + 1, style: t.dim, maxWidth: b.w - 2)
        var status = "Run \(s.runID.map(String.init) ?? "–"): \(s.status)"
        if let started = s.startedAt, !s.reports.isEmpty, s.totalEpochs > 0 {
            let elapsed = Date().timeIntervalSince(started)
            let perEpoch = elapsed / Double(s.reports.count)
            status += String(format: "   elapsed %.0fs", elapsed)
            if s.running { status += String(format: ", ETA %.0fs", perEpoch * Double(max(0, s.totalEpochs - s.reports.count))) }
        }
        if let best = s.reports.filter(\.isBest).last { status += "   best epoch \(best.epoch)" }
        g.text(status, x: 1, y: b.y + 2, style: s.running ? t.accent : t.text, maxWidth: b.w - 2)
        let plotHeight = max(3, (b.h - 6) / 2)
        let plotWidth = max(10, b.w / 2 - 4)
        g.text("training loss", x: 1, y: b.y + 3, style: t.dim)
        Braille.plot(s.stepLosses.map(Double.init), into: &g, x: 1, y: b.y + 4, width: plotWidth, height: plotHeight, style: t.accent)
        g.text("validation: average (·) and worst group (•)", x: 1, y: b.y + 5 + plotHeight, style: t.dim)
        Braille.plot(s.reports.map { $0.validation.average }, into: &g, x: 1, y: b.y + 6 + plotHeight, width: plotWidth, height: plotHeight, style: t.good, range: 0...1)
        Braille.plot(s.reports.map { $0.validation.worstGroup }, into: &g, x: 1, y: b.y + 6 + plotHeight, width: plotWidth, height: plotHeight, style: t.bad, range: 0...1, overlay: true)
        // Epoch table on the right.
        let tx = plotWidth + 4
        g.text("epoch   loss    val avg  worst", x: tx, y: b.y + 3, style: t.dim)
        for (i, r) in s.reports.suffix(b.h - 5).enumerated() {
            let line = String(format: "%5d %7.4f  %@ %@", r.epoch, r.trainLoss, pct(r.validation.average), pct(r.validation.worstGroup)) + (r.isBest ? " ←" : "")
            g.text(line, x: tx, y: b.y + 4 + i, style: r.isBest ? t.good : t.text, maxWidth: b.w - tx - 1)
        }
        if !s.running && s.reports.isEmpty {
            g.text("Enter starts the run in the background; keys keep working while it trains.", x: tx, y: b.y + 4, style: t.dim, maxWidth: b.w - tx - 1)
        }
    }

    // MARK: Groups

    static func groupsScreen(_ app: App, _ g: inout CellGrid, _ b: (x: Int, y: Int, w: Int, h: Int)) {
        let t = app.theme, s = app.groups, m = app.model
        guard let pre = s.pretrained else {
            g.text("Evaluating on the test split…", x: 1, y: b.y, style: t.dim)
            return
        }
        let runName = s.runIndex.flatMap { $0 < s.runs.count ? "run \(s.runs[$0].id) (\(s.runs[$0].method))" : nil } ?? "no run yet"
        if s.browsing, let metrics = s.pretrained {
            let grp = metrics.groups[min(s.selected, metrics.groups.count - 1)]
            g.text("\(grp.name): \(s.examples.count) test examples, misclassified first (Esc: back)", x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
            for (i, e) in s.examples.enumerated().prefix(b.h - 2) {
                g.text(m.bundle.examples[e].id, x: 1, y: b.y + 1 + i, style: i == s.exampleIndex ? t.selection : t.text, maxWidth: 12)
            }
            if let p = s.preview { drawPreview(p, app: app, overlay: s.overlay, &g, x: 15, y: b.y + 1, w: b.w - 16, h: b.h - 1) }
            return
        }
        g.text("Test groups: pre-trained vs \(runName) (r: next run, Enter: browse)", x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        g.text("  group                          n   pre-trained  AIoU    \(s.run == nil ? "" : "run        AIoU")", x: 1, y: b.y + 1, style: t.dim)
        let worst = pre.groups.min { $0.accuracy < $1.accuracy }
        for (i, grp) in pre.groups.enumerated() {
            var line = "  " + grp.name.padding(toLength: 26, withPad: " ", startingAt: 0) + String(format: " %5d   ", grp.total) + pct(grp.accuracy)
                + "    " + (grp.aiou.map { String(format: "%.3f", $0) } ?? "  —  ")
            if let r = s.run, i < r.groups.count {
                line += "   " + pct(r.groups[i].accuracy) + "    " + (r.groups[i].aiou.map { String(format: "%.3f", $0) } ?? "—")
            }
            if grp == worst { line += "   ← worst" }
            g.text(line, x: 1, y: b.y + 2 + i, style: i == s.selected ? t.selection : (grp == worst ? t.bad : t.text), maxWidth: b.w - 2)
        }
        var summary = "average \(pct(pre.average)), adjusted \(pct(pre.adjustedAverage)), worst group \(pct(pre.worstGroup)) (\(pre.worstGroupName))"
        if let r = s.run { summary += "  │  run: worst group \(pct(r.worstGroup)), adjusted \(pct(r.adjustedAverage))" }
        g.text(summary, x: 1, y: b.y + 3 + pre.groups.count, style: t.text, maxWidth: b.w - 2)
    }

    // MARK: overlays

    static func help(_ app: App, _ g: inout CellGrid) {
        let t = app.theme
        var lines = ["Keys (any key closes this)", ""]
        for k in KeyBindings.all {
            let scope = k.screens.map { $0.sorted { $0.rawValue < $1.rawValue }.map(\.title).joined(separator: ", ") } ?? "everywhere"
            lines.append(k.label.padding(toLength: 7, withPad: " ", startingAt: 0) + k.description + "  [\(scope)]")
        }
        let w = min(g.width - 4, (lines.map(\.count).max() ?? 20) + 4), h = min(g.height - 2, lines.count + 2)
        let x0 = (g.width - w) / 2, y0 = max(1, (g.height - h) / 2)
        g.fill(x: x0, y: y0, width: w, height: h, style: t.statusBar)
        for (i, l) in lines.prefix(h - 2).enumerated() { g.text(l, x: x0 + 2, y: y0 + 1 + i, style: i == 0 ? Style(foreground: t.statusBar.foreground, background: t.statusBar.background, bold: true) : t.statusBar, maxWidth: w - 4) }
    }

    static func editor(_ input: TextInput, _ app: App, _ g: inout CellGrid) {
        let t = app.theme, y = g.height - 2
        switch input {
        case .filter(let text):
            g.fill(x: 0, y: y, width: g.width, height: 1, style: t.statusBar)
            g.text(" filter: \(text)▏  (Enter: keep, Esc: cancel)", x: 0, y: y, style: t.statusBar)
        case .note(let fields, let focus, let c, let a):
            let labels = ["note", "phrase present", "phrase absent"]
            let w = min(g.width - 4, 70), x0 = (g.width - w) / 2, y0 = g.height / 2 - 3
            g.fill(x: x0, y: y0, width: w, height: 6, style: t.statusBar)
            g.text("\(c) / \(a) — Tab: next field, Enter: save, Esc: cancel", x: x0 + 2, y: y0, style: t.statusBar, maxWidth: w - 4)
            for i in 0..<3 {
                let line = labels[i].padding(toLength: 15, withPad: " ", startingAt: 0) + fields[i] + (i == focus ? "▏" : "")
                g.text(line, x: x0 + 2, y: y0 + 2 + i, style: i == focus ? t.selection : t.statusBar, maxWidth: w - 4)
            }
        }
    }
}

/// Curves in braille: each cell holds 2×4 dots.
public enum Braille {
    static let bits: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]   // [row][column]

    public static func plot(_ values: [Double], into g: inout CellGrid, x: Int, y: Int, width: Int, height: Int,
                            style: Style, range: ClosedRange<Double>? = nil, overlay: Bool = false) {
        guard !values.isEmpty, width > 0, height > 0 else { return }
        let lo = range?.lowerBound ?? values.min()!, hi = range?.upperBound ?? values.max()!
        let span = hi > lo ? hi - lo : 1
        let dotsX = width * 2, dotsY = height * 4
        var cells = [UInt32](repeating: 0, count: width * height)
        for dx in 0..<dotsX {
            let i = values.count == 1 ? 0 : Int((Double(dx) / Double(dotsX - 1) * Double(values.count - 1)).rounded())
            let v = (values[i] - lo) / span
            let dy = dotsY - 1 - Int((min(max(v, 0), 1) * Double(dotsY - 1)).rounded())
            cells[(dy / 4) * width + dx / 2] |= bits[dy % 4][dx % 2]
        }
        for r in 0..<height {
            for c in 0..<width where cells[r * width + c] != 0 || !overlay {
                var bitsHere = cells[r * width + c]
                if overlay, let existing = g[x + c, y + r].character.unicodeScalars.first?.value, existing >= 0x2800, existing <= 0x28FF {
                    bitsHere |= existing - 0x2800
                }
                g[x + c, y + r] = Cell(character: Character(Unicode.Scalar(0x2800 + bitsHere)!), style: style)
            }
        }
    }
}
