import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The application: routes keys to the current screen's controller (which
/// owns that screen's state, keys and handlers), delivers background results,
/// and makes the plain snapshot `Views` draws. Only the UI thread touches it.
/// The workspace and checkpoints are read, and verdicts written, off the UI
/// thread: one latest-wins runner per kind of job, one ordered queue for writes.
public final class App {
    public let model: UIModel
    public var theme: Theme
    public let ascii: Bool
    public var screen: Screen = .attributes
    public var showHelp = false
    /// First line of the help overlay shown (it scrolls).
    public var helpTop = 0
    /// The terminal's height as last drawn: how far the help overlay can scroll.
    public var viewportHeight = 40
    /// Its width: the help overlay wraps its lines to it.
    public var viewportWidth = 120
    /// What clicks hit, from the last frame drawn.
    public var targets: [Int: ClickTarget] = [:]
    public var banner: String?
    public var input: TextInput?
    /// The workspace's current decision of every (class, attribute) pair.
    public var decisions: [String: Decision] = [:]
    public private(set) var shouldQuit = false
    var quitArmed = false

    // The screens' controllers.
    private(set) lazy var attributes = AttributesController(app: self)
    private(set) lazy var preview = PreviewController(app: self)
    private(set) lazy var train = TrainController(app: self)
    private(set) lazy var groups = GroupsController(app: self)

    /// Pictures already resampled for the terminal: a preview is drawn on
    /// every frame (ten a second while a run trains) but changes rarely.
    let pictures = PictureCache()
    let inbox = Inbox()
    let previewJobs = JobRunner("preview"), groupPreviewJobs = JobRunner("group-preview"), groupJobs = JobRunner("groups")
    let workspaceJobs = JobRunner("workspace"), projectionJobs = JobRunner("projection")
    let writes = WriteQueue()
    /// Writes submitted so far: a workspace read begun before the newest write is not applied.
    var writeGeneration = 0
    var lastRefresh = Date.distantPast

    public init(model: UIModel, theme: Theme, ascii: Bool) {
        self.model = model
        self.theme = theme
        self.ascii = ascii
        // Start-up reads the workspace once, before the first frame: it shows the verdicts and the latest run.
        apply(.workspace(Self.readWorkspace(model, requested: nil, me: Int(getpid())), generation: 0))
        lastRefresh = Date()
    }

    /// The keys every screen has.
    static let globalBindings: [KeyBinding] = [
        .init(keys: [.character("?"), .f1], label: "?", description: "show every key (F1)", action: .help, screens: nil, hint: true, short: "keys"),
        .init(keys: [.character("q"), .control("c")], label: "q", description: "quit (asks while a run is going)", action: .quit, screens: nil, hint: true, short: "quit"),
        .init(keys: [.character("1")], label: "1-4", description: "Attributes, Preview, Train, Groups screen (or click a tab)", action: .showScreen(.attributes), screens: nil, hint: false),
        .init(keys: [.character("2")], label: "2", description: "Preview screen", action: .showScreen(.preview), screens: nil, hint: false, inHelp: false),
        .init(keys: [.character("3")], label: "3", description: "Train screen", action: .showScreen(.train), screens: nil, hint: false, inHelp: false),
        .init(keys: [.character("4")], label: "4", description: "Groups screen", action: .showScreen(.groups), screens: nil, hint: false, inHelp: false),
        .init(keys: [.up, .character("k")], label: "↑↓/jk", description: "move (or click a row; the wheel scrolls)", action: .moveUp, screens: nil, hint: false),
        .init(keys: [.down, .character("j")], label: "↓/j", description: "move down", action: .moveDown, screens: nil, hint: false, inHelp: false),
        .init(keys: [.pageUp], label: "PgUp/Dn", description: "page up or down", action: .pageUp, screens: nil, hint: false),
        .init(keys: [.pageDown], label: "PgDn", description: "page down", action: .pageDown, screens: nil, hint: false, inHelp: false),
        .init(keys: [.character("g"), .home], label: "g/G", description: "first or last row (Home/End)", action: .top, screens: nil, hint: false),
        .init(keys: [.character("G"), .end], label: "G", description: "last row", action: .bottom, screens: nil, hint: false, inHelp: false),
    ]

