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
    case openGroup, back, nextRun, pickRun, pickBaseline
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

/// The keys of every screen: the global ones and each controller's own.
/// Dispatch, the hint bar and the `?` overlay all read this one table, so
/// they cannot disagree.
public enum KeyBindings {
    public static let all: [KeyBinding] = App.globalBindings + AttributesController.bindings + PreviewController.bindings
        + TrainController.bindings + GroupsController.bindings + shared

    /// Keys several screens share, with no one screen's controller to own
    /// them: each screen that lists them handles the action.
    public static let shared: [KeyBinding] = [
        .init(keys: [.character("/")], label: "/", description: "find in the list: an example by id, a group or a model by name, an epoch by number (Enter: next)", action: .search, screens: [.preview, .groups, .train], hint: true, short: "find"),
        .init(keys: [.character("c")], label: "c", description: "cycle the class whose map is shown", action: .cycleMapClass, screens: [.preview, .groups], hint: true, short: "map class"),
        .init(keys: [.character("v")], label: "v", description: "side by side or overlay", action: .toggleOverlay, screens: [.preview, .groups], hint: true, short: "overlay"),
    ]

    /// The binding of a key on a screen: a screen's own first, then a global one.
    public static func binding(for key: Key, on screen: Screen) -> KeyBinding? {
        all.first { $0.keys.contains(key) && $0.screens?.contains(screen) == true }
            ?? all.first { $0.keys.contains(key) && $0.screens == nil }
    }

    /// How far a key moves a list (a screen's, the help overlay's, a picker's):
    /// the movement bindings of the global table and the wheel, one rule
    /// for every list. `Int.min / 2` and `Int.max / 2` mean first and last.
    public static func movement(for key: Key) -> Int? {
        switch key {
        case .wheelUp: return -1
        case .wheelDown: return 1
        default: break
        }
        guard let action = all.first(where: { $0.screens == nil && $0.keys.contains(key) })?.action else { return nil }
        return movement(of: action)
    }

    public static func movement(of action: Action) -> Int? {
        switch action {
        case .moveUp: return -1
        case .moveDown: return 1
        case .pageUp: return -10
        case .pageDown: return 10
        case .top: return Int.min / 2
        case .bottom: return Int.max / 2
        default: return nil
        }
    }

    /// The action of a key on a screen: a screen's own binding first, then a global one.
    public static func action(for key: Key, on screen: Screen) -> Action? { binding(for: key, on: screen)?.action }

    /// The hint bar's keys, in the order space is given out: the screen's
    /// own first (Train's "Enter start" before the "/ find" it shares with
    /// two other screens), then shared ones, then global ones.
    public static func hints(for screen: Screen) -> [KeyBinding] {
        let shown = all.filter { $0.hint && ($0.screens == nil || $0.screens!.contains(screen)) }
        return shown.filter { $0.screens == [screen] } + shown.filter { ($0.screens?.count ?? 0) > 1 } + shown.filter { $0.screens == nil }
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
