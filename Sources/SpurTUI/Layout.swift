/// How lists and tables fit the space they are given: the window of a list
/// that keeps its selection visible, columns that drop by priority instead of
/// being cut to a misleading stub, and hint bars that keep whole hints.
public enum ListWindow {
    /// The first row shown so that `selected` is visible (kept near the middle
    /// while the list scrolls, pinned at either end).
    public static func top(selected: Int, count: Int, visible: Int) -> Int {
        guard visible > 0, count > visible else { return 0 }
        let s = max(0, min(count - 1, selected))
        return max(0, min(s - visible / 2, count - visible))
    }
}

/// One column of a text table.
public struct TableColumn: Sendable {
    public var title: String
    /// The width the column wants (its widest value or title).
    public var width: Int
    /// 0 is kept longest; larger numbers are dropped first when the table is too wide.
    public var priority: Int
    public var rightAligned: Bool
    /// A name column: it may shrink to `minimumWidth`, its values ending in "…".
    /// Other columns are shown whole or not at all.
    public var minimumWidth: Int?

    public init(_ title: String, width: Int, priority: Int, rightAligned: Bool = false, minimumWidth: Int? = nil) {
        self.title = title
        self.width = max(width, title.count)
        self.priority = priority
        self.rightAligned = rightAligned
        self.minimumWidth = minimumWidth
    }
}

public struct TableLayout: Sendable {
    public let columns: [TableColumn]
    /// Width of each column, nil where the column is dropped.
    public let widths: [Int?]
    public let gap: Int

    /// Drops the optional columns (priority ≥ 2, the least important first)
    /// until the rest fit in `width` at full width; then shortens name
    /// columns; then drops the more important columns if it must.
    public init(_ columns: [TableColumn], width: Int, gap: Int = 2) {
        self.columns = columns
        self.gap = gap
        var kept = Array(columns.indices)
        func need(_ kept: [Int], shrunk: Bool) -> Int {
            kept.map { shrunk ? (columns[$0].minimumWidth ?? columns[$0].width) : columns[$0].width }.reduce(0, +)
                + gap * max(0, kept.count - 1)
        }
        // Optional columns (priority ≥ 2) go before a name is shortened;
        // then, if shortening is not enough, the rest by priority.
        func drop(while tooWide: () -> Bool, above priority: Int) {
            while kept.count > 1 && tooWide() {
                // The highest priority number goes; among equals the rightmost.
                let drop = kept.max { (columns[$0].priority, $0) < (columns[$1].priority, $1) }!
                guard columns[drop].priority > priority else { return }
                kept.removeAll { $0 == drop }
            }
        }
        drop(while: { need(kept, shrunk: false) > width }, above: 1)
        drop(while: { need(kept, shrunk: true) > width }, above: -1)
        var w = [Int?](repeating: nil, count: columns.count)
        for i in kept { w[i] = columns[i].width }
        var excess = need(kept, shrunk: false) - width
        for i in kept where excess > 0 {
            guard let m = columns[i].minimumWidth else { continue }
            let cut = min(excess, columns[i].width - m)
            w[i] = columns[i].width - cut
            excess -= cut
        }
        widths = w
    }

    public func isShown(_ i: Int) -> Bool { widths[i] != nil }

    /// One row of the table: `values` in column order, dropped columns skipped.
    public func line(_ values: [String]) -> String {
        var parts: [String] = []
        for (i, v) in values.enumerated() {
            guard i < columns.count, let w = widths[i] else { continue }
            parts.append(Self.fit(v, width: w, rightAligned: columns[i].rightAligned))
        }
        return parts.joined(separator: String(repeating: " ", count: gap))
    }

    public var header: String { line(columns.map(\.title)) }