    var current: any ScreenController { controller(screen) }

    func controller(_ s: Screen) -> any ScreenController {
        switch s {
        case .attributes: return attributes
        case .preview: return preview
        case .train: return train
        case .groups: return groups
        }
    }

    /// Stops a local run (Ctrl-C in the UI); its best checkpoint is kept.
    public func engineCancel() { train.engine?.cancel() }

    /// The screen is final: no background job runs, none has a result
    /// waiting in the inbox, and no run trains. What the status bar's
    /// `ready` says and end-to-end tests wait for. The runners are asked
    /// before the inbox: a job posts its result before it stops being busy,
    /// so a job that finishes between the two questions is still seen.
    public var isIdle: Bool { jobsIdle && inbox.isEmpty && !train.state.running }

    var jobsIdle: Bool {
        !previewJobs.busy && !groupPreviewJobs.busy && !groupJobs.busy && !projectionJobs.busy && !writes.busy
    }

    /// Waits for the background jobs (not a training run) and applies their
    /// results: for tests, which must not go on to assert on a screen that
    /// is still changing, so a timeout throws.
    public func settle(timeout: Double = 30) throws {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            drain()
            if jobsIdle && inbox.isEmpty { return }
            Thread.sleep(forTimeInterval: 0.005)
        } while Date() < deadline
        throw SettleTimedOut(seconds: timeout)
    }

    /// Before the process exits: cancel a local run and give its thread a
    /// bounded time to leave BLAS. If it does not, the run is recorded as
    /// cancelled here; the caller then exits without OpenBLAS's exit handler
    /// (`_exit`), which would otherwise wait for that thread forever.
    public func prepareExit(wait seconds: Double = 0.5) {
        guard let engine = train.engine else { return }
        engine.cancel()
        if !engine.waitForEnd(seconds: seconds), let run = train.localRun {
            try? model.workspace.updateRun(run, status: .cancelled, message: "cancelled when the UI quit")
        }
    }

    /// Shows this preview directly (benchmarks and tests).
    public func setPreview(_ p: Preview) { preview.state.current = p }

    /// Why a key does nothing right now (nil: it works): the hint bar leaves
    /// such keys out, the banner and the `?` overlay give the reason.
    public func disabledReason(_ action: Action) -> String? {
        switch action {
        case .quit, .help, .showScreen, .moveUp, .moveDown, .pageUp, .pageDown, .top, .bottom: return nil
        default: return current.disabledReason(action)
        }
    }

    // MARK: keys

    public func handle(_ key: Key) {
        switch key {
        case .resize: return
        case .click(let x, let y): click(x: x, y: y); return
        case .wheelUp, .wheelDown:
            if current.capturesInput { current.handleCaptured(key); return }
            // The wheel scrolls three rows (the help overlay, or the screen's list).
            for _ in 0..<3 { handle(key == .wheelUp ? .up : .down) }
            return
        default: break
        }
        if let input { handleInput(key, input); return }
        if showHelp { handleHelp(key); return }
        if current.capturesInput { current.handleCaptured(key); return }
        let binding = KeyBindings.binding(for: key, on: screen)
        if binding?.action != .quit { quitArmed = false }
        banner = nil
        guard let binding else { return }
        if let why = disabledReason(binding.action) {
            banner = "\(binding.label): \(why)"
            return
        }
        switch binding.action {
        case .quit:
            if train.localRunGoing && !quitArmed && key != .control("c") {
                quitArmed = true
                banner = "A run is going: press q again to cancel it and quit."
            } else {
                train.engine?.cancel()
                shouldQuit = true
            }
        case .help: showHelp = true; helpTop = 0
        case .showScreen(let s): show(s)
        case .moveUp, .moveDown, .pageUp, .pageDown, .top, .bottom: current.move(KeyBindings.movement(of: binding.action)!)
        default: current.perform(binding.action)
        }
    }

    func show(_ s: Screen) {
        screen = s
        current.didShow()
    }

    /// A click selects a tab or a row of the list under it (the frame last drawn says which).
    func click(x: Int, y: Int) {
        guard input == nil, !showHelp else { return }
        if current.capturesInput { current.clickCaptured(targets[y], x: x); return }
        switch targets[y] {
        case .tabs(let ranges)?:
            if let hit = ranges.first(where: { $0.1.contains(x) }) { banner = nil; show(hit.0) }
        case .row(let i, let xs)? where xs.contains(x):
            guard let selected = current.clickableSelection else { return }
            current.move(i - selected)
        default: break
        }
    }

    func handleHelp(_ key: Key) {
        let last = Views.helpMaximumTop(helpLines(), width: viewportWidth, height: viewportHeight)
        // Space pages down too, as in a pager.
        guard let delta = key == .character(" ") ? 10 : KeyBindings.movement(for: key) else { showHelp = false; return }
        helpTop = max(0, min(last, min(last, helpTop) + delta))
    }

    /// An editor is open: its owner handles the key.
    func handleInput(_ key: Key, _ input: TextInput) {
        switch input {
        case .filter(let text): attributes.handleFilter(key, text)
        case .note(let form, let c, let a): attributes.handleNote(key, form: form, className: c, attribute: a)
        case .trainSettings(let form): train.handleSettings(key, form)
        case .search(var text):
            let noun = searchList().noun
            switch key {
            case .escape: self.input = nil
            case .enter: if !find(text, after: true) { banner = "no other \(noun) matches '\(text)'" }
            case .backspace: if !text.isEmpty { text.removeLast() }; self.input = .search(text); _ = find(text, after: false)
            case .character(let ch):
                text.append(ch); self.input = .search(text)
                banner = find(text, after: false) ? nil : "no \(noun) matches '\(text)'"
            default: break
            }
        }
    }

    /// The list `/` searches where the user is: the open model list, the
    /// Groups table or a group's examples, the epoch table, or the Preview's examples.
    func searchList() -> SearchList {
        if screen == .groups { return groups.searchList() }
        if screen == .train { return train.searchList() }
        return preview.searchList()
    }

    /// Moves the list's selection to the first row whose text contains
    /// `text`, from the current row (or the one after it); wraps around.
    @discardableResult
    func find(_ text: String, after: Bool) -> Bool {
        guard !text.isEmpty else { return true }
        let list = searchList()
        let n = list.labels.count
        guard n > 0 else { return false }
        for k in 0..<(after ? n - 1 : n) {
            let i = (list.current + (after ? 1 : 0) + k) % n
            if list.matches(list.labels[i], text) {
                if i != list.current { list.select(i) }
                return true
            }
        }
        return false
    }

    // MARK: background work

    /// Runs a workspace write off the UI thread, after every earlier one; its result comes back as a message.
    func write(_ job: @escaping @Sendable (Workspace) throws -> WriteResult) {
        writeGeneration += 1
        let workspace = model.workspace, inbox = inbox, generation = writeGeneration
        writes.submit {
            do { inbox.post(.written(try job(workspace), generation: generation)) }
            catch { inbox.post(.written(.banner("Could not save: \(error)"), generation: generation)) }
        }
    }

    /// Applies everything background work has delivered; true when something changed.
    @discardableResult
    public func drain() -> Bool {
        let messages = inbox.drain()
        for m in messages { apply(m) }
        if Date().timeIntervalSince(lastRefresh) > 1 && !workspaceJobs.busy {
            lastRefresh = Date()
            refreshWorkspace()
        }
        return !messages.isEmpty
    }

    /// Verdicts made in another process, and runs started from the CLI,
    /// appear without a restart: the workspace is re-read about once a second, off the UI thread.
    func refreshWorkspace() {
        let model = self.model, inbox = self.inbox, requested = train.state.runID, generation = writeGeneration
        workspaceJobs.submit {
            inbox.post(.workspace(Self.readWorkspace(model, requested: requested, me: Int(getpid())), generation: generation))
        }
    }

    static func readWorkspace(_ model: UIModel, requested: Int64?, me: Int) -> WorkspaceSnapshot {
        let decisions = (try? model.workspace.currentDecisions()) ?? []
        let runs = (try? model.workspace.runs()) ?? []
        let live = runs.last { $0.status == .running && $0.pid != me && !$0.isInterrupted }
        let shown = live ?? runs.first { $0.id == requested } ?? runs.last
        let epochs = shown.map { r in
            ((try? model.workspace.epochs(run: r.id)) ?? []).compactMap { try? JSONDecoder().decode(EpochReport.self, from: Data($0.metrics.utf8)) }
        } ?? []
        return WorkspaceSnapshot(decisions: decisions, runs: runs, shown: shown, shownEpochs: epochs)
    }

    func apply(_ m: Message) {
        switch m {
        case .preview(let p): preview.state.current = p
        case .groupsPreview(let a, let b): groups.state.previews = (a, b)
        case .jobFailed(let text): banner = text
        case .projection(let key, let p): attributes.applyProjection(key: key, p)
        case .projectionFailed(let key, let text): attributes.projectionFailed(key: key); banner = text
        case .groups(let s): groups.apply(s)
        case .workspace(let w, let generation): applyWorkspace(w, generation: generation)
        case .engine(let e): train.applyEngine(e)
        case .written(let result, _):
            switch result {
            case .saved(let d, let text, let marked):
                attributes.saved(d, marked: marked)
                banner = text
            case .banner(let text): banner = text
            }
        }
    }

    func applyWorkspace(_ w: WorkspaceSnapshot, generation: Int) {
        // Decisions read before the newest write would undo it on screen until the next read.
        if generation == writeGeneration && !writes.busy {
            let fresh = Dictionary(w.decisions.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
            if fresh != decisions {
                decisions = fresh
                if attributes.projection != nil || fresh.values.contains(where: { $0.verdict == .spurious }) { attributes.loadProjection() }
            }
        }
        // A new comparable run (finished elsewhere) refreshes the Groups table.
        groups.workspaceRuns(w.runs)
        train.applyWorkspace(w)
    }

    // MARK: the frame's snapshot

    /// The `?` overlay's lines, with the reasons of the current screen's
    /// disabled keys only (the others' depend on their screen).
    func helpLines() -> [String] {
        KeyBindings.helpLines { action in
            KeyBindings.all.contains { $0.action == action && $0.screens?.contains(self.screen) == true } ? self.disabledReason(action) : nil
        }
    }

    public func snapshot() -> UISnapshot {
        let hints = KeyBindings.hints(for: screen)
            .filter { $0.action != .help && $0.action != .quit && disabledReason($0.action) == nil }.map(\.hintText)
        let help = showHelp ? (helpLines(), helpTop) : nil
        return UISnapshot(model: model, theme: theme, ascii: ascii, screen: screen, banner: banner, input: input, help: help,
                          hints: hints, engineStatus: train.state.status, idle: isIdle,
                          attributes: screen == .attributes ? attributes.snapshot() : nil,
                          preview: screen == .preview ? preview.snapshot() : nil,
                          train: screen == .train ? train.snapshot() : nil,
                          groups: screen == .groups ? groups.snapshot() : nil,
                          pictures: pictures)
    }
}

