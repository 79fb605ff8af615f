import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// Screen 3: the run's settings, its curves and the epoch table.
extension Views {
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
}
