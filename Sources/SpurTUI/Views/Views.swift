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
}
