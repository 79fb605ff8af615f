import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The application: one owner of all UI state, updated by keys and by
/// messages from background work, drawn by `Views` into a `CellGrid`.
/// Only the UI thread touches it. Reads of the workspace and of checkpoints
/// happen in background jobs (one latest-wins runner per kind of job).
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
    /// What clicks hit, from the last frame drawn.
    public var targets: [Int: ClickTarget] = [:]
    public var banner: String?
    public var input: TextInput?
    public var attributes = AttributesState()
    public var preview = PreviewState()
    /// Shows this preview directly (benchmarks and tests).
    public func setPreview(_ p: Preview) { preview.current = p }
    public var train = TrainState()
    public var groups = GroupsState()
    public var decisions: [String: Decision] = [:]
    /// Pictures already resampled for the terminal: a preview is drawn on
    /// every frame (ten a second while a run trains) but changes rarely.
    let pictures = PictureCache()
    /// The orth-proj preview for the attributes marked spurious: zero-shot
    /// and projected zero-shot test metrics (key: the attributes joined).
    public var projection: (key: String, preview: OrthogonalProjection.Preview)?
    public private(set) var shouldQuit = false
    var quitArmed = false
    let inbox = Inbox()
    let previewJobs = JobRunner("preview"), groupJobs = JobRunner("groups")
    let workspaceJobs = JobRunner("workspace"), projectionJobs = JobRunner("projection")
    var engine: TrainingEngine?
    /// The run the local engine trains (its events own the Train screen while it runs).
    var localRun: Int64?
    var lastRefresh = Date.distantPast
    /// Undo bookkeeping: decisions undone, and the ones undo wrote.
    var undone: Set<Int64> = [], undoRecords: Set<Int64> = []

    public init(model: UIModel, theme: Theme, ascii: Bool) {
        self.model = model
        self.theme = theme
        self.ascii = ascii
        // Start-up reads the workspace once, synchronously: the first frame shows the verdicts and the latest run.
        apply(.workspace(Self.readWorkspace(model, requested: nil, me: Int(getpid()))))
        lastRefresh = Date()
    }

    /// Stops a local run (Ctrl-C in the UI); its best checkpoint is kept.
    public func engineCancel() { engine?.cancel() }

    /// No background work pending: what end-to-end tests wait for.
    public var isIdle: Bool {
        !previewJobs.busy && !groupJobs.busy && !projectionJobs.busy && !train.running
    }

    /// Before the process exits: cancel a local run and give its thread a
    /// bounded time to leave BLAS. If it does not, the run is recorded as
    /// cancelled here; the caller then exits without OpenBLAS's exit handler
    /// (`_exit`), which would otherwise wait for that thread forever.
    public func prepareExit(wait seconds: Double = 0.5) {
        guard let engine else { return }
        engine.cancel()
        if !engine.waitForEnd(seconds: seconds), let run = localRun {
            try? model.workspace.updateRun(run, status: .cancelled, message: "cancelled when the UI quit")
        }
    }

    // MARK: rows of the Attributes screen

    /// The audit table never changes, so the ranked rows depend only on
    /// (class, order, filter): ranked once per combination, not on every frame
    /// and every key that asks for the selected row.
    private var rankedRows: (key: String, rows: [DiscrepancyRow])?

    public func attributeRows() -> [DiscrepancyRow] {
        let key = "\(attributes.classIndex)\u{1}\(attributes.order)\u{1}\(attributes.filter)"
        if let cached = rankedRows, cached.key == key { return cached.rows }
        var rows = attributes.order.rank(model.audit.table.rows.filter { $0.classIndex == attributes.classIndex })
        if !attributes.filter.isEmpty {
            rows = rows.filter { model.audit.attributes[$0.attribute].localizedCaseInsensitiveContains(attributes.filter) }
        }
        rankedRows = (key, rows)
        return rows
    }

    /// The longest attribute name (the table's name column), measured once.
    public private(set) lazy var attributeNameWidth = model.audit.attributes.map(\.count).max() ?? 9

    public func verdict(className: String, attribute: String) -> Decision? { decisions["\(className)\u{1}\(attribute)"] }

    var selectedAttribute: DiscrepancyRow? {
        let rows = attributeRows()
        return rows.isEmpty ? nil : rows[min(attributes.selected, rows.count - 1)]
    }

    // MARK: keys

    public func handle(_ key: Key) {
        if key == .resize { return }
        switch key {
        case .click(let x, let y): click(x: x, y: y); return
        // The wheel scrolls three rows (the help overlay, or the screen's list).
        case .wheelUp: for _ in 0..<3 { handle(.up) }; return
        case .wheelDown: for _ in 0..<3 { handle(.down) }; return
        default: break
        }
        if input != nil { handleInput(key); return }
        if showHelp { handleHelp(key); return }
        if groups.picking && screen == .groups { handlePicker(key); return }
        let action = KeyBindings.action(for: key, on: screen)
        if action != .quit { quitArmed = false }
        banner = nil
        guard let action else { return }
        if let why = disabledReason(action) {
            let label = KeyBindings.all.first { $0.action == action }?.label ?? ""
            banner = "\(label): \(why)"
            return
        }
        switch action {
        case .quit:
            if train.running && !train.external && !quitArmed && key != .control("c") {
                quitArmed = true
                banner = "A run is going: press q again to cancel it and quit."
            } else {
                engine?.cancel()
                shouldQuit = true
            }
        case .help: showHelp = true; helpTop = 0
        case .showScreen(let s): show(s)
        case .moveUp: move(-1)
        case .moveDown: move(1)
        case .pageUp: move(-10)
        case .pageDown: move(10)
        case .top: move(Int.min / 2)
        case .bottom: move(Int.max / 2)
        case .nextClass:
            attributes.classIndex = (attributes.classIndex + 1) % model.classes.count
            attributes.selected = 0
            if screen == .preview { preview.selected = 0; loadPreview() }
        case .markSpurious: mark(.spurious)
        case .markHealthy: mark(.healthy)
        case .markUndecided: mark(.undecided)
        case .undo: undo()
        case .editNote:
            guard let row = selectedAttribute else { return }
            let c = model.classes[row.classIndex], a = model.audit.attributes[row.attribute]
            let d = verdict(className: c, attribute: a)
            let phrases = Decision.defaultPhrases(a)
            input = .note(form: TextForm(labels: ["note", "phrase present", "phrase absent"],
                                         fields: [d?.note ?? "", d?.phrasePresent ?? phrases.present, d?.phraseAbsent ?? phrases.absent]),
                          className: c, attribute: a)
        case .filter: input = .filter(attributes.filter)
        case .search:
            guard screen == .preview || groups.browsing else { banner = "/: open a group (Enter) to find an example in it"; return }
            input = .search("")
        case .clearFilter: attributes.filter = ""; attributes.selected = 0
        case .cycleOrder:
            let all = AttributeOrder.allCases
            attributes.order = all[(all.firstIndex(of: attributes.order)! + 1) % all.count]
            attributes.selected = 0
        case .cycleMapClass:
            // The first press moves away from the class shown (the example's label), not to class 0.
            if screen == .preview {
                guard let shown = preview.current?.mapClass ?? currentPreviewExample().map({ model.bundle.examples[$0].label }) else { return }
                preview.mapClass = (shown + 1) % model.classes.count
                loadPreview()
            } else if groups.browsing {
                guard let e = currentGroupExample() else { return }
                let shown = groups.preview?.mapClass ?? groups.mapClass ?? model.bundle.examples[e].label
                groups.mapClass = (shown + 1) % model.classes.count
                loadGroupPreview()
            }
        case .toggleOverlay:
            if screen == .preview { preview.overlay.toggle() } else { groups.overlay.toggle() }
        case .nextMethod, .previousMethod:
            guard settingsEditable() else { return }
            let n = Method.allCases.count
            train.methodIndex = (train.methodIndex + (action == .nextMethod ? 1 : n - 1)) % n
        case .moreEpochs: if settingsEditable() { train.epochs = min(1000, train.epochs + (train.epochs >= 20 ? 10 : 1)) }
        case .fewerEpochs: if settingsEditable() { train.epochs = max(1, train.epochs - (train.epochs > 20 ? 10 : 1)) }
        case .nextAttribute, .previousAttribute:
            guard settingsEditable() else { return }
            // nil (the marked attributes) and each vocabulary attribute, in a cycle.
            let choices: [String?] = [nil] + model.bundle.manifest.attributes.map(Optional.some)
            let i = choices.firstIndex(of: train.attribute) ?? 0
            train.attribute = choices[(i + (action == .nextAttribute ? 1 : choices.count - 1)) % choices.count]
        case .nextLearningRate, .previousLearningRate:
            if settingsEditable() { train.learningRate = step(TrainState.learningRates, train.learningRate, up: action == .nextLearningRate) }
        case .nextBatchSize, .previousBatchSize:
            if settingsEditable() { train.batchSize = step(TrainState.batchSizes, train.batchSize, up: action == .nextBatchSize) }
        case .nextWeightDecay, .previousWeightDecay:
            if settingsEditable() { train.weightDecay = step(TrainState.weightDecays, train.weightDecay, up: action == .nextWeightDecay) }
        case .toggleOptimizer: if settingsEditable() { train.optimizer = train.optimizer == .sgd ? .adam : .sgd }
        case .toggleSampler: if settingsEditable() { train.sampler = train.sampler == .natural ? .groupBalanced : .natural }
        case .toggleLossForm:
            guard settingsEditable() else { return }
            guard train.method.hasLossForm else { banner = "f: only ours-ls and ours-vs have a loss form"; return }
            train.lossForm = train.lossForm == .paper ? .official : .paper
            // As on the CLI: the official form defaults to group-balanced batches (s changes it back).
            train.sampler = train.lossForm == .official ? .groupBalanced : .natural
        case .typeSettings:
            guard settingsEditable() else { return }
            input = .trainSettings(TextForm(labels: ["epochs", "learning rate", "batch size", "weight decay"],
                                            fields: ["\(train.epochs)", "\(train.learningRate)", "\(train.batchSize)", "\(train.weightDecay)"]))
        case .startTraining: startTraining()
        case .cancelTraining:
            if train.running && !train.external { engine?.cancel(); train.status = "cancelling…" }
            else { banner = train.external ? "x: the run belongs to another process (Ctrl-C there stops it)" : "x: no run is training" }
        case .resumeRun: resumeRun()
        case .openGroup: openGroup()
        case .back: groups.browsing = false; groups.preview = nil; groups.runPreview = nil
        case .nextRun:
            let runs = groups.runs
            guard !runs.isEmpty else { banner = "No finished run to compare with yet: start one on the Train screen (3)."; return }
            let i = runs.firstIndex { $0.id == groups.snapshot?.runID } ?? -1
            groups.runID = runs[(i + 1) % runs.count].id
            loadGroups()
        case .pickRun:
            guard !groups.runs.isEmpty else { banner = "No finished run to compare with yet: start one on the Train screen (3)."; return }
            groups.picking = true
            groups.pickIndex = groups.runs.firstIndex { $0.id == groups.snapshot?.runID } ?? groups.runs.count - 1
        }
    }

    /// Moves the list's selection to the first example whose id contains
    /// `text`, from the current row (or the one after it); wraps around.
    @discardableResult
    func find(_ text: String, after: Bool) -> Bool {
        guard !text.isEmpty else { return true }
        let bundleRows: [Int], current: Int
        if screen == .preview {
            bundleRows = previewList().all; current = preview.selected
        } else if screen == .groups && groups.browsing, let s = groups.snapshot {
            bundleRows = groups.examples.map { s.testRows[$0] }; current = groups.exampleIndex
        } else { return false }
        let n = bundleRows.count
        guard n > 0 else { return false }
        for k in 0..<n {
            let i = (current + (after ? 1 : 0) + k) % n
            if model.bundle.examples[bundleRows[i]].id.localizedCaseInsensitiveContains(text) {
                if i != current { move(i - current) }
                return true
            }
        }
        return false
    }

    /// A click selects a tab or a row of the list under it (the frame last drawn says which).
    func click(x: Int, y: Int) {
        guard input == nil, !showHelp, !groups.picking else { return }
        switch targets[y] {
        case .tabs(let ranges)?:
            if let hit = ranges.first(where: { $0.1.contains(x) }) { banner = nil; show(hit.0) }
        case .row(let i, let xs)? where xs.contains(x):
            let current: Int
            switch screen {
            case .attributes: current = attributes.selected
            case .preview: current = preview.selected
            case .train: return
            case .groups: current = groups.browsing ? groups.exampleIndex : groups.selected
            }
            move(i - current)
        default: break
        }
    }

    func handleHelp(_ key: Key) {
        let last = Views.helpMaximumTop(height: viewportHeight)
        switch key {
        case .down, .character("j"): helpTop = min(last, helpTop + 1)
        case .up, .character("k"): helpTop = max(0, min(last, helpTop) - 1)
        case .pageDown, .character(" "): helpTop = min(last, helpTop + 10)
        case .pageUp: helpTop = max(0, min(last, helpTop) - 10)
        case .home, .character("g"): helpTop = 0
        case .end, .character("G"): helpTop = last
        default: showHelp = false
        }
    }

    func show(_ s: Screen) {
        screen = s
        switch s {
        case .preview: loadPreview()
        case .groups: if groups.snapshot == nil || !groupJobs.busy { loadGroups() }
        default: break
        }
    }

    func move(_ delta: Int) {
        func clamp(_ v: Int, _ n: Int) -> Int { max(0, min(n - 1, v)) }
        switch screen {
        case .attributes:
            attributes.selected = clamp(attributes.selected + delta, attributeRows().count)
        case .preview:
            let n = previewList().all.count
            guard n > 0 else { return }
            let old = preview.selected
            preview.selected = clamp(preview.selected + delta, n)
            if old != preview.selected { loadPreview() }
        case .train:
            // Scrolls the epoch table; the newest epoch again when scrolled to the end.
            let n = train.reports.count
            let top = clamp((train.tableTop ?? n) + delta, n)
            train.tableTop = delta > 0 && top >= n - 1 ? nil : top
        case .groups:
            if groups.browsing {
                guard !groups.examples.isEmpty else { return }
                let old = groups.exampleIndex
                groups.exampleIndex = clamp(groups.exampleIndex + delta, groups.examples.count)
                if old != groups.exampleIndex { loadGroupPreview() }
            } else {
                groups.selected = clamp(groups.selected + delta, groups.pretrained?.groups.count ?? 0)
            }
        }
    }

    func handleInput(_ key: Key) {
        switch input {
        case .filter(var text):
            switch key {
            case .enter: attributes.filter = text; input = nil
            case .escape: attributes.filter = ""; input = nil
            case .backspace: if !text.isEmpty { text.removeLast() }; input = .filter(text); attributes.filter = text
            case .control("u"): text = ""; input = .filter(text); attributes.filter = text
            case .character(let ch): text.append(ch); input = .filter(text); attributes.filter = text
            default: break
            }
            attributes.selected = 0
        case .search(var text):
            switch key {
            case .escape: input = nil
            case .enter: if !find(text, after: true) { banner = "no other example matches '\(text)'" }
            case .backspace: if !text.isEmpty { text.removeLast() }; input = .search(text); _ = find(text, after: false)
            case .character(let ch):
                text.append(ch); input = .search(text)
                if !find(text, after: false) { banner = "no example matches '\(text)'" } else { banner = nil }
            default: break
            }
        case .note(var form, let c, let a):
            switch key {
            case .escape: input = nil
            case .enter:
                do {
                    let v = verdict(className: c, attribute: a)?.verdict ?? .undecided
                    let d = try model.workspace.record(className: c, attribute: a, verdict: v, note: form.fields[0],
                                                       phrasePresent: form.fields[1], phraseAbsent: form.fields[2])
                    decisions["\(c)\u{1}\(a)"] = d
                    banner = "\(c) / \(a): note and phrases saved"
                } catch {
                    banner = "Could not save: \(error)"
                }
                input = nil
            default:
                if form.edit(key) { input = .note(form: form, className: c, attribute: a) }
            }
        case .trainSettings(var form):
            switch key {
            case .escape: input = nil
            case .enter:
                if let error = applyTyped(form.fields) { banner = error } else { input = nil }
            default:
                if form.edit(key) { input = .trainSettings(form) }
            }
        case nil: break
        }
    }

    // MARK: preview

    /// Drawn every frame on the Preview screen: computed once per (class, attribute).
    var previewLists: [Int: (all: [Int], withCount: Int, scores: [Int: Float])] = [:]

    // MARK: messages

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
        let model = self.model, inbox = self.inbox, requested = train.runID
        workspaceJobs.submit { inbox.post(.workspace(Self.readWorkspace(model, requested: requested, me: Int(getpid())))) }
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
        case .preview(let p, _):
            preview.current = p
        case .groupsPreview(let before, let after):
            groups.preview = before
            groups.runPreview = after
        case .jobFailed(let text): banner = text
        case .projection(let key, let p):
            if key == Decision.spuriousAttributes(Array(decisions.values)).joined(separator: " + ") { projection = (key, p) }
        case .groups(let s):
            let keep = currentGroupExample()
            groups.snapshot = s
            if groups.browsing {
                // The run changed (r, p, or a run finished): re-sort by the new model, keep the example shown.
                groups.examples = groupMembers(s)
                let position = keep.flatMap { row in groups.examples.firstIndex { s.testRows[$0] == row } }
                groups.exampleIndex = position ?? 0
                loadGroupPreview()
            }
        case .workspace(let w):
            applyWorkspace(w)
        case .engine(let e):
            applyEngine(e)
        }
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