/// Background jobs were still running (or their results undelivered) when `App.settle` gave up.
public struct SettleTimedOut: Error, CustomStringConvertible {
    public var seconds: Double
    public var description: String { "the UI's background jobs did not settle within \(seconds) s" }
}

/// A list `/` searches: each row's text, the selected row, and how to select another.
struct SearchList {
    var noun: String
    var labels: [String]
    var current: Int
    /// Whether a row's text matches what was typed (by default: contains it, any case).
    var matches: (_ label: String, _ typed: String) -> Bool = { $0.localizedCaseInsensitiveContains($1) }
    var select: (Int) -> Void

    init(noun: String, labels: [String], current: Int,
         matches: @escaping (_ label: String, _ typed: String) -> Bool = { $0.localizedCaseInsensitiveContains($1) },
         select: @escaping (Int) -> Void) {
        (self.noun, self.labels, self.current, self.matches, self.select) = (noun, labels, current, matches, select)
    }
}

/// The last few pictures drawn, keyed by preview, picture and size.
final class PictureCache {
    private var entries: [(key: String, cells: [[TerminalArt.HalfBlock]])] = []

    func cells(_ key: String, _ make: () -> [[TerminalArt.HalfBlock]]) -> [[TerminalArt.HalfBlock]] {
        if let hit = entries.first(where: { $0.key == key }) { return hit.cells }
        let cells = make()
        entries.append((key, cells))
        if entries.count > 8 { entries.removeFirst() }
        return cells
    }
}
