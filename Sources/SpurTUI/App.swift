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
        if input != nil { handleInput(key); return }
        if showHelp { handleHelp(key); return }
        if groups.picking && screen == .groups { handlePicker(key); return }
        let action = KeyBindings.action(for: key, on: screen)
        if action != .quit { quitArmed = false }
        banner = nil
        guard let action else { return }
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

    /// The next or previous value of a ladder (from the nearest rung when the value was typed).
    func step<T: Comparable>(_ ladder: [T], _ value: T, up: Bool) -> T {
        if up { return ladder.first { $0 > value } ?? ladder.last! }
        return ladder.last { $0 < value } ?? ladder.first!
    }

    func settingsEditable() -> Bool {
        guard train.running && !train.external else { return true }
        banner = "Settings apply to the next run: this one is training (x cancels it)."
        return false
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

    func handlePicker(_ key: Key) {
        let n = groups.runs.count
        switch key {
        case .down, .character("j"): groups.pickIndex = min(n - 1, groups.pickIndex + 1)
        case .up, .character("k"): groups.pickIndex = max(0, groups.pickIndex - 1)
        case .enter:
            groups.picking = false
            if groups.pickIndex < n { groups.runID = groups.runs[groups.pickIndex].id; loadGroups() }
        case .escape, .character("q"), .character("p"): groups.picking = false
        default: break
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

    func mark(_ v: Verdict) {
        guard let row = selectedAttribute else { return }
        let c = model.classes[row.classIndex], a = model.audit.attributes[row.attribute]
        do {
            let d = try model.workspace.record(className: c, attribute: a, verdict: v)
            decisions["\(c)\u{1}\(a)"] = d
            banner = "\(c) / \(a): \(v.rawValue) (saved)"
            if v == .spurious || d.previousVerdict == .spurious { loadProjection() }
        } catch {
            banner = "Could not save: \(error)"
        }
    }

    /// Undoes the newest verdict not yet undone: the pair gets back its
    /// previous decision from the workspace's history (or undecided).
    func undo() {
        do {
            let history = try model.workspace.history()
            guard let last = history.last(where: { !undone.contains($0.id) && !undoRecords.contains($0.id) }) else {
                banner = "Nothing to undo."
                return
            }
            let before = history.last { $0.id < last.id && $0.className == last.className && $0.attribute == last.attribute }
            let phrases = Decision.defaultPhrases(last.attribute)
            let d = try model.workspace.record(className: last.className, attribute: last.attribute, verdict: before?.verdict ?? .undecided,
                                               note: before?.note ?? "", phrasePresent: before?.phrasePresent ?? phrases.present,
                                               phraseAbsent: before?.phraseAbsent ?? phrases.absent)
            undone.insert(last.id)
            undoRecords.insert(d.id)
            decisions["\(d.className)\u{1}\(d.attribute)"] = d
            banner = "undone: \(last.className) / \(last.attribute) is \(d.verdict.rawValue) again (was \(last.verdict.rawValue))"
            loadProjection()
        } catch {
            banner = "Could not undo: \(error)"
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

    /// Typed epochs, learning rate, batch size and weight decay: all or none applied.
    func applyTyped(_ fields: [String]) -> String? {
        let t = fields.map { $0.trimmingCharacters(in: .whitespaces) }
        guard let epochs = Int(t[0]), (1...100_000).contains(epochs) else { return "epochs: '\(t[0])' is not a whole number from 1 to 100000" }
        guard let lr = Float(t[1]), lr.isFinite, lr > 0 else { return "learning rate: '\(t[1])' is not a number above 0" }
        guard let batch = Int(t[2]), batch >= 1 else { return "batch size: '\(t[2])' is not a whole number ≥ 1" }
        guard let wd = Float(t[3]), wd.isFinite, wd >= 0 else { return "weight decay: '\(t[3])' is not a number ≥ 0" }
        train.epochs = epochs; train.learningRate = lr; train.batchSize = batch; train.weightDecay = wd
        return nil
    }

    // MARK: preview

    /// Drawn every frame on the Preview screen: computed once per (class, attribute).
    var previewLists: [Int: (all: [Int], withCount: Int, scores: [Int: Float])] = [:]

    /// Every validation example of the class with the attribute, then every one without.
    public func previewList() -> (all: [Int], withCount: Int, scores: [Int: Float]) {
        guard let row = selectedAttribute else { return ([], 0, [:]) }
        let key = row.classIndex * model.audit.attributes.count + row.attribute
        if let cached = previewLists[key] { return cached }
        let e = model.examples(class: row.classIndex, attribute: row.attribute, limit: .max)
        var scores: [Int: Float] = [:]
        for d in model.bundle.detections where d.attribute == row.attribute { scores[d.example] = d.score }
        let list = (e.with + e.without, e.with.count, scores)
        previewLists[key] = list
        return list
    }

    func currentPreviewExample() -> Int? {
        let list = previewList().all
        return list.isEmpty ? nil : list[min(preview.selected, list.count - 1)]
    }

    func loadPreview() {
        guard let example = currentPreviewExample() else { preview.current = nil; return }
        let mapClass = preview.mapClass ?? model.bundle.examples[example].label
        let model = self.model, inbox = self.inbox
        previewJobs.submit {
            do { inbox.post(.preview(try model.preview(example: example, mapClass: mapClass, classifier: nil), forGroups: false)) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    /// What orth-proj would do with the attributes marked spurious, computed off the UI thread.
    func loadProjection() {
        let spurious = Decision.spuriousAttributes(Array(decisions.values))
        guard !spurious.isEmpty else { projection = nil; return }
        let key = spurious.joined(separator: " + ")
        if projection?.key == key { return }
        let bundle = model.bundle, decisions = Array(self.decisions.values), inbox = self.inbox
        projectionJobs.submit {
            do { inbox.post(.projection(key: key, try OrthogonalProjection.preview(bundle: bundle, attributes: spurious, decisions: decisions))) }
            catch { inbox.post(.jobFailed("orth-proj preview: \(error)")) }
        }
    }

    // MARK: groups

    func loadGroups() {
        let model = self.model, inbox = self.inbox
        let requested = groups.runID
        groupJobs.submit {
            do { inbox.post(.groups(try Self.evaluateGroups(model, run: requested))) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    /// The test split under the pre-trained model and a run (the one asked
    /// for, else the latest with a checkpoint): metrics and every prediction.
    static func evaluateGroups(_ model: UIModel, run requested: Int64?) throws -> GroupsSnapshot {
        let runs = try model.workspace.runs().filter { ($0.status != .running || $0.isInterrupted) && $0.bestCheckpoint != nil }
        var config = TrainingConfig(method: .zeroshot)
        config.attributes = model.bundle.groupAttributes
        let data = try TrainingData.prepare(bundle: model.bundle, config: config, decisions: [])
        let zeroShot = Evaluation.classifier(model.pretrained, data: data)
        var snapshot = GroupsSnapshot(
            pretrained: try Evaluation.metrics(zeroShot, data: data, split: data.test, bundle: model.bundle),
            run: nil, runID: nil, runs: runs, testRows: data.test.rows, testLabels: data.test.labels,
            testValues: data.test.evaluationValues, pretrainedPredictions: zeroShot.predict(data.test.images),
            runPredictions: nil, runClassifier: nil)
        if let record = runs.first(where: { $0.id == requested }) ?? runs.last {
            // A dfr / orth-proj run's checkpoint holds its own class side.
            let classifier = try RunCheckpoints.bestClassifier(run: record.id, workspace: model.workspace, like: model.pretrained,
                                                               classTemplates: data.classTemplates, templateCount: data.templateCount)
            snapshot.runID = record.id
            snapshot.run = try Evaluation.metrics(classifier, data: data, split: data.test, bundle: model.bundle)
            snapshot.runPredictions = classifier.predict(data.test.images)
            snapshot.runClassifier = classifier
        }
        return snapshot
    }

    /// The selected group's examples (positions in the test split), misclassified first
    /// by the model compared (the run, or the pre-trained model).
    func groupMembers(_ s: GroupsSnapshot) -> [Int] {
        guard !s.pretrained.groups.isEmpty else { return [] }
        let g = s.pretrained.groups[min(groups.selected, s.pretrained.groups.count - 1)]
        let members = s.testLabels.indices.filter { s.testLabels[$0] == g.label && s.testValues[$0] == g.value }
        let predictions = s.runPredictions ?? s.pretrainedPredictions
        return members.filter { predictions[$0] != g.label } + members.filter { predictions[$0] == g.label }
    }

    func openGroup() {
        guard let s = groups.snapshot else { return }
        groups.examples = groupMembers(s)
        groups.exampleIndex = 0
        groups.browsing = true
        loadGroupPreview()
    }

    func currentGroupExample() -> Int? {
        guard let s = groups.snapshot, !groups.examples.isEmpty else { return nil }
        return s.testRows[groups.examples[min(groups.exampleIndex, groups.examples.count - 1)]]
    }

    func loadGroupPreview() {
        guard let e = currentGroupExample() else { groups.preview = nil; groups.runPreview = nil; return }
        let mapClass = groups.mapClass ?? model.bundle.examples[e].label
        let runClassifier = groups.snapshot?.runClassifier
        let model = self.model, inbox = self.inbox
        previewJobs.submit {
            do {
                let before = try model.preview(example: e, mapClass: mapClass, classifier: nil)
                let after = try runClassifier.map { try model.preview(example: e, mapClass: mapClass, classifier: $0) }
                inbox.post(.groupsPreview(pretrained: before, run: after))
            } catch {
                inbox.post(.jobFailed("\(error)"))
            }
        }
    }

    // MARK: training

    public func trainingAttributes() -> [String] {
        if let a = train.attribute { return [a] }
        let spurious = Decision.spuriousAttributes(Array(decisions.values))
        return spurious.isEmpty ? model.bundle.groupAttributes : spurious
    }

    public func trainingConfig() -> TrainingConfig {
        var config = TrainingConfig(method: train.method)
        config.attributes = train.method == .zeroshot ? [] : trainingAttributes()
        config.epochs = train.epochs
        config.learningRate = train.learningRate
        config.batchSize = train.batchSize
        config.weightDecay = train.weightDecay
        config.optimizer = train.optimizer
        config.sampler = train.sampler
        config.lossForm = train.lossForm
        // As on the CLI, the official form starts from τ = 0.07.
        if train.method.hasLossForm && train.lossForm == .official { config.initialTemperature = 0.07 }
        return config
    }

    func startTraining() {
        guard !(train.running && !train.external) else { banner = "A run is already going (x cancels it)."; return }
        let config = trainingConfig()
        do { try config.check() } catch { banner = "\(error)"; return }
        let bundle = model.bundle, workspace = model.workspace
        launch(method: config.method.rawValue) { try Trainer.create(bundle: bundle, config: config, workspace: workspace) }
    }

    func resumeRun() {
        guard !(train.running && !train.external) else { banner = "A run is already going (x cancels it)."; return }
        guard let id = train.resumable else { banner = "R: the run shown is not interrupted or cancelled"; return }
        let bundle = model.bundle, workspace = model.workspace
        launch(method: train.runMethod ?? "") { try Trainer.resume(bundle: bundle, run: id, workspace: workspace) }
    }

    private func launch(method: String, _ make: @escaping @Sendable () throws -> Trainer) {
        let engine = TrainingEngine()
        self.engine = engine
        localRun = nil
        train.runID = nil; train.runMethod = method
        train.reports = []; train.stepLosses = []; train.totalEpochs = 0; train.tableTop = nil
        train.running = true; train.external = false; train.resumable = nil
        train.status = "starting…"
        train.startedAt = Date(); train.finishedAt = nil
        let inbox = self.inbox
        engine.start(make)
        Task.detached { for await e in engine.events { inbox.post(.engine(e)) } }
    }

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

    func applyEngine(_ e: TrainingEvent) {
        switch e {
        case .started(let run, let epochs, let steps, _):
            localRun = run
            train.runID = run; train.totalEpochs = epochs; train.stepsPerEpoch = max(1, steps); train.status = "running"
        case .step(_, _, let loss):
            train.stepLosses.append(loss)
        case .evaluated(let r):
            train.reports.removeAll { $0.epoch >= r.epoch }
            train.reports.append(r)
        case .sfrWeights(let summary):
            train.status = "running; " + summary.description
        case .finished:
            endLocalRun(status: "finished")
        case .cancelled(let o):
            endLocalRun(status: "cancelled after \(o.epochsDone) epochs (best checkpoint kept; R resumes)")
            train.resumable = o.run
        case .failed(_, let message):
            endLocalRun(status: "failed")
            banner = message
        }
    }

    func endLocalRun(status: String) {
        train.running = false
        train.finishedAt = Date()
        train.status = status
        if groups.snapshot != nil { loadGroups() }   // the Groups screen shows the new run
    }

    func applyWorkspace(_ w: WorkspaceSnapshot) {
        let fresh = Dictionary(w.decisions.map { ("\($0.className)\u{1}\($0.attribute)", $0) }, uniquingKeysWith: { $1 })
        if fresh != decisions {
            decisions = fresh
            if projection != nil || fresh.values.contains(where: { $0.verdict == .spurious }) { loadProjection() }
        }
        // A new comparable run (finished elsewhere) refreshes the Groups table.
        if let s = groups.snapshot, !groupJobs.busy {
            let comparable = w.runs.filter { ($0.status != .running || $0.isInterrupted) && $0.bestCheckpoint != nil }.map(\.id)
            if comparable != s.runs.map(\.id) { loadGroups() }
        }
        // While a local run trains (or just trained), its events own the Train screen.
        if train.running && !train.external { return }
        guard let r = w.shown else { return }
        if r.id == localRun && r.status != .running { return }
        let me = Int(getpid())
        train.runID = r.id
        train.runMethod = r.method
        train.reports = w.shownEpochs
        train.stepLosses = w.shownEpochs.map { Float($0.trainLoss) }
        if let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(r.config.utf8)) {
            train.totalEpochs = config.method == .zeroshot ? 0 : config.method.replacesClassifier ? 1 : config.epochs
        }
        train.startedAt = r.createdAt
        let live = r.status == .running && !r.isInterrupted && r.pid != me
        train.running = live
        train.external = live
        // The clock stops at the run's last update once it is not live.
        train.finishedAt = live ? nil : r.updatedAt
        train.resumable = r.isInterrupted || r.status == .cancelled ? r.id : nil
        switch r.status {
        case .running where live: train.status = "following run \(r.id) (\(r.method)) from another process"
        case .running: train.status = "interrupted: its process is gone (R resumes)"
        case .finished: train.status = "finished"
        case .cancelled: train.status = "cancelled (R resumes)"
        case .failed: train.status = "failed: " + r.message
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
