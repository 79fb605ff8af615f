import SpurCore

/// A colour as the views ask for it; the terminal maps it to what it can show.
public enum Color: Equatable, Hashable, Sendable {
    case terminalDefault
    case rgb(UInt8, UInt8, UInt8)
}

public struct Style: Equatable, Hashable, Sendable {
    public var foreground: Color = .terminalDefault
    public var background: Color = .terminalDefault
    public var bold = false
    public var reverse = false

    public init(foreground: Color = .terminalDefault, background: Color = .terminalDefault, bold: Bool = false, reverse: Bool = false) {
        self.foreground = foreground
        self.background = background
        self.bold = bold
        self.reverse = reverse
    }
}

public struct Cell: Equatable, Sendable {
    public var character: Character
    public var style: Style
    public static let blank = Cell(character: " ", style: Style())
}

/// What a click on a row of the screen means.
public enum ClickTarget: Equatable, Sendable {
    /// The tabs: each screen's column range.
    case tabs([(Screen, Range<Int>)])
    /// Row `index` of the current screen's main list, drawn across these columns.
    case row(Int, Range<Int>)
    /// Row `index` of the model list open over the screen (a click picks it there).
    case choice(Int, Range<Int>)

    public static func == (a: ClickTarget, b: ClickTarget) -> Bool {
        switch (a, b) {
        case (.row(let i, let x), .row(let j, let y)), (.choice(let i, let x), .choice(let j, let y)): return i == j && x == y
        case (.tabs(let x), .tabs(let y)): return x.map(\.0) == y.map(\.0) && x.map(\.1) == y.map(\.1)
        default: return false
        }
    }
}

/// The screen as views draw it: a grid of styled characters, no terminal
/// involved, so every view is testable as plain text.
public struct CellGrid: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]
    /// What a click on a screen row selects (the views record it as they draw).
    public var targets: [Int: ClickTarget] = [:]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = [Cell](repeating: .blank, count: self.width * self.height)
    }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { if x >= 0 && y >= 0 && x < width && y < height { cells[y * width + x] = newValue } }
    }

    /// Writes text from (x, y), clipped at `maxWidth` and the grid edge.
    /// Control characters from data are drawn as visible escapes: a cell
    /// holding ESC would be an instruction to the terminal.
    public mutating func text(_ s: String, x: Int, y: Int, style: Style = Style(), maxWidth: Int? = nil) {
        guard y >= 0 && y < height else { return }
        let limit = min(width, x + (maxWidth ?? width))
        var cx = x
        for ch in TerminalText.escaped(s) where cx < limit {
            if cx >= 0 { self[cx, y] = Cell(character: ch, style: style) }
            cx += 1
        }
    }

    public mutating func fill(x: Int, y: Int, width w: Int, height h: Int, style: Style = Style(), character: Character = " ") {
        for yy in max(0, y)..<min(height, y + h) {
            for xx in max(0, x)..<min(width, x + w) { self[xx, yy] = Cell(character: character, style: style) }
        }
    }

    /// One row as plain text (what a person reads), trailing blanks trimmed.
    public func line(_ y: Int) -> String {
        var s = String(cells[(y * width)..<((y + 1) * width)].map(\.character))
        while s.last == " " { s.removeLast() }
        return s
    }

    public var text: String { (0..<height).map(line).joined(separator: "\n") }
}