    /// `s` padded to `width`, or cut with "…" (only name columns are ever narrower than their values).
    public static func fit(_ s: String, width: Int, rightAligned: Bool = false) -> String {
        guard width > 0 else { return "" }
        if s.count > width { return width == 1 ? "…" : String(s.prefix(width - 1)) + "…" }
        let pad = String(repeating: " ", count: width - s.count)
        return rightAligned ? pad + s : s + pad
    }
}

public enum HintBar {
    /// As many whole hints as fit in `width` (in the given order), then the
    /// `always` ones, which are never dropped.
    public static func fit(_ hints: [String], always: [String], width: Int, separator: String = "  ") -> String {
        let tail = always.joined(separator: separator)
        var chosen: [String] = []
        var used = tail.count
        for h in hints where used + separator.count + h.count <= width {
            chosen.append(h)
            used += separator.count + h.count
        }
        return (chosen + always).joined(separator: separator)
    }

    /// Up to `maxLines` lines of whole hints in order, the `always` ones
    /// ending the last line; one line whenever everything fits in one.
    public static func lines(_ hints: [String], always: [String], width: Int, maxLines: Int, separator: String = "  ") -> [String] {
        let all = (hints + always).joined(separator: separator)
        guard maxLines > 1, all.count > width else { return [fit(hints, always: always, width: width, separator: separator)] }
        var lines: [String] = [], rest = hints[...]
        while lines.count < maxLines - 1, let first = rest.first {
            var line = first
            rest = rest.dropFirst()
            while let next = rest.first, line.count + separator.count + next.count <= width {
                line += separator + next
                rest = rest.dropFirst()
            }
            lines.append(line)
        }
        lines.append(fit(Array(rest), always: always, width: width, separator: separator))
        return lines
    }
}

/// A line made of phrases that are shown whole or not at all: a line cut
/// mid-word misleads ("predicted water" for "predicted waterbird"), a
/// missing phrase does not.
public struct Phrase: Sendable {
    public var text: String
    /// Put before the phrase when another one precedes it ("; ", " ").
    public var lead: String
    /// 0 is kept longest; the phrases are kept by priority, then shown in their order.
    public var priority: Int

    public init(_ text: String, lead: String = " ", priority: Int) {
        self.text = text; self.lead = lead; self.priority = priority
    }

    /// The phrases that fit in `width`, chosen by priority (the earlier one
    /// among equals), shown in order. When the most important one does not
    /// fit, it alone is shown, cut with "…": the line is never silently
    /// empty, and the others never appear without it.
    public static func fit(_ phrases: [Phrase], width: Int) -> String {
        guard width > 0, !phrases.isEmpty else { return "" }
        func line(_ kept: Set<Int>) -> String {
            var s = ""
            for i in phrases.indices where kept.contains(i) { s += (s.isEmpty ? "" : phrases[i].lead) + phrases[i].text }
            return s
        }
        let order = phrases.indices.sorted { (phrases[$0].priority, $0) < (phrases[$1].priority, $1) }
        // The others mean little without the most important one: cut it visibly rather than show them alone.
        guard phrases[order[0]].text.count <= width else {
            return TableLayout.fit(phrases[order[0]].text, width: width).trimmingCharacters(in: .whitespaces)
        }
        var kept: Set<Int> = []
        for i in order where line(kept.union([i])).count <= width { kept.insert(i) }
        return line(kept)
    }

    /// The longest prefix of `texts` (each with its lead) that fits in
    /// `width`: for lines where a later phrase reads as part of an earlier
    /// one, so none may be skipped. The first is cut with "…" when nothing fits.
    public static func prefix(_ texts: [(lead: String, text: String)], width: Int) -> String {
        guard width > 0, let first = texts.first else { return "" }
        guard first.text.count <= width else { return TableLayout.fit(first.text, width: width).trimmingCharacters(in: .whitespaces) }
        var s = first.text
        for t in texts.dropFirst() {
            guard s.count + t.lead.count + t.text.count <= width else { break }
            s += t.lead + t.text
        }
        return s
    }
}
