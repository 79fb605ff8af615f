import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// Screen 4: per-group accuracy before and after, and the group browser.
extension Views {
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
}
