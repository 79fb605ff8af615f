/// A key as the UI understands it, independent of ncurses codes.
public enum Key: Hashable, Sendable {
    case character(Character)
    /// Ctrl plus a letter (lower case): Ctrl-U is `.control("u")`.
    case control(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case tab, backTab, enter, escape, backspace, delete
    case f1
    case resize
    /// A left click at a cell, and the wheel.
    case click(x: Int, y: Int)
    case wheelUp, wheelDown
}

/// Everything a key can do. One table (`KeyBindings.all`) maps keys to
/// actions per screen; dispatch, the hint bar and the `?` overlay all read it,
/// so they cannot disagree.
public enum Action: Hashable, Sendable {
    case quit, help, showScreen(Screen)
    case moveUp, moveDown, pageUp, pageDown, top, bottom, nextClass
    case markSpurious, markHealthy, markUndecided, undo, editNote, filter, clearFilter, cycleOrder, search
    case cycleMapClass, toggleOverlay
    case nextMethod, previousMethod, moreEpochs, fewerEpochs, nextAttribute, previousAttribute
    case nextLearningRate, previousLearningRate, nextBatchSize, previousBatchSize
    case nextWeightDecay, previousWeightDecay, toggleOptimizer, toggleSampler, toggleLossForm, typeSettings
    case startTraining, cancelTraining, resumeRun
    case openGroup, back, nextRun, pickRun
}

public enum Screen: Int, CaseIterable, Sendable {
    case attributes = 1, preview, train, groups
    public var title: String {
        switch self {
        case .attributes: return "Attributes"
        case .preview: return "Preview"
        case .train: return "Train"
        case .groups: return "Groups"
        }
    }
}

public struct KeyBinding: Sendable {
    public var keys: [Key]
    /// How the key is written in the hint bar and the help overlay.
    public var label: String
    public var description: String
    public var action: Action
    /// Screens where the binding applies; nil means everywhere.
    public var screens: Set<Screen>?
    /// Shown in the bottom hint bar (the rest only in `?`); earlier ones win when space is short.
    public var hint: Bool
    /// The short word of the hint bar.
    public var short: String? = nil
    /// False for the second half of a pair already described (`-` of `+/-`).
    public var inHelp = true

    public var hintText: String { "\(label) \(short ?? description)" }
}

public enum KeyBindings {
    static func k(_ c: Character) -> Key { .character(c) }
    static let attributes: Set<Screen> = [.attributes], preview: Set<Screen> = [.preview]
    static let train: Set<Screen> = [.train], groups: Set<Screen> = [.groups]

