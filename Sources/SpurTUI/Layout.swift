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
}
