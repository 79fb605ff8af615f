import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Draws a frame's snapshot into a cell grid. Pure: reads the plain
/// `UISnapshot` (never the controllers), writes the grid, calls no
/// terminal, reads no file.
public enum Views {
    public static let minimumWidth = 50
    public static let minimumHeight = 15
    typealias Box = (x: Int, y: Int, w: Int, h: Int)

    /// The app's current frame.
    public static func render(_ app: App, width: Int, height: Int) -> CellGrid { render(app.snapshot(), width: width, height: height) }

    public static func render(_ ui: UISnapshot, width: Int, height: Int) -> CellGrid {
        var g = CellGrid(width: width, height: height)
        let t = ui.theme
        guard width >= minimumWidth && height >= minimumHeight else {
            let lines = ["Terminal too small", "\(width)×\(height): spurscope needs at least \(minimumWidth)×\(minimumHeight).", "Enlarge the window, or q to quit."]
            for (i, l) in lines.enumerated() {
                g.text(l, x: max(0, (width - l.count) / 2), y: max(0, height / 2 - 1 + i), style: i == 0 ? t.header : t.text)
            }
            return g
        }
        tabs(ui, &g)
        let hints = hintLines(ui, width: width, height: height)
        let body = (x: 0, y: 2, w: width, h: height - 3 - hints.count)
        switch ui.screen {
        case .attributes: attributesScreen(ui, &g, body)
        case .preview: previewScreen(ui, &g, body)
        case .train: trainScreen(ui, &g, body)
        case .groups: groupsScreen(ui, &g, body)
        }
        footer(ui, hints, &g)
        if let groups = ui.groups, let side = groups.picking { modelPicker(ui, groups, side: side, &g) }
        if let help = ui.help { self.help(ui, help.lines, top: help.top, &g) }
        if let input = ui.input { editor(input, ui, &g) }
        return g
    }

    /// The tabs, shortened rather than cut: the name goes first, then the titles shrink.
    static func tabs(_ ui: UISnapshot, _ g: inout CellGrid) {
        let t = ui.theme
        let full = Screen.allCases.map { " \($0.rawValue) \($0.title) " }
        let short = Screen.allCases.map { " \($0.rawValue) \($0.title.prefix(4)) " }
        let width = { (labels: [String]) in labels.map(\.count).reduce(0, +) + labels.count }
        var x = 1
        var labels = full
        if 12 + width(full) <= g.width {
            g.text("spurscope", x: 1, y: 0, style: t.header)
            x = 12
        } else if 1 + width(full) > g.width {
            labels = short
        }
        var ranges: [(Screen, Range<Int>)] = []
        for (s, label) in zip(Screen.allCases, labels) {
            g.text(label, x: x, y: 0, style: s == ui.screen ? t.selection : t.dim)
            ranges.append((s, x..<(x + label.count)))
            x += label.count + 1
        }
        g.targets[0] = .tabs(ranges)
    }

    /// The hint bar: one line, or two on a terminal of 30 rows or more when
    /// one line cannot name every key of the screen.
    static func hintLines(_ ui: UISnapshot, width: Int, height: Int) -> [String] {
        HintBar.lines(ui.hints, always: ["? keys", "q quit"], width: width - 2, maxLines: height >= 30 ? 2 : 1)
    }

    static func footer(_ ui: UISnapshot, _ hints: [String], _ g: inout CellGrid) {
        let t = ui.theme, y = g.height - 2
        if let b = ui.banner {
            // Errors end in their advice ("…: give a word for images without
            // 'water'"): wrapped upwards over the screen, never cut.
            let lines = bannerLines(b, width: g.width - 2, maxLines: max(1, g.height / 3))
            for (i, line) in lines.enumerated() {
                let row = y - lines.count + 1 + i
                g.fill(x: 0, y: row, width: g.width, height: 1, style: t.banner)
                g.text(" " + line, x: 0, y: row, style: t.banner)
            }
        } else {
            for (i, line) in hints.enumerated() { g.text(" " + line, x: 0, y: y - hints.count + 1 + i, style: t.dim) }
        }
        let s = g.height - 1
        g.fill(x: 0, y: s, width: g.width, height: 1, style: t.statusBar)
        let right = ui.idle ? "ready" : "working…"
        // Whole parts only, the engine's state kept longest ("en" would say nothing).
        let left = Phrase.fit([Phrase(ui.model.bundle.directory, lead: "", priority: 1),
                               Phrase((ui.model.workspace.path as NSString).lastPathComponent, lead: " │ ", priority: 2),
                               Phrase("engine: \(ui.engineStatus)", lead: " │ ", priority: 0)], width: g.width - right.count - 3)
        g.text(" " + left, x: 0, y: s, style: t.statusBar, maxWidth: g.width - right.count - 2)
        g.text(right, x: g.width - right.count - 1, y: s, style: t.statusBar)
    }

