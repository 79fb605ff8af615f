import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// Screen 1: the ranked attributes of a class and the selected one's detail.
extension Views {
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
}
