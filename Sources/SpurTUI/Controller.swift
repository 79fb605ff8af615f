/// One screen's controller, as lazygit's controllers are: it owns the
/// screen's state, its key bindings (the text the hint bar and the `?`
/// overlay show, and the reason a key does nothing right now) and the
/// handlers those keys run. `App` routes keys and background results to
/// it; the views draw from the plain snapshot it makes.
protocol ScreenController: AnyObject {
    /// The screen's own keys (the global ones are `App.globalBindings`).
    static var bindings: [KeyBinding] { get }
    /// Why `action` does nothing now; nil when it is enabled.
    func disabledReason(_ action: Action) -> String?
    /// Runs an enabled action of `bindings`.
    func perform(_ action: Action)
    /// Moves the screen's list selection (↑↓, PgUp/PgDn, g/G, the wheel, clicks).
    func move(_ delta: Int)
    /// The selected row of the list clicks address (nil: the screen has no clickable list).
    var clickableSelection: Int? { get }
    /// The screen became the one shown.
    func didShow()
    /// An overlay of the screen's own is open (Groups' model list): it takes
    /// every key and click before the bindings do.
    var capturesInput: Bool { get }
    func handleCaptured(_ key: Key)
    func clickCaptured(_ target: ClickTarget?, x: Int)
}

extension ScreenController {
    func didShow() {}
    var capturesInput: Bool { false }
    func handleCaptured(_ key: Key) {}
    func clickCaptured(_ target: ClickTarget?, x: Int) {}
}

/// Clamps `v` into `0..<n` (0 when the list is empty).
func clamp(_ v: Int, _ n: Int) -> Int { max(0, min(n - 1, v)) }