    /// `text` in lines of at most `width` characters, broken at spaces (a
    /// word longer than a line is broken inside); past `maxLines` the last
    /// line ends in "…".
    static func bannerLines(_ text: String, width: Int, maxLines: Int) -> [String] {
        let w = max(1, width)
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false).map(String.init) {
            var rest = word
            while rest.count > w {
                if !line.isEmpty { lines.append(line); line = "" }
                lines.append(String(rest.prefix(w))); rest = String(rest.dropFirst(w))
            }
            if line.isEmpty { line = rest } else if line.count + 1 + rest.count <= w { line += " " + rest } else { lines.append(line); line = rest }
        }
        lines.append(line)
        guard lines.count > maxLines else { return lines }
        var kept = Array(lines.prefix(maxLines))
        kept[maxLines - 1] = String(kept[maxLines - 1].prefix(w - 1)) + "…"
        return kept
    }

    static func pct(_ x: Double) -> String { String(format: "%5.1f%%", 100 * x) }
    static func pct0(_ x: Double) -> String { String(format: "%.0f%%", 100 * x) }

    // MARK: Attributes

    static func attributesScreen(_ ui: UISnapshot, _ g: inout CellGrid, _ b: Box) {
        guard let a = ui.attributes else { return }
        let t = ui.theme, m = ui.model
        let c = a.classIndex
        let total = m.audit.table.classTotals[c]
        // Whole phrases only: the filter (when set) before the order.
        var title: [(lead: String, text: String)] = [("", "Class \(m.classes[c]) (\(c + 1)/\(m.classes.count))"),
                                                     (" — ", "\(total.total) val, accuracy \(pct0(total.value))")]
        if !a.filter.isEmpty { title.append(("   ", "filter: \(a.filter) (Esc clears)")) }
        title.append(("   ", "order: \(a.order.label)"))
        g.text(Phrase.prefix(title, width: b.w - 2), x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        let rows = a.rows
        // One line explaining the selected row, one for the orth-proj preview.
        if let r = a.selectedRow {
            let name = m.audit.attributes[r.attribute]
            let ci = r.delta95
            var why: [(lead: String, text: String)] = [
                ("", "\(name) present: \(pct0(r.with.value)) of \(r.with.total) correct"),
                ("; ", "absent: \(pct0(r.without.value)) of \(r.without.total)"),
                ("; ", String(format: "δ %+.0f, 95%% CI [%+.0f, %+.0f]", 100 * r.delta, 100 * ci.low, 100 * ci.high)),
            ]
            if r.hasLittleSupport { why.append((" ", "(includes 0: little support)")) }
            if let cc = r.confusedClass { why.append(("; ", "most confused with \(m.classes[cc])")) }
            g.text(Phrase.prefix(why, width: b.w - 2), x: 1, y: b.y + 1, style: t.text, maxWidth: b.w - 2)
        }
        var tableY = b.y + 2
        if let p = a.projection {
            let z = p.preview.zeroShot, o = p.preview.projected
            let wide = "orth-proj preview (\(p.key)): test worst group \(pct0(z.worstGroup)) zero-shot → \(pct0(o.worstGroup)) projected"
            let words = p.preview.phrases.map { "“\($0)”" }.joined(separator: " ")
            var parts: [(lead: String, text: String)] = wide.count <= b.w - 2
                ? [("", wide), ("; ", "average \(pct0(z.average)) → \(pct0(o.average))")]
                : [("", "orth-proj (\(p.key)): test worst group \(pct0(z.worstGroup)) → \(pct0(o.worstGroup))"),
                   ("; ", "average \(pct0(z.average)) → \(pct0(o.average))")]
            if a.projectionPending { parts.insert(("; ", "updating…"), at: 1) }
            if !p.preview.truncatedPhrases.isEmpty {
                parts.insert(("; ", "\(p.preview.truncatedPhrases.count == 1 ? "a phrase" : "\(p.preview.truncatedPhrases.count) phrases") cut to CLIP's 77 tokens"), at: 1)
            }
            parts.append(("; ", "without \(words)"))
            g.text(Phrase.prefix(parts, width: b.w - 2), x: 1, y: tableY, style: t.accent, maxWidth: b.w - 2)
            tableY += 1
        } else if a.projectionPending {
            g.text("orth-proj preview: encoding the phrases…", x: 1, y: tableY, style: t.dim, maxWidth: b.w - 2)
            tableY += 1
        }
        if rows.isEmpty {
            let support = m.auditSettings.minimumSupport
            if !a.filter.isEmpty {
                g.text("  no attribute with enough examples on both sides matches the filter", x: 1, y: tableY + 1, style: t.dim)
            } else {
                // Why, and what changes it: the audit's settings are the UI's start-up options.
                let why = m.audit.emptyTableReason(class: c, minimumSupport: support).map { ": \($0)." } ?? "."
                let text = "no attribute with \(support)+ examples on both sides\(why) Start the UI with --min-support N, --split all, --threshold T or --zero-shot to change the audit (as `spurscope detect` takes them)."
                for (i, line) in wrap(text.split(separator: " ").map(String.init), width: max(20, b.w - 4), separator: " ").enumerated() {
                    g.text("  " + line, x: 1, y: tableY + 1 + i, style: t.dim)
                }
            }
            return
        }
        // Widths from the whole vocabulary and the (few) notes, never from every row: a frame stays O(visible rows).
        let noteWidth = a.decisions.values.filter { $0.className == m.classes[c] }.map(\.note.count).max() ?? 0
        let columns = [
            TableColumn("attribute", width: min(24, a.nameWidth), priority: 0, minimumWidth: 6),
            TableColumn("δ", width: 6, priority: 0, rightAligned: true),
            TableColumn("95% CI", width: 10, priority: 3),
            TableColumn("with", width: 6, priority: 2, rightAligned: true),
            TableColumn("n", width: 4, priority: 4, rightAligned: true),
            TableColumn("without", width: 7, priority: 2, rightAligned: true),
            TableColumn("n", width: 4, priority: 4, rightAligned: true),
            TableColumn("confused", width: m.classes.map(\.count).max() ?? 8, priority: 5),
            TableColumn("verdict", width: 9, priority: 1),
            TableColumn("note", width: min(30, noteWidth), priority: 6, minimumWidth: 4),
        ]
        let layout = TableLayout(columns, width: b.w - 4)
        let header = "  " + layout.header
        g.text(header, x: 1, y: tableY, style: t.dim, maxWidth: b.w - 2)
        var visible = b.y + b.h - tableY - 1
        let selected = a.selected
        // "1–7 of 8" goes after the header when it fits there, else on the table's last line: never over a title.
        var counterY = tableY
        if rows.count > visible && header.count + 18 > b.w - 2 { visible -= 1; counterY = tableY + 1 + visible }
        let top = ListWindow.top(selected: selected, count: rows.count, visible: visible)
        for i in top..<min(rows.count, top + visible) {
            let r = rows[i]
            let name = m.audit.attributes[r.attribute]
            let decision = a.verdict(className: m.classes[c], attribute: name)
            let verdict = decision.verdict?.rawValue ?? "undecided"
            let ci = r.delta95
            let values = [
                name, String(format: "%+.1f", 100 * r.delta) + (r.hasLittleSupport ? "?" : " "),
                String(format: "[%+.0f,%+.0f]", 100 * ci.low, 100 * ci.high),
                pct(r.with.value), "\(r.with.total)", pct(r.without.value), "\(r.without.total)",
                r.confusedClass.map { m.classes[$0] } ?? "—", verdict, decision.note ?? "",
            ]
            let y = tableY + 1 + i - top
            g.targets[y] = .row(i, 0..<b.w)
            let line = (i == selected ? "▶ " : "  ") + layout.line(values)
            if i == selected {
                g.fill(x: 1, y: y, width: b.w - 2, height: 1, style: t.selection)
                g.text(line, x: 1, y: y, style: t.selection, maxWidth: b.w - 2)
            } else {
                let style = verdict == "spurious" ? t.bad : verdict == "healthy" ? t.good : r.hasLittleSupport ? t.dim : t.text
                g.text(line, x: 1, y: y, style: style, maxWidth: b.w - 2)
            }
        }
        if rows.count > visible {
            let counter = " \(top + 1)–\(min(rows.count, top + visible)) of \(rows.count) "
            g.text(counter, x: counterY == tableY ? b.w - 1 - counter.count : 1, y: counterY, style: t.dim)
        }
    }

    // MARK: Preview

    static func previewScreen(_ ui: UISnapshot, _ g: inout CellGrid, _ b: Box) {
        guard let pv = ui.preview else { return }
        let t = ui.theme, m = ui.model
        guard let row = pv.row else {
            g.text("Pick an attribute on the Attributes screen (1) first.", x: 1, y: b.y, style: t.dim)
            return
        }
        let attr = m.audit.attributes[row.attribute], cls = m.classes[row.classIndex]
        let (list, withCount, scores) = (pv.list.all, pv.list.withCount, pv.list.scores)
        var head: [(lead: String, text: String)] = [("", "\(cls) with '\(attr)' (\(withCount))"), (" ", "and without (\(list.count - withCount)), \(m.auditSettings.split?.rawValue ?? "all splits")")]
        if m.bundle.hasHeatmaps { head += [("   ", "c: map class"), ("   ", "v: \(pv.overlay ? "side by side" : "overlay")")] }
        g.text(Phrase.prefix(head, width: b.w - 2), x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        let listWidth = 22
        // Column heads over the list, in the rows' own layout: with/without, id, pre-trained right?, detection score.
        let heads = "  " + TableLayout.fit("example", width: 10) + " " + (ui.ascii ? "ok" : "✓") + " " + "det."
        g.text(heads, x: 1, y: b.y + 1, style: t.dim, maxWidth: listWidth)
        let firstRow = b.y + 2, visible = b.h - 2
        let selected = min(pv.selected, max(0, list.count - 1))
        let top = ListWindow.top(selected: selected, count: list.count, visible: visible)
        for i in top..<min(list.count, top + visible) {
            let e = list[i]
            let ex = m.bundle.examples[e]
            let ok = m.auditedPredictions[e].map { $0 == ex.label }
            let mark = ok.map { $0 ? (ui.ascii ? "ok" : "✓") : (ui.ascii ? "no" : "✗") } ?? " "
            let score = scores[e].map { String(format: "%.2f", $0) } ?? "  – "
            let label = (i < withCount ? "+ " : "− ") + TableLayout.fit(ex.id, width: 10) + " " + mark + " " + score
            let style = i == selected ? t.selection : ok == false ? t.bad : (i < withCount ? t.text : t.dim)
            g.text(label, x: 1, y: firstRow + i - top, style: style, maxWidth: listWidth)
            g.targets[firstRow + i - top] = .row(i, 0..<(listWidth + 1))
            if i == selected { g.text("▶", x: 0, y: firstRow + i - top, style: t.selection) }
        }
        if let p = pv.current {
            drawPreview(p, ui: ui, overlay: pv.overlay, &g, x: listWidth + 2, y: b.y + 1, w: b.w - listWidth - 3, h: b.h - 1,
                        detection: scores[p.example])
        } else if !list.isEmpty {
            g.text("rendering…", x: listWidth + 2, y: b.y + 2, style: t.dim)
        }
    }

    /// The image and its heatmap: side by side (image | heatmap over image) or
    /// the overlay alone, as half blocks, or as the ASCII ramp on monochrome;
    /// a colour-scale legend below.
    static func drawPreview(_ p: Preview, ui: UISnapshot, overlay: Bool, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int,
                            detection: Float? = nil, title: (side: String, model: String)? = nil) {
        let t = ui.theme, m = ui.model
        let ex = m.bundle.examples[p.example]
        // With a title (before / after), the caption is short: the example and label are in the list.
        // Whole phrases only, the prediction kept longest ("predicted water" would name an attribute).
        let maps = m.bundle.hasHeatmaps
        var phrases: [Phrase]
        if let title {
            // "A pre-trained", or just "A" when the model's name and its prediction do not both fit.
            let name = title.model.count + 3 + m.classes[p.predicted].count <= w ? title.model : title.side
            phrases = [Phrase(name, lead: "", priority: 0), Phrase("→ \(m.classes[p.predicted])", priority: 1),
                       Phrase("map \(m.classes[p.mapClass])", lead: ", ", priority: maps ? 3 : 9)]
        } else {
            let full = "\(ex.id): \(m.classes[ex.label]) → predicted \(m.classes[p.predicted])"
            phrases = full.count <= w ? [Phrase(full, lead: "", priority: 0)]
                : [Phrase("\(ex.id):", lead: "", priority: 2), Phrase("\(m.classes[ex.label]) → \(m.classes[p.predicted])", priority: 0)]
            phrases.append(Phrase("map of \(m.classes[p.mapClass])", lead: "; ", priority: maps ? 3 : 9))
            if let detection { phrases.append(Phrase(String(format: "detection %.2f", detection), lead: "; ", priority: 1)) }
        }
        g.text(Phrase.fit(phrases, width: w), x: x, y: y, style: p.predicted == ex.label ? t.good : t.bad, maxWidth: w)
        let map = t.heatmap
        let ascii = ui.ascii || t.monochrome
        // Each picture fits its share of the pane (below the caption, above
        // the legend, at most 32 columns by 16 rows), keeping the aspect ratio.
        let count = overlay ? 1 : 2
        let box = (columns: min(32, (w - 2 * (count - 1)) / count), rows: min(16, h - 3))
        guard box.columns >= 1 && box.rows >= 1 else { return }
        let size = TerminalArt.fit(width: p.image.width, height: p.image.height, columns: box.columns, rows: box.rows)
        // Image and heat are sampled to the picture's pixels (a column and two
        // rows per cell) before colouring and blending: the same sample points
        // as resampling afterwards, a few thousand colour-map lookups instead
        // of one per image pixel. α 0.45: the heat shows where the model looks
        // and the bird stays visible. Pictures are made lazily and cached.
        let small = (width: size.columns, height: 2 * size.rows)
        let image = { p.image.resized(width: small.width, height: small.height) }
        let heat = { Heatmap.bilinear(p.heat.values, gridWidth: p.heat.width, gridHeight: p.heat.height, width: small.width, height: small.height) }
        let pictures: [() -> RGBImage] = overlay ? [{ TerminalArt.overlay(image(), heat: heat(), alpha: 0.45, colormap: map.color) }]
            : [image, { TerminalArt.colored(heat: heat(), colormap: map.color) }]
        for (k, pic) in pictures.enumerated() {
            let px = x + k * (size.columns + 2)
            if ascii {
                let source = k == 1 ? TerminalArt.colored(heat: heat()) { v in
                    let c = UInt8(255 * v); return (c, c, c)
                } : pic()
                for (r, line) in TerminalArt.ascii(source, columns: size.columns, rows: size.rows).enumerated() {
                    g.text(line, x: px, y: y + 1 + r, style: t.text)
                }
            } else {
                let key = "\(p.id) \(overlay) \(k) \(size.columns)x\(size.rows) \(map.rawValue)"
                let blocks = ui.pictures.cells(key) { TerminalArt.halfBlocks(pic(), columns: size.columns, rows: size.rows) }
                for (r, cells) in blocks.enumerated() {
                    for (c, cell) in cells.enumerated() {
                        g[px + c, y + 1 + r] = Cell(character: "▀", style: Style(
                            foreground: .rgb(cell.top[0], cell.top[1], cell.top[2]),
                            background: .rgb(cell.bottom[0], cell.bottom[1], cell.bottom[2])))
                    }
                }
            }
        }
        // Legend: the colour scale from low to high Grad-CAM weight.
        let ly = y + 2 + size.rows
        guard m.bundle.hasHeatmaps else {
            // A blank map would read as "the model looks nowhere".
            g.text(Phrase.prefix([("", "no Grad-CAM:"), (" ", "the bundle has no spatial maps")], width: w), x: x, y: ly, style: t.dim)
            return
        }
        // "low", the ramp and "high" when they fit the pane (14 columns), else the ramp alone.
        let words = w >= 14
        let steps = words ? min(16, w - 10) : max(2, w)
        let rampX = words ? x + 4 : x
        if words { g.text("low", x: x, y: ly, style: t.dim) }
        for i in 0..<steps {
            let v = Float(i) / Float(steps - 1)
            if ascii {
                g[rampX + i, ly] = Cell(character: TerminalArt.rampCharacter(v), style: t.text)
            } else {
                let c = map.color(v)
                g[rampX + i, ly] = Cell(character: " ", style: Style(background: .rgb(c.0, c.1, c.2)))
            }
        }
        if words { g.text("high", x: rampX + steps + 1, y: ly, style: t.dim) }
        // Which map it is, where there is room: old ViT and ResNet bundles' maps are not Grad-CAM.
        if words, let method = HeatmapMethod.of(m.bundle) {
            let label = method.shortLabel, at = rampX + steps + 7
            if at + label.count <= x + w { g.text(label, x: at, y: ly, style: t.dim) }
        }
    }

    // MARK: Train

    /// Tokens laid out in lines of at most `width` characters, never split.
    static func wrap(_ tokens: [String], width: Int, separator: String = "   ") -> [String] {
        var lines: [String] = [], line = ""
        for tok in tokens {
            if line.isEmpty { line = tok } else if line.count + separator.count + tok.count <= width { line += separator + tok } else { lines.append(line); line = tok }
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }

    static func trainScreen(_ ui: UISnapshot, _ g: inout CellGrid, _ b: Box) {
        guard let tv = ui.train else { return }
        let t = ui.theme, s = tv.state
        let attrs = tv.attributes
        // Only the settings the method uses: a setting shown must change the run.
        let applicable = s.settings.applicable
        var tokens = ["Method \(s.method.rawValue) (m/M)"]
        for setting in applicable {
            switch setting {
            case .lossForm: tokens.append("form \(s.lossForm.rawValue) (f)")
            case .absentWords: tokens += tv.absentWords.map { "absent \($0.attribute): '\($0.word)' (e)" }
            case .attributes: tokens.append("attribute \(attrs) (a/A)")
            case .epochs: tokens.append("epochs \(s.epochs) (+/-)")
            case .learningRate: tokens.append("lr \(s.learningRate) (l/L)")
            case .batchSize: tokens.append("batch \(s.batchSize) (b/B)")
            case .optimizer: tokens.append("optimizer \(s.optimizer.rawValue) (o)")
            case .weightDecay: tokens.append("decay \(s.weightDecay) (w/W)")
            case .sampler: tokens.append("sampler \(s.sampler.rawValue) (s)")
            }
        }
        if applicable.contains(where: SettingKeys.typed.contains) { tokens.append("e: type") }
        var y = b.y
        // Every setting with its keys: closer together, and on a fourth line, before any is left out.
        var settings = wrap(tokens, width: b.w - 2)
        if settings.count > 3 { settings = wrap(tokens, width: b.w - 2, separator: "  ") }
        for line in settings.prefix(b.h >= 14 ? 4 : 3) {
            g.text(line, x: 1, y: y, style: t.header, maxWidth: b.w - 2)
            y += 1
        }
        let summary = tv.summary.split(separator: " (", maxSplits: 1).map(String.init)
        g.text(Phrase.prefix([("", summary[0])] + summary.dropFirst().map { (" ", "(" + $0) }, width: b.w - 2),
               x: 1, y: y, style: t.dim, maxWidth: b.w - 2)
        y += 1
        // Whole phrases: the run and its state first, then its best epoch, then the clock.
        var status = [Phrase("Run \(s.runID.map(String.init) ?? "–")\(s.runMethod.map { " (\($0))" } ?? ""): \(s.status)", lead: "", priority: 0)]
        if let elapsed = s.elapsed, s.runID != nil {
            status.append(Phrase(String(format: "elapsed %.0fs", elapsed), lead: "   ", priority: 2))
            if let eta = s.eta { status.append(Phrase(String(format: "ETA %.0fs", eta), lead: ", ", priority: 3)) }
        }
        if let best = s.best {
            let full = "best epoch \(best.epoch): worst group \(pct0(best.validation.worstGroup))"
            let short = status[0].text.count + 3 + full.count <= b.w - 2 ? full : "best \(best.epoch): worst \(pct0(best.validation.worstGroup))"
            status.append(Phrase(short, lead: "   ", priority: 1))
        }
        g.text(Phrase.fit(status, width: b.w - 2), x: 1, y: y, style: s.running ? t.accent : t.text, maxWidth: b.w - 2)
        y += 1
        // Too narrow for the epoch table: one epoch at a time, scrolled with the table's keys.
        if b.w < 90, !s.reports.isEmpty {
            let n = s.reports.count, r = s.reports[max(0, min(n - 1, s.epochCursor ?? n - 1))]
            var parts: [(lead: String, text: String)] = [("", "epoch \(r.epoch) of \(s.reports.last!.epoch):"), (" ", String(format: "loss %.4f", r.trainLoss)),
                                                         (", ", "val avg \(pct0(r.validation.average))"), (", ", "worst \(pct0(r.validation.worstGroup))")]
            if r.epoch == s.best?.epoch { parts.append((" ", "← best")) }
            parts.append(("   ", "↑↓ g/G: other epochs"))
            let line = Phrase.prefix(parts, width: b.w - 2)
            g.text(line, x: 1, y: y, style: r.epoch == s.best?.epoch ? t.good : t.text, maxWidth: b.w - 2)
            y += 1
        }
        let height = b.y + b.h - y
        guard height >= 6 else { return }
        // Epoch table on the right (38 columns), curves on the left.
        let tableWidth = b.w >= 90 ? 40 : 0
        let plotW = b.w - tableWidth - 2
        // Each plot needs three rows between its axis labels (one row would put
        // 70% on the row labelled 0%): short of that, the validation plot alone.
        if (height - 1) / 2 - 3 >= 3 {
            let plotH = (height - 1) / 2
            lossPlot(s, ui: ui, &g, x: 1, y: y, w: plotW, h: plotH)
            validationPlot(s, ui: ui, &g, x: 1, y: y + plotH + 1, w: plotW, h: height - plotH - 1)
        } else if height - 3 >= 3 {
            validationPlot(s, ui: ui, &g, x: 1, y: y, w: plotW, h: height)
        }
        if tableWidth > 0 { epochTable(s, ui: ui, &g, x: b.w - tableWidth, y: y, w: tableWidth - 1, h: height) }
        if !s.running && s.reports.isEmpty {
            for (i, line) in wrap(["Enter starts a run in the background;", "keys keep working while it trains."], width: plotW - 9, separator: " ").enumerated() {
                g.text(line, x: 8, y: y + 2 + i, style: t.dim, maxWidth: plotW - 8)
            }
        }
    }

    /// A braille plot with a y axis (labels at the top and bottom) and an x axis in epochs.
    static func axes(_ g: inout CellGrid, ui: UISnapshot, x: Int, y: Int, w: Int, h: Int, top: String, bottom: String, epochs: Int) {
        let t = ui.theme
        g.text(TableLayout.fit(top, width: 6, rightAligned: true), x: x, y: y, style: t.dim)
        g.text(TableLayout.fit(bottom, width: 6, rightAligned: true), x: x, y: y + h - 1, style: t.dim)
        for r in 0..<h { g.text("┤", x: x + 6, y: y + r, style: t.dim) }
        g.text(String(repeating: "─", count: max(0, w - 7)), x: x + 7, y: y + h, style: t.dim)
        g.text("└", x: x + 6, y: y + h, style: t.dim)
        if epochs > 0 {
            g.text("1", x: x + 7, y: y + h + 1, style: t.dim)
            let last = "\(epochs)"
            g.text("epoch", x: x + 7 + (w - 7) / 2 - 2, y: y + h + 1, style: t.dim)
            g.text(last, x: x + w - last.count, y: y + h + 1, style: t.dim)
        }
    }

    static func lossPlot(_ s: TrainState, ui: UISnapshot, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int) {
        let t = ui.theme
        let plotH = h - 3
        guard plotH >= 1, w > 12 else { return }
        g.text("training loss", x: x + 7, y: y, style: t.dim)
        let losses = s.stepLosses.map(Double.init).filter(\.isFinite)
        guard let lo = losses.min(), let hi = losses.max() else { return }
        axes(&g, ui: ui, x: x, y: y + 1, w: w, h: plotH, top: String(format: "%.3g", hi), bottom: String(format: "%.3g", lo),
             epochs: s.reports.last?.epoch ?? 0)
        Braille.plot(losses, into: &g, x: x + 7, y: y + 1, width: w - 7, height: plotH, style: t.accent, range: lo...max(hi, lo + 1e-9))
    }

    /// Average (braille line) and worst group (• marks) by epoch, in %, the best epoch marked ▲.
    static func validationPlot(_ s: TrainState, ui: UISnapshot, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int) {
        let t = ui.theme
        let plotH = h - 3
        guard plotH >= 1, w > 12 else { return }
        g.text("validation: average ⠒ line, worst group •", x: x + 7, y: y, style: t.dim, maxWidth: w - 7)
        guard !s.reports.isEmpty else { return }
        let n = s.reports.count, pw = w - 7
        axes(&g, ui: ui, x: x, y: y + 1, w: w, h: plotH, top: "100%", bottom: "0%", epochs: s.reports.last!.epoch)
        Braille.plot(s.reports.map { $0.validation.average }, into: &g, x: x + 7, y: y + 1, width: pw, height: plotH, style: t.good, range: 0...1)
        func column(_ i: Int) -> Int { n == 1 ? 0 : Int((Double(i) / Double(n - 1) * Double(pw - 1)).rounded()) }
        for (i, r) in s.reports.enumerated() {
            let row = plotH - 1 - Int((min(max(r.validation.worstGroup, 0), 1) * Double(plotH - 1)).rounded())
            g[x + 7 + column(i), y + 1 + row] = Cell(character: "•", style: t.bad)
        }
        if let best = s.best, let i = s.reports.firstIndex(where: { $0.epoch == best.epoch }) {
            let label = "▲ best \(best.epoch)"
            let cx = x + 7 + column(i)
            g.text(label, x: min(cx, x + w - label.count), y: y + 1 + plotH, style: t.accent)
        }
    }

    static func epochTable(_ s: TrainState, ui: UISnapshot, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int) {
        let t = ui.theme
        g.text("  epoch    loss  val avg   worst", x: x, y: y, style: t.dim)
        let visible = h - 2
        let n = s.reports.count
        // The selected row stays in view (the newest while following).
        let cursor = s.epochCursor.map { max(0, min(n - 1, $0)) }
        let top = ListWindow.top(selected: cursor ?? n - 1, count: n, visible: visible)
        let bestEpoch = s.best?.epoch
        for i in top..<min(n, top + visible) {
            let r = s.reports[i]
            let isBest = r.epoch == bestEpoch
            let line = (i == cursor ? "▶ " : "  ") + String(format: "%5d %7.4f  %@  %@", r.epoch, r.trainLoss, pct(r.validation.average), pct(r.validation.worstGroup)) + (isBest ? " ← best" : "")
            g.text(line, x: x, y: y + 1 + i - top, style: i == cursor ? t.selection : isBest ? t.good : t.text, maxWidth: w)
            g.targets[y + 1 + i - top] = .row(i, x..<(x + w))
        }
        if n > visible {
            g.text("\(top + 1)–\(min(n, top + visible)) of \(n)  PgUp/PgDn g/G", x: x, y: y + h - 1, style: t.dim, maxWidth: w)
        }
    }

    // MARK: Groups

    static func groupsScreen(_ ui: UISnapshot, _ g: inout CellGrid, _ b: Box) {
        guard let s = ui.groups else { return }
        let t = ui.theme
        guard let snap = s.snapshot else {
            g.text("Evaluating on the test split…", x: 1, y: b.y, style: t.dim)
            return
        }
        if s.browsing {
            groupBrowser(ui, s, snap, &g, b)
            return
        }
        let a = snap.a, m = snap.b
        let worstA = a.metrics.groups.min { $0.accuracy < $1.accuracy }?.name
        let worstB = m?.metrics.groups.min { $0.accuracy < $1.accuracy }?.name
        let groups = a.metrics.groups
        // The worst group of each model shown.
        let worst = groups.map { grp -> String in
            let sides = (grp.name == worstA ? "A" : "") + (m != nil && grp.name == worstB ? "B" : "")
            return sides.isEmpty ? "" : "← worst " + sides.map(String.init).joined(separator: "+")
        }
        func columns(named: Bool) -> [TableColumn] {
            var columns = [
                TableColumn("group", width: groups.map(\.name.count).max() ?? 10, priority: 0, minimumWidth: 8),
                TableColumn("n", width: 5, priority: 3, rightAligned: true),
                TableColumn(named ? "A " + a.shortName : "A", width: 6, priority: 0, rightAligned: true),
                TableColumn("✗", width: 4, priority: 4, rightAligned: true),
                TableColumn("AIoU", width: 5, priority: 5, rightAligned: true),
            ]
            if let m {
                columns += [TableColumn(named ? "B " + m.shortName : "B", width: 6, priority: 0, rightAligned: true),
                            TableColumn("✗", width: 4, priority: 4, rightAligned: true),
                            TableColumn("AIoU", width: 5, priority: 5, rightAligned: true), TableColumn("B−A", width: 6, priority: 2, rightAligned: true)]
            }
            columns.append(TableColumn("", width: worst.map(\.count).max() ?? 0, priority: 1))
            return columns
        }
        // The models' names head their columns when that costs no group name; else "A" and "B" (named in the title).
        var layout = TableLayout(columns(named: true), width: b.w - 4)
        let groupNameWidth = groups.map(\.name.count).max() ?? 10
        if layout.widths[0] != groupNameWidth || !layout.isShown(layout.columns.count - 1) {
            layout = TableLayout(columns(named: false), width: b.w - 4)
        }
        let named = layout.columns[2].title != "A"
        var titleParts: [(lead: String, text: String)] = [("", "Test groups:"), (" ", (named ? "" : "A ") + a.name),
                                                          (" vs ", m.map { (named ? "" : "B ") + $0.name } ?? "no run yet")]
        if let source = snap.groupSource { titleParts.append(("; ", source)) }
        let title = Phrase.prefix(titleParts, width: b.w - 2)
        g.text(title, x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        g.text("  " + layout.header, x: 1, y: b.y + 1, style: t.dim, maxWidth: b.w - 2)
        func cells(_ grp: GroupMetric) -> [String] {
            [pct(grp.accuracy), "\(grp.total - grp.correct)", grp.aiou.map { String(format: "%.3f", $0) } ?? "—"]
        }
        // The summary lines below the table; the table scrolls when the groups do not fit above them.
        let summaries = m == nil ? 1 : 2
        let visible = max(1, b.h - 3 - summaries)
        let top = ListWindow.top(selected: s.selected, count: groups.count, visible: visible)
        for i in top..<min(groups.count, top + visible) {
            let grp = groups[i]
            var values = [grp.name, "\(grp.total)"] + cells(grp)
            let r = m.flatMap { i < $0.metrics.groups.count ? $0.metrics.groups[i] : nil }
            if let r { values += cells(r) + [String(format: "%+.1f", 100 * (r.accuracy - grp.accuracy))] }
            values.append(worst[i])
            let style = i == s.selected ? t.selection : (worst[i].isEmpty ? t.text : t.bad)
            let y = b.y + 2 + i - top
            g.text((i == s.selected ? "▶ " : "  ") + layout.line(values), x: 1, y: y, style: style, maxWidth: b.w - 2)
            g.targets[y] = .row(i, 0..<b.w)
        }
        if groups.count > visible {
            let counter = " \(top + 1)–\(min(groups.count, top + visible)) of \(groups.count) "
            g.text(counter, x: 1, y: b.y + 2 + visible, style: t.dim)
        }
        var y = b.y + 3 + min(groups.count, visible)
        for (side, e) in [("A", a), ("B", m)] {
            guard let e else { continue }
            let x = e.metrics
            let line = Phrase.prefix([("", "\(side) \(e.name):"), (" ", "average \(pct0(x.average))"),
                                      (", ", "adjusted \(pct0(x.adjustedAverage))"), (", ", "worst group \(pct0(x.worstGroup))")], width: b.w - 2)
            g.text(line, x: 1, y: y, style: t.text, maxWidth: b.w - 2)
            y += 1
        }
    }

    static func groupBrowser(_ ui: UISnapshot, _ s: GroupsState, _ snap: GroupsSnapshot, _ g: inout CellGrid, _ b: Box) {
        let t = ui.theme, m = ui.model
        let grp = snap.a.metrics.groups[min(s.selected, snap.a.metrics.groups.count - 1)]
        let models = [snap.a] + (snap.b.map { [$0] } ?? [])
        let wrong = models.map { e in s.examples.filter { e.predictions[$0] != grp.label }.count }
        // The counts first: on a narrow terminal the models' names (also in the captions) are what is cut.
        let head = Phrase.prefix([("", "\(grp.name):"), (" ", "\(s.examples.count) test examples"),
                                  (", ", "misclassified: A \(wrong[0])" + (snap.b != nil ? ", B \(wrong[1])" : "")),
                                  (" ", "(A \(snap.a.name)" + (snap.b.map { ", B \($0.name))" } ?? ")"))], width: b.w - 2)
        g.text(head, x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        let visible = b.h - 2
        let top = ListWindow.top(selected: s.exampleIndex, count: s.examples.count, visible: visible)
        func mark(_ ok: Bool) -> String { ui.ascii ? (ok ? "ok" : "no") : (ok ? "✓" : "✗") }
        g.text(" example     A" + (snap.b == nil ? "" : "  B"), x: 0, y: b.y + 1, style: t.dim)
        for i in top..<min(s.examples.count, top + visible) {
            let p = s.examples[i]
            let line = TableLayout.fit(m.bundle.examples[snap.testRows[p]].id, width: 10) + "  "
                + models.map { mark($0.predictions[p] == grp.label) }.joined(separator: "  ")
            let wrong = (snap.b ?? snap.a).predictions[p] != grp.label
            let y = b.y + 2 + i - top
            g.text(line, x: 1, y: y, style: i == s.exampleIndex ? t.selection : wrong ? t.bad : t.text, maxWidth: 24)
            g.targets[y] = .row(i, 0..<25)
            if i == s.exampleIndex { g.text("▶", x: 0, y: y, style: t.selection) }
        }
        let px = 26, pw = b.w - px - 1
        guard let before = s.previews.a else {
            if !s.examples.isEmpty { g.text("rendering…", x: px, y: b.y + 2, style: t.dim) }
            return
        }
        if let after = s.previews.b, let e = snap.b {
            // Before and after: the two models' maps of the same example.
            let half = (pw - 2) / 2
            drawPreview(before, ui: ui, overlay: true, &g, x: px, y: b.y + 1, w: half, h: b.h - 1, title: ("A", "A " + snap.a.shortName))
            drawPreview(after, ui: ui, overlay: true, &g, x: px + half + 2, y: b.y + 1, w: half, h: b.h - 1, title: ("B", "B " + e.shortName))
        } else {
            drawPreview(before, ui: ui, overlay: s.overlay, &g, x: px, y: b.y + 1, w: pw, h: b.h - 1, title: ("A", "A " + snap.a.shortName))
        }
    }

    // MARK: overlays

    /// The model list of `p` (model B) and `P` (model A): the pre-trained model and every run with a checkpoint.
    static func modelPicker(_ ui: UISnapshot, _ s: GroupsState, side: ModelSide, _ g: inout CellGrid) {
        let t = ui.theme
        let title = Phrase.prefix([("", "Model \(side == .a ? "A" : "B")"), (" ", "(Enter: pick, / find, Esc: close)")], width: g.width - 8)
        let a = s.snapshot?.a.choice, b = s.snapshot?.b?.choice
        // Columns drop whole (best epoch first, then the status) on a narrow terminal.
        let layout = TableLayout([TableColumn("", width: 2, priority: 0), TableColumn("", width: 7, priority: 0),
                                  TableColumn("", width: max(9, s.runs.map(\.method.count).max() ?? 0), priority: 0),
                                  TableColumn("", width: 11, priority: 1), TableColumn("", width: 13, priority: 2)],
                                 width: g.width - 8, gap: 1)
        let rows = s.choices.map { choice -> String in
            let shown = (choice == a ? "A" : " ") + (choice == b ? "B" : " ")
            guard case .run(let id) = choice, let r = s.runs.first(where: { $0.id == id }) else {
                return shown + " " + (g.width - 8 >= 26 ? "pre-trained (zero-shot)" : "pre-trained")
            }
            let status = r.isInterrupted ? "interrupted" : r.status == .cancelled ? "✗ cancelled" : r.status.rawValue
            return layout.line([shown, "run \(r.id)", r.method, status, "best epoch \(r.bestEpoch.map(String.init) ?? "–")"])
        }
        let count = rows.count
        let w = min(g.width - 4, max(title.count, rows.map(\.count).max() ?? 20) + 4), h = min(g.height - 2, count + 4)
        let x0 = (g.width - w) / 2, y0 = max(1, (g.height - h) / 2)
        g.fill(x: x0, y: y0, width: w, height: h, style: t.statusBar)
        let visible = h - 4
        let top = ListWindow.top(selected: s.pickIndex, count: count, visible: visible)
        g.text(title, x: x0 + 2, y: y0 + 1, style: t.statusBar, maxWidth: w - 4)
        for i in top..<min(count, top + visible) {
            let y = y0 + 3 + i - top
            g.text(rows[i], x: x0 + 2, y: y, style: i == s.pickIndex ? t.selection : t.statusBar, maxWidth: w - 4)
            g.targets[y] = .choice(i, x0..<(x0 + w))
        }
        if count > visible {
            g.text(" \(top + 1)–\(min(count, top + visible)) of \(count) ", x: x0 + 2, y: y0 + h - 1, style: t.statusBar, maxWidth: w - 4)
        }
    }

    /// The help overlay's lines wrapped to a terminal this wide: a long
    /// description or reason continues under itself, never cut mid-word.
    static func wrapHelp(_ lines: [String], width: Int) -> [String] {
        let natural = lines.map(\.count).max() ?? 20
        let room = max(20, min(width - 8, natural))
        return lines.flatMap { line -> [String] in
            guard line.count > room, line.hasPrefix("  ") else { return [line] }
            let indent = String(repeating: " ", count: 10)
            let words = line.dropFirst(10).split(separator: " ").map(String.init)
            return wrap(words, width: room - 10, separator: " ").enumerated().map { (i, l) in (i == 0 ? String(line.prefix(10)) : indent) + l }
        }
    }

    /// The last first line of the help overlay on a terminal this size.
    public static func helpMaximumTop(_ lines: [String] = KeyBindings.helpLines(), width: Int, height: Int) -> Int {
        let n = wrapHelp(lines, width: width).count
        let visible = min(height - 2, n + 4) - 4
        return max(0, n - visible)
    }

    static func help(_ ui: UISnapshot, _ given: [String], top helpTop: Int, _ g: inout CellGrid) {
        let t = ui.theme
        let lines = wrapHelp(given, width: g.width)
        let w = min(g.width - 4, (lines.map(\.count).max() ?? 20) + 4), h = min(g.height - 2, lines.count + 4)
        let x0 = (g.width - w) / 2, y0 = max(1, (g.height - h) / 2)
        let visible = h - 4
        let top = max(0, min(helpTop, lines.count - visible))
        g.fill(x: x0, y: y0, width: w, height: h, style: t.statusBar)
        let bold = Style(foreground: t.statusBar.foreground, background: t.statusBar.background, bold: true)
        g.text("Keys", x: x0 + 2, y: y0 + 1, style: bold)
        for (i, l) in lines[top..<min(lines.count, top + visible)].enumerated() {
            g.text(l, x: x0 + 2, y: y0 + 2 + i, style: l.hasPrefix(" ") ? t.statusBar : bold, maxWidth: w - 4)
        }
        let more = lines.count > visible ? "lines \(top + 1)–\(min(lines.count, top + visible)) of \(lines.count), ↑↓ PgUp/PgDn scroll; " : ""
        g.text(Phrase.prefix([("", more + "any other key closes")], width: w - 4), x: x0 + 2, y: y0 + h - 1, style: t.statusBar, maxWidth: w - 4)
    }

    static func editor(_ input: TextInput, _ ui: UISnapshot, _ g: inout CellGrid) {
        let t = ui.theme, y = g.height - 2
        switch input {
        case .filter(let text):
            g.fill(x: 0, y: y, width: g.width, height: 1, style: t.statusBar)
            g.text(" filter: \(text)▏  (Enter: keep, Esc: clear)", x: 0, y: y, style: t.statusBar)
        case .search(let text):
            g.fill(x: 0, y: y, width: g.width, height: 1, style: t.statusBar)
            g.text(" find: \(text)▏  (Enter: next match, Esc: close)" + (ui.banner.map { "   " + $0 } ?? ""), x: 0, y: y, style: t.statusBar)
        case .note(let f, let c, let a):
            drawForm(f, title: [("", "\(c) / \(a)"), (" — ", "Enter: save"), (", ", "Esc: cancel"), (", ", "Tab: next field"), (", ", "Ctrl-U: clear")], ui, &g)
        case .trainSettings(let f):
            drawForm(f, title: [("", "Next run's settings"), (" — ", "Enter: apply"), (", ", "Esc: cancel"), (", ", "Tab: next field")], ui, &g)
        }
    }

    /// A form of one-line fields; the focused one shows its cursor and scrolls to keep it visible.
    static func drawForm(_ f: TextForm, title: [(lead: String, text: String)], _ ui: UISnapshot, _ g: inout CellGrid) {
        let t = ui.theme
        let w = min(g.width - 4, 84), x0 = (g.width - w) / 2, y0 = max(1, g.height / 2 - 3)
        g.fill(x: x0, y: y0, width: w, height: f.fields.count + 3, style: t.statusBar)
        g.text(Phrase.prefix(title, width: w - 4), x: x0 + 2, y: y0, style: t.statusBar, maxWidth: w - 4)
        let labelWidth = (f.labels.map(\.count).max() ?? 0) + 2
        let fieldWidth = max(4, w - 4 - labelWidth)
        for i in f.fields.indices {
            var text = Array(f.fields[i])
            var start = 0
            if i == f.focus {
                text.insert("▏", at: min(f.cursor, text.count))
                start = max(0, min(f.cursor + 1 - fieldWidth, text.count - fieldWidth))
            }
            let shown = String(text[min(start, text.count)...].prefix(fieldWidth))
            let line = f.labels[i].padding(toLength: labelWidth, withPad: " ", startingAt: 0) + shown
            g.text(line, x: x0 + 2, y: y0 + 2 + i, style: i == f.focus ? t.selection : t.statusBar, maxWidth: w - 4)
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
