import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// What is drawn over any screen: the model picker, help, the line editor and forms.
extension Views {
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