    public static let all: [KeyBinding] = [
        .init(keys: [k("?"), .f1], label: "?", description: "show every key", action: .help, screens: nil, hint: true, short: "keys"),
        .init(keys: [k("q"), .control("c")], label: "q", description: "quit (asks while a run is going)", action: .quit, screens: nil, hint: true, short: "quit"),
        .init(keys: [k("1")], label: "1-4", description: "Attributes, Preview, Train, Groups screen", action: .showScreen(.attributes), screens: nil, hint: false),
        .init(keys: [k("2")], label: "2", description: "Preview screen", action: .showScreen(.preview), screens: nil, hint: false, inHelp: false),
        .init(keys: [k("3")], label: "3", description: "Train screen", action: .showScreen(.train), screens: nil, hint: false, inHelp: false),
        .init(keys: [k("4")], label: "4", description: "Groups screen", action: .showScreen(.groups), screens: nil, hint: false, inHelp: false),
        .init(keys: [.up, k("k")], label: "↑↓/jk", description: "move", action: .moveUp, screens: nil, hint: false),
        .init(keys: [.down, k("j")], label: "↓/j", description: "move down", action: .moveDown, screens: nil, hint: false, inHelp: false),
        .init(keys: [.pageUp], label: "PgUp/Dn", description: "page up or down", action: .pageUp, screens: nil, hint: false),
        .init(keys: [.pageDown], label: "PgDn", description: "page down", action: .pageDown, screens: nil, hint: false, inHelp: false),
        .init(keys: [k("g"), .home], label: "g/G", description: "first or last row (Home/End)", action: .top, screens: nil, hint: false),
        .init(keys: [k("G"), .end], label: "G", description: "last row", action: .bottom, screens: nil, hint: false, inHelp: false),
        .init(keys: [.tab], label: "Tab", description: "next class", action: .nextClass, screens: [.attributes, .preview], hint: true, short: "class"),
        .init(keys: [k("s")], label: "s", description: "mark the attribute spurious for this class", action: .markSpurious, screens: attributes, hint: true, short: "spurious"),
        .init(keys: [k("h")], label: "h", description: "mark it healthy", action: .markHealthy, screens: attributes, hint: true, short: "healthy"),
        .init(keys: [k("u")], label: "u", description: "mark it undecided", action: .markUndecided, screens: attributes, hint: true, short: "undecided"),
        .init(keys: [k("U"), .control("z")], label: "U", description: "undo the last verdict (Ctrl-Z)", action: .undo, screens: attributes, hint: true, short: "undo"),
        .init(keys: [k("n")], label: "n", description: "edit the note and the L_ls phrases", action: .editNote, screens: attributes, hint: true, short: "note"),
        .init(keys: [k("/")], label: "/", description: "filter attributes by name (Esc clears)", action: .filter, screens: attributes, hint: true, short: "filter"),
        .init(keys: [.escape], label: "Esc", description: "clear the filter", action: .clearFilter, screens: attributes, hint: false, inHelp: false),
        .init(keys: [k("o")], label: "o", description: "next order: evidence, |δ|, δ, −δ, support", action: .cycleOrder, screens: attributes, hint: true, short: "order"),
        .init(keys: [k("/")], label: "/", description: "find an example by id (Enter: next match)", action: .search, screens: [.preview, .groups], hint: true, short: "find"),
        .init(keys: [k("c")], label: "c", description: "cycle the class whose map is shown", action: .cycleMapClass, screens: [.preview, .groups], hint: true, short: "map class"),
        .init(keys: [k("v")], label: "v", description: "side by side or overlay", action: .toggleOverlay, screens: [.preview, .groups], hint: true, short: "overlay"),
        .init(keys: [.enter], label: "Enter", description: "start the run", action: .startTraining, screens: train, hint: true, short: "start"),
        .init(keys: [k("x")], label: "x", description: "cancel the run (keeps the best checkpoint)", action: .cancelTraining, screens: train, hint: true, short: "cancel"),
        .init(keys: [k("R")], label: "R", description: "resume the interrupted or cancelled run shown", action: .resumeRun, screens: train, hint: true, short: "resume"),
        .init(keys: [k("m")], label: "m/M", description: "next or previous method", action: .nextMethod, screens: train, hint: true, short: "method"),
        .init(keys: [k("M")], label: "M", description: "previous method", action: .previousMethod, screens: train, hint: false, inHelp: false),
        .init(keys: [k("a")], label: "a/A", description: "spurious attribute: the marked ones, or one of the vocabulary", action: .nextAttribute, screens: train, hint: true, short: "attribute"),
        .init(keys: [k("A")], label: "A", description: "previous attribute", action: .previousAttribute, screens: train, hint: false, inHelp: false),
        .init(keys: [k("+")], label: "+/-", description: "more or fewer epochs", action: .moreEpochs, screens: train, hint: true, short: "epochs"),
        .init(keys: [k("-")], label: "-", description: "fewer epochs", action: .fewerEpochs, screens: train, hint: false, inHelp: false),
        .init(keys: [k("l")], label: "l/L", description: "larger or smaller learning rate", action: .nextLearningRate, screens: train, hint: true, short: "lr"),
        .init(keys: [k("L")], label: "L", description: "smaller learning rate", action: .previousLearningRate, screens: train, hint: false, inHelp: false),
        .init(keys: [k("b")], label: "b/B", description: "larger or smaller batch", action: .nextBatchSize, screens: train, hint: true, short: "batch"),
        .init(keys: [k("B")], label: "B", description: "smaller batch", action: .previousBatchSize, screens: train, hint: false, inHelp: false),
        .init(keys: [k("w")], label: "w/W", description: "more or less weight decay", action: .nextWeightDecay, screens: train, hint: true, short: "decay"),
        .init(keys: [k("W")], label: "W", description: "less weight decay", action: .previousWeightDecay, screens: train, hint: false, inHelp: false),
        .init(keys: [k("o")], label: "o", description: "optimizer: sgd or adam", action: .toggleOptimizer, screens: train, hint: true, short: "optimizer"),
        .init(keys: [k("s")], label: "s", description: "sampler: natural or group-balanced", action: .toggleSampler, screens: train, hint: true, short: "sampler"),
        .init(keys: [k("f")], label: "f", description: "loss form of ours-ls/vs: paper or official", action: .toggleLossForm, screens: train, hint: true, short: "form"),
        .init(keys: [k("e")], label: "e", description: "type epochs, lr, batch size and weight decay", action: .typeSettings, screens: train, hint: true, short: "edit"),
        .init(keys: [.enter], label: "Enter", description: "browse the group's examples", action: .openGroup, screens: groups, hint: true, short: "browse"),
        .init(keys: [.escape, .backspace], label: "Esc", description: "back to the group table", action: .back, screens: groups, hint: true, short: "back"),
        .init(keys: [k("r")], label: "r", description: "compare with the next finished run", action: .nextRun, screens: groups, hint: true, short: "next run"),
        .init(keys: [k("p")], label: "p", description: "pick the run to compare from a list", action: .pickRun, screens: groups, hint: true, short: "pick run"),
    ]

    /// The action of a key on a screen: a screen's own binding first, then a global one.
    public static func action(for key: Key, on screen: Screen) -> Action? {
        all.first { $0.keys.contains(key) && $0.screens?.contains(screen) == true }?.action
            ?? all.first { $0.keys.contains(key) && $0.screens == nil }?.action
    }

    public static func hints(for screen: Screen) -> [KeyBinding] {
        all.filter { $0.hint && ($0.screens == nil || $0.screens!.contains(screen)) }
    }

    /// The `?` overlay: every key once, grouped by where it works; a key
    /// that does nothing right now says why.
    public static func helpLines(disabled: (Action) -> String? = { _ in nil }) -> [String] {
        var lines: [String] = []
        let sections: [(String, Set<Screen>?)] = [("Everywhere", nil)] + Screen.allCases.map { ("\($0.rawValue) \($0.title)", [$0]) }
        for (title, scope) in sections {
            let keys = all.filter { b in
                guard b.inHelp else { return false }
                if let scope { return b.screens.map { !$0.isDisjoint(with: scope) } ?? false }
                return b.screens == nil
            }
            guard !keys.isEmpty else { continue }
            if !lines.isEmpty { lines.append("") }
            lines.append(title)
            for b in keys {
                let why = disabled(b.action).map { "  (now: \($0))" } ?? ""
                lines.append("  " + b.label.padding(toLength: 8, withPad: " ", startingAt: 0) + b.description + why)
            }
        }
        return lines
    }
}
