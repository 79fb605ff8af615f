import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Screen 4: any two models side by side on the test split (model A, by
/// default the pre-trained one, and model B, by default the latest finished
/// run), each chosen from a list; the group browser shows both models'
/// predictions and Grad-CAMs of the selected example.
final class GroupsController: ScreenController {
    unowned let app: App
    var state = GroupsState()

    init(app: App) { self.app = app }

    private static let here: Set<Screen> = [.groups]
    static let bindings: [KeyBinding] = [
        .init(keys: [.enter], label: "Enter", description: "browse the group's examples", action: .openGroup, screens: here, hint: true, short: "browse"),
        .init(keys: [.escape, .backspace], label: "Esc", description: "back to the group table", action: .back, screens: here, hint: true, short: "back"),
        .init(keys: [.character("r")], label: "r", description: "model B: the next finished run", action: .nextRun, screens: here, hint: true, short: "next run"),
        .init(keys: [.character("p")], label: "p", description: "pick model B from a list (cancelled runs marked; / finds, click or Enter picks)", action: .pickRun, screens: here, hint: true, short: "pick B"),
        .init(keys: [.character("P")], label: "P", description: "pick model A from a list", action: .pickBaseline, screens: here, hint: true, short: "pick A"),
    ]

    // MARK: keys

    func disabledReason(_ action: Action) -> String? {
        switch action {
        case .nextRun:
            if state.snapshot == nil { return "the test split is still being evaluated" }
            return state.runs.isEmpty ? "no finished run to compare with yet: start one on the Train screen (3)" : nil
        case .pickRun, .pickBaseline:
            return state.snapshot == nil ? "the test split is still being evaluated" : nil
        case .search:
            return state.snapshot == nil ? "the test split is still being evaluated" : nil
        case .cycleMapClass:
            if !app.model.bundle.hasHeatmaps { return "the bundle has no spatial maps, so no Grad-CAM to show" }
            return state.browsing ? nil : "open a group first (Enter)"
        case .toggleOverlay:
            if !app.model.bundle.hasHeatmaps { return "the bundle has no spatial maps, so no Grad-CAM to show" }
            if !state.browsing { return "open a group first (Enter)" }
            return state.snapshot?.b != nil ? "two models are shown: each map as an overlay" : nil
        case .openGroup:
            if state.snapshot == nil { return "the test split is still being evaluated" }
            return state.browsing ? "already browsing (Esc goes back)" : nil
        case .back:
            return state.browsing ? nil : "not browsing a group"
        default: return nil
        }
    }

    func perform(_ action: Action) {
        switch action {
        case .openGroup: openGroup()
        case .back: state.browsing = false; state.previews = (nil, nil)
        case .nextRun:
            let runs = state.runs
            let i = runs.firstIndex { ModelChoice.run($0.id) == state.snapshot?.b?.choice } ?? -1
            state.b = .run(runs[(i + 1) % runs.count].id)
            load()
        case .pickRun, .pickBaseline:
            let side: ModelSide = action == .pickRun ? .b : .a
            let current = side == .a ? state.snapshot?.a.choice : state.snapshot?.b?.choice
            state.picking = side
            state.pickIndex = state.choices.firstIndex { $0 == current } ?? 0
        case .search: app.input = .search("")
        case .cycleMapClass:
            guard let e = currentExample() else { return }
            let shown = state.previews.a?.mapClass ?? state.mapClass ?? app.model.bundle.examples[e].label
            state.mapClass = (shown + 1) % app.model.classes.count
            loadPreviews()
        case .toggleOverlay: state.overlay.toggle()
        default: break
        }
    }

    var clickableSelection: Int? { state.browsing ? state.exampleIndex : state.selected }

    func didShow() { if state.snapshot == nil || !app.groupJobs.busy { load() } }

    func move(_ delta: Int) {
        if state.browsing {
            guard !state.examples.isEmpty else { return }
            let old = state.exampleIndex
            state.exampleIndex = clamp(state.exampleIndex + delta, state.examples.count)
            if old != state.exampleIndex { loadPreviews() }
        } else {
            state.selected = clamp(state.selected + delta, state.snapshot?.a.metrics.groups.count ?? 0)
        }
    }

    /// The model list (p / P): Enter picks, Esc closes.
    var capturesInput: Bool { state.picking != nil }

    /// A click on one of the model list's rows selects it (Enter picks); elsewhere nothing.
    func clickCaptured(_ target: ClickTarget?, x: Int) {
        if case .choice(let i, let xs)? = target, xs.contains(x) { state.pickIndex = i }
    }

    /// The model list is open.
    func handleCaptured(_ key: Key) {
        let n = state.choices.count
        if let delta = KeyBindings.movement(for: key) {
            state.pickIndex = clamp(state.pickIndex + delta, n)
            return
        }
        switch key {
        case .character("?"), .f1: app.showHelp = true; app.helpTop = 0
        case .enter:
            if state.pickIndex < n {
                let choice = state.choices[state.pickIndex]
                if state.picking == .a { state.a = choice } else { state.b = choice }
                load()
            }
            state.picking = nil
        case .character("/"): app.input = .search("")
        case .escape, .character("q"), .character("p"), .character("P"): state.picking = nil
        default: break
        }
    }

    // MARK: evaluation (off the UI thread)

    /// A run finished or the workspace's run list changed: evaluate again
    /// (once the screen has been shown).
    func runsChanged() { if state.snapshot != nil { load() } }

    func workspaceRuns(_ runs: [RunRecord]) {
        guard let s = state.snapshot, !app.groupJobs.busy else { return }
        if Self.comparable(runs).map(\.id) != s.runs.map(\.id) { load() }
    }

    static func comparable(_ runs: [RunRecord]) -> [RunRecord] {
        runs.filter { ($0.status != .running || $0.isInterrupted) && $0.bestCheckpoint != nil }
    }

    func load() {
        let model = app.model, inbox = app.inbox
        let a = state.a, b = state.b
        app.groupJobs.submit {
            do { inbox.post(.groups(try Self.evaluate(model, a: a, b: b))) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    /// The test split under models A and B (B nil: the latest run with a
    /// checkpoint, if any): metrics and every prediction.
    static func evaluate(_ model: UIModel, a: ModelChoice, b: ModelChoice?) throws -> GroupsSnapshot {
        let runs = comparable(try model.workspace.runs())
        let bChoice = b ?? runs.last.map { .run($0.id) }
        // `eval`'s rule for the groups: the compared run's spurious
        // attributes, else those marked spurious, else the benchmark's; values
        // from ground truth where the bundle has it, else from detections.
        var given: [String] = []
        if case .run(let id)? = bChoice, let c = try? RunCheckpoints.config(run: id, workspace: model.workspace) { given = c.attributes }
        if given.isEmpty, case .run(let id) = a, let c = try? RunCheckpoints.config(run: id, workspace: model.workspace) { given = c.attributes }
        let decisions = try model.workspace.currentDecisions()
        var config = TrainingConfig(method: .zeroshot)
        config.attributes = GroupAssignment.runAttributes(given: given, decisions: decisions, bundle: model.bundle)
        let data = try TrainingData.prepare(bundle: model.bundle, config: config, decisions: decisions)
        func evaluation(_ choice: ModelChoice) throws -> ModelEvaluation {
            let classifier: HeadClassifier
            let record: RunRecord?
            switch choice {
            case .pretrained:
                classifier = Evaluation.classifier(model.pretrained, data: data)
                record = nil
            case .run(let id):
                guard let r = runs.first(where: { $0.id == id }) else { return try evaluation(.pretrained) }
                // A dfr / orth-proj run's checkpoint holds its own class side.
                classifier = try RunCheckpoints.bestClassifier(run: id, workspace: model.workspace, like: model.pretrained,
                                                               classTemplates: data.classTemplates, templateCount: data.templateCount)
                record = r
            }
            return ModelEvaluation(choice: record.map { .run($0.id) } ?? .pretrained, run: record,
                                   metrics: try Evaluation.metrics(classifier, data: data, split: data.test, bundle: model.bundle),
                                   predictions: classifier.predict(data.test.images), classifier: record == nil ? nil : classifier)
        }
        return GroupsSnapshot(runs: runs, testRows: data.test.rows, testLabels: data.test.labels, testValues: data.test.evaluationValues,
                              a: try evaluation(a), b: try bChoice.map(evaluation),
                              groupSource: data.evaluationAttributes.isEmpty ? nil
                                : (data.evaluationFromGroundTruth ? "true groups" : "detected groups") + " by " + data.evaluationAttributes.joined(separator: ", "))
    }

    func apply(_ s: GroupsSnapshot) {
        let keep = currentExample()
        state.snapshot = s
        guard state.browsing else { return }
        // The models changed (r, p, P, or a run finished): re-sort by the new model, keep the example shown.
        state.examples = members(s)
        let position = keep.flatMap { row in state.examples.firstIndex { s.testRows[$0] == row } }
        state.exampleIndex = position ?? 0
        loadPreviews()
    }

    // MARK: the group browser

    /// The selected group's examples (positions in the test split),
    /// misclassified first by model B (or A when there is no B).
    func members(_ s: GroupsSnapshot) -> [Int] {
        let groups = s.a.metrics.groups
        guard !groups.isEmpty else { return [] }
        let g = groups[min(state.selected, groups.count - 1)]
        let members = s.testLabels.indices.filter { s.testLabels[$0] == g.label && s.testValues[$0] == g.value }
        let predictions = (s.b ?? s.a).predictions
        return members.filter { predictions[$0] != g.label } + members.filter { predictions[$0] == g.label }
    }

    func openGroup() {
        guard let s = state.snapshot else { return }
        state.examples = members(s)
        state.exampleIndex = 0
        state.browsing = true
        loadPreviews()
    }

    func currentExample() -> Int? {
        guard let s = state.snapshot, !state.examples.isEmpty else { return nil }
        return s.testRows[state.examples[min(state.exampleIndex, state.examples.count - 1)]]
    }

    /// The list `/` searches: the open model list, a group's examples, or the group table.
    func searchList() -> SearchList {
        guard let s = state.snapshot else { return SearchList(noun: "row", labels: [], current: 0) { _ in } }
        if state.picking != nil {
            return SearchList(noun: "model", labels: state.choices.map { Self.choiceText($0, runs: s.runs) }, current: state.pickIndex) { [unowned self] i in
                state.pickIndex = i
            }
        }
        if state.browsing {
            let examples = app.model.bundle.examples
            return SearchList(noun: "example", labels: state.examples.map { examples[s.testRows[$0]].id }, current: state.exampleIndex) { [unowned self] i in
                move(i - state.exampleIndex)
            }
        }
        return SearchList(noun: "group", labels: s.a.metrics.groups.map(\.name), current: state.selected) { [unowned self] i in
            move(i - state.selected)
        }
    }

    /// What `/` matches in the model list: "pre-trained (zero-shot)", "run 2 orth-proj cancelled".
    static func choiceText(_ choice: ModelChoice, runs: [RunRecord]) -> String {
        guard case .run(let id) = choice, let r = runs.first(where: { $0.id == id }) else { return "pre-trained (zero-shot)" }
        return "run \(r.id) \(r.method) \(r.isInterrupted ? "interrupted" : r.status.rawValue)"
    }

    /// Both models' Grad-CAMs of the selected example, off the UI thread (latest wins).
    func loadPreviews() {
        guard let e = currentExample(), let s = state.snapshot else { state.previews = (nil, nil); return }
        let mapClass = state.mapClass ?? app.model.bundle.examples[e].label
        let a = s.a.classifier, b = s.b.map { $0.classifier }
        let model = app.model, inbox = app.inbox
        app.groupPreviewJobs.submit {
            do {
                let first = try model.preview(example: e, mapClass: mapClass, classifier: a)
                let second = try b.map { try model.preview(example: e, mapClass: mapClass, classifier: $0) }
                inbox.post(.groupsPreview(a: first, b: second))
            } catch {
                inbox.post(.jobFailed("\(error)"))
            }
        }
    }

    /// The state drawn: the previews only if they are of the selected example
    /// and map class. Renders arrive asynchronously, and one still held
    /// after the selection moved would caption another example's row.
    func snapshot() -> GroupsState {
        var shown = state
        if let e = currentExample(), let a = state.previews.a,
           a.example != e || a.mapClass != (state.mapClass ?? app.model.bundle.examples[e].label) {
            shown.previews = (nil, nil)
        }
        return shown
    }
}
