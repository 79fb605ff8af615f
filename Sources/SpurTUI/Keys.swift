/// A key as the UI understands it, independent of ncurses codes.
public enum Key: Hashable, Sendable {
    case character(Character)
    case up, down, left, right, pageUp, pageDown, home, end
    case tab, backTab, enter, escape, backspace
    case resize
}

/// Everything a key can do. One table (`KeyBindings.all`) maps keys to
/// actions per screen; dispatch, the hint bar and the `?` overlay all read it,
/// so they cannot disagree.
public enum Action: Hashable, Sendable {
    case quit, help, showScreen(Screen)
    case moveUp, moveDown, pageUp, pageDown, nextClass
    case markSpurious, markHealthy, markUndecided, editNote, filter, toggleSort
    case cycleMapClass, toggleOverlay
    case nextMethod, moreEpochs, fewerEpochs, nextAttribute, nextLearningRate, nextBatchSize, startTraining, cancelTraining
    case openGroup, back, nextRun
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
    /// Shown in the bottom hint bar (the rest only in `?`).
    public var hint: Bool

    /// The words of the description the hint bar has room for.
    public var hintText: String {
        let short: [Action: String] = [.help: "keys", .quit: "quit", .nextClass: "class", .markSpurious: "spurious",
                                       .markHealthy: "healthy", .markUndecided: "undecided", .editNote: "note",
                                       .filter: "filter", .toggleSort: "sort", .cycleMapClass: "map class",
                                       .toggleOverlay: "overlay", .nextMethod: "method", .moreEpochs: "epochs", .nextAttribute: "attribute", .nextLearningRate: "lr",
                                       .startTraining: "start", .cancelTraining: "cancel", .openGroup: "browse",
                                       .back: "back", .nextRun: "next run"]
        return "\(label) \(short[action] ?? description)"
    }
}

public enum KeyBindings {
    static func k(_ c: Character) -> Key { .character(c) }

    public static let all: [KeyBinding] = [
        .init(keys: [k("?")], label: "?", description: "show every key", action: .help, screens: nil, hint: true),
        .init(keys: [k("q")], label: "q", description: "quit (asks while a run is going)", action: .quit, screens: nil, hint: true),
        .init(keys: [k("1")], label: "1", description: "Attributes screen", action: .showScreen(.attributes), screens: nil, hint: false),
        .init(keys: [k("2")], label: "2", description: "Preview screen", action: .showScreen(.preview), screens: nil, hint: false),
        .init(keys: [k("3")], label: "3", description: "Train screen", action: .showScreen(.train), screens: nil, hint: false),
        .init(keys: [k("4")], label: "4", description: "Groups screen", action: .showScreen(.groups), screens: nil, hint: false),
        .init(keys: [.up, k("k")], label: "↑/k", description: "move up", action: .moveUp, screens: nil, hint: false),
        .init(keys: [.down, k("j")], label: "↓/j", description: "move down", action: .moveDown, screens: nil, hint: false),
        .init(keys: [.pageUp], label: "PgUp", description: "page up", action: .pageUp, screens: nil, hint: false),
        .init(keys: [.pageDown], label: "PgDn", description: "page down", action: .pageDown, screens: nil, hint: false),
        .init(keys: [.tab], label: "Tab", description: "next class", action: .nextClass, screens: [.attributes, .preview], hint: true),
        .init(keys: [k("s")], label: "s", description: "mark the attribute spurious for this class", action: .markSpurious, screens: [.attributes], hint: true),
        .init(keys: [k("h")], label: "h", description: "mark it healthy", action: .markHealthy, screens: [.attributes], hint: true),
        .init(keys: [k("u")], label: "u", description: "mark it undecided", action: .markUndecided, screens: [.attributes], hint: true),
        .init(keys: [k("n")], label: "n", description: "edit the note and the L_ls phrases", action: .editNote, screens: [.attributes], hint: true),
        .init(keys: [k("/")], label: "/", description: "filter attributes by name", action: .filter, screens: [.attributes], hint: true),
        .init(keys: [k("o")], label: "o", description: "sort by |δ| or by support", action: .toggleSort, screens: [.attributes], hint: true),
        .init(keys: [k("c")], label: "c", description: "cycle the class whose map is shown", action: .cycleMapClass, screens: [.preview, .groups], hint: true),
        .init(keys: [k("v")], label: "v", description: "side by side or overlay", action: .toggleOverlay, screens: [.preview, .groups], hint: true),
        .init(keys: [k("m")], label: "m", description: "next method", action: .nextMethod, screens: [.train], hint: true),
        .init(keys: [k("+")], label: "+/-", description: "more or fewer epochs", action: .moreEpochs, screens: [.train], hint: true),
        .init(keys: [k("-")], label: "-", description: "fewer epochs", action: .fewerEpochs, screens: [.train], hint: false),
        .init(keys: [k("a")], label: "a", description: "spurious attribute: the marked ones, or one of the vocabulary", action: .nextAttribute, screens: [.train], hint: true),
        .init(keys: [k("l")], label: "l", description: "next learning rate", action: .nextLearningRate, screens: [.train], hint: true),
        .init(keys: [k("b")], label: "b", description: "next batch size", action: .nextBatchSize, screens: [.train], hint: false),
        .init(keys: [.enter], label: "Enter", description: "start the run / open the group", action: .startTraining, screens: [.train], hint: true),
        .init(keys: [k("x")], label: "x", description: "cancel the run (keeps the best checkpoint)", action: .cancelTraining, screens: [.train], hint: true),
        .init(keys: [.enter], label: "Enter", description: "browse the group's examples", action: .openGroup, screens: [.groups], hint: true),
        .init(keys: [.escape, .backspace], label: "Esc", description: "back to the group table", action: .back, screens: [.groups], hint: true),
        .init(keys: [k("r")], label: "r", description: "compare with the next finished run", action: .nextRun, screens: [.groups], hint: true),
    ]

    /// The action of a key on a screen: a screen's own binding first, then a global one.
    public static func action(for key: Key, on screen: Screen) -> Action? {
        all.first { $0.keys.contains(key) && $0.screens?.contains(screen) == true }?.action
            ?? all.first { $0.keys.contains(key) && $0.screens == nil }?.action
    }

    public static func hints(for screen: Screen) -> [KeyBinding] {
        all.filter { $0.hint && ($0.screens == nil || $0.screens!.contains(screen)) }
    }
}
