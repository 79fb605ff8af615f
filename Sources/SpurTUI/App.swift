import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The application: one owner of all UI state, updated by keys and by
/// messages from background work, drawn by `Views` into a `CellGrid`.
/// Only the UI thread touches it.
public final class App {
    public let model: UIModel
    public var theme: Theme
    public let ascii: Bool
    public var screen: Screen = .attributes
    public var showHelp = false
    public var banner: String?
    public var input: TextInput?
    public var attributes = AttributesState()
    public var preview = PreviewState()
    /// Shows this preview directly (benchmarks and tests).
    public func setPreview(_ p: Preview) { preview.current = p }
    public var train = TrainState()
    public var groups = GroupsState()
    public var decisions: [String: Decision] = [:]
    public private(set) var shouldQuit = false
    var quitArmed = false
    let inbox = Inbox()
    let jobs = JobRunner()
    var engine: TrainingEngine?
    var lastRefresh = Date.distantPast

    public init(model: UIModel, theme: Theme, ascii: Bool) {
        self.model = model
        self.theme = theme
        self.ascii = ascii
        refreshFromWorkspace(force: true)
    }

    /// Stops a local run (Ctrl-C in the UI); its best checkpoint is kept.
    public func engineCancel() { engine?.cancel() }

    /// No background work pending: what end-to-end tests wait for.
    public var isIdle: Bool { !jobs.busy && !train.running }

    // MARK: rows of the Attributes screen

    /// The audit table never changes, so the ranked rows depend only on
    /// (class, sort, filter): ranked once per combination, not on every frame
    /// and every key that asks for the selected row.
    private var rankedRows: (key: String, rows: [DiscrepancyRow])?

    public func attributeRows() -> [DiscrepancyRow] {
        let key = "\(attributes.classIndex)\u{1}\(attributes.sortBySupport)\u{1}\(attributes.filter)"
        if let cached = rankedRows, cached.key == key { return cached.rows }
        var rows = model.audit.table.ranked(class: attributes.classIndex, by: attributes.sortBySupport ? .support : .magnitude)
        if !attributes.filter.isEmpty {
            rows = rows.filter { model.audit.attributes[$0.attribute].localizedCaseInsensitiveContains(attributes.filter) }
        }
        rankedRows = (key, rows)
        return rows
    }

    public func verdict(className: String, attribute: String) -> Decision? { decisions["\(className)\u{1}\(attribute)"] }

    var selectedAttribute: DiscrepancyRow? {
        let rows = attributeRows()
        return rows.isEmpty ? nil : rows[min(attributes.selected, rows.count - 1)]
    }

    // MARK: keys

    public func handle(_ key: Key) {
        if key == .resize { return }
        if input != nil { handleInput(key); return }
        if showHelp { showHelp = false; return }
        let action = KeyBindings.action(for: key, on: screen)
        if action != .quit { quitArmed = false }
        banner = nil
        guard let action else { return }
        switch action {
        case .quit:
            if train.running && !train.external && !quitArmed {
                quitArmed = true
                banner = "A run is going: press q again to cancel it and quit."
            } else {
                engine?.cancel()
                shouldQuit = true
            }
        case .help: showHelp = true
        case .showScreen(let s): show(s)
        case .moveUp: move(-1)
        case .moveDown: move(1)
        case .pageUp: move(-10)
        case .pageDown: move(10)
        case .nextClass:
            attributes.classIndex = (attributes.classIndex + 1) % model.classes.count
            attributes.selected = 0
            if screen == .preview { preview.selected = 0; loadPreview() }
        case .markSpurious: mark(.spurious)
        case .markHealthy: mark(.healthy)
        case .markUndecided: mark(.undecided)
        case .editNote:
            guard let row = selectedAttribute else { return }
            let c = model.classes[row.classIndex], a = model.audit.attributes[row.attribute]
            let d = verdict(className: c, attribute: a)
            let phrases = Decision.defaultPhrases(a)
            input = .note(fields: [d?.note ?? "", d?.phrasePresent ?? phrases.present, d?.phraseAbsent ?? phrases.absent],
                          focus: 0, className: c, attribute: a)
        case .filter: input = .filter(attributes.filter)
        case .toggleSort: attributes.sortBySupport.toggle(); attributes.selected = 0
        case .cycleMapClass:
            if screen == .preview {
                preview.mapClass = ((preview.mapClass ?? model.classes.count - 1) + 1) % model.classes.count
                loadPreview()
            } else if groups.browsing {
                groups.mapClass = ((groups.mapClass ?? model.classes.count - 1) + 1) % model.classes.count
                loadGroupPreview()
            }
        case .toggleOverlay:
            if screen == .preview { preview.overlay.toggle() } else { groups.overlay.toggle() }
        case .nextMethod:
            if !train.running { train.methodIndex = (train.methodIndex + 1) % Method.allCases.count }
        case .moreEpochs: if !train.running { train.epochs = min(1000, train.epochs + (train.epochs >= 20 ? 10 : 1)) }
        case .fewerEpochs: if !train.running { train.epochs = max(1, train.epochs - (train.epochs > 20 ? 10 : 1)) }
        case .nextAttribute:
            guard !train.running else { return }
            let vocabulary = model.bundle.manifest.attributes
            if let current = train.attribute, let i = vocabulary.firstIndex(of: current) {
                train.attribute = i + 1 < vocabulary.count ? vocabulary[i + 1] : nil
            } else {
                train.attribute = vocabulary.first
            }
        case .nextLearningRate:
            if !train.running { train.learningRateIndex = (train.learningRateIndex + 1) % TrainState.learningRates.count }
        case .nextBatchSize:
            if !train.running { train.batchSizeIndex = (train.batchSizeIndex + 1) % TrainState.batchSizes.count }
        case .startTraining: startTraining()
        case .cancelTraining:
            if train.running && !train.external { engine?.cancel(); train.status = "cancelling…" }
        case .openGroup: openGroup()
        case .back: groups.browsing = false; groups.preview = nil
        case .nextRun:
            guard !groups.runs.isEmpty else { banner = "No finished run to compare with yet: start one on the Train screen (3)."; return }
            groups.runIndex = ((groups.runIndex ?? -1) + 1) % groups.runs.count
            loadGroups()
        }
    }

    func show(_ s: Screen) {
        screen = s
        switch s {
        case .preview: preview.selected = 0; loadPreview()
        case .groups: loadGroups()
        default: break
        }
    }

    func move(_ delta: Int) {
        switch screen {
        case .attributes:
            let n = attributeRows().count
            attributes.selected = max(0, min(n - 1, attributes.selected + delta))
        case .preview:
            let n = previewList().all.count
            guard n > 0 else { return }
            preview.selected = max(0, min(n - 1, preview.selected + delta))
            loadPreview()
        case .train:
            break
        case .groups:
            if groups.browsing {
                guard !groups.examples.isEmpty else { return }
                groups.exampleIndex = max(0, min(groups.examples.count - 1, groups.exampleIndex + delta))
                loadGroupPreview()
            } else {
                let n = groups.pretrained?.groups.count ?? 0
                groups.selected = max(0, min(max(0, n - 1), groups.selected + delta))
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
        } catch {
            banner = "Could not save: \(error)"
        }
    }

    func handleInput(_ key: Key) {
        switch input {
        case .filter(var text):
            switch key {
            case .enter: attributes.filter = text; attributes.selected = 0; input = nil
            case .escape: input = nil
            case .backspace: if !text.isEmpty { text.removeLast() }; input = .filter(text); attributes.filter = text
            case .character(let ch): text.append(ch); input = .filter(text); attributes.filter = text; attributes.selected = 0
            default: break
            }
        case .note(var fields, var focus, let c, let a):
            switch key {
            case .escape: input = nil
            case .tab, .down: focus = (focus + 1) % 3; input = .note(fields: fields, focus: focus, className: c, attribute: a)
            case .up, .backTab: focus = (focus + 2) % 3; input = .note(fields: fields, focus: focus, className: c, attribute: a)
            case .backspace:
                if !fields[focus].isEmpty { fields[focus].removeLast() }
                input = .note(fields: fields, focus: focus, className: c, attribute: a)
            case .character(let ch):
                fields[focus].append(ch)
                input = .note(fields: fields, focus: focus, className: c, attribute: a)
            case .enter:
                do {
                    let v = verdict(className: c, attribute: a)?.verdict ?? .undecided
                    let d = try model.workspace.record(className: c, attribute: a, verdict: v, note: fields[0],
                                                       phrasePresent: fields[1], phraseAbsent: fields[2])
                    decisions["\(c)\u{1}\(a)"] = d
                    banner = "\(c) / \(a): note and phrases saved"
                } catch {
                    banner = "Could not save: \(error)"
                }
                input = nil
            default: break
            }
        case nil: break
        }
    }

    // MARK: preview

    /// Drawn every frame on the Preview screen: computed once per (class, attribute).
    var previewLists: [Int: (all: [Int], withCount: Int)] = [:]

    public func previewList() -> (all: [Int], withCount: Int) {
        guard let row = selectedAttribute else { return ([], 0) }
        let key = row.classIndex * model.audit.attributes.count + row.attribute
        if let cached = previewLists[key] { return cached }
        let e = model.examples(class: row.classIndex, attribute: row.attribute)
        let list = (e.with + e.without, e.with.count)
        previewLists[key] = list
        return list
    }

    func loadPreview() {
        let list = previewList().all
        guard !list.isEmpty else { preview.current = nil; return }
        let example = list[min(preview.selected, list.count - 1)]
        let mapClass = preview.mapClass ?? model.bundle.examples[example].label
        let model = self.model, inbox = self.inbox
        jobs.submit {
            do { inbox.post(.preview(try model.preview(example: example, mapClass: mapClass, heads: nil), forGroups: false)) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    // MARK: groups

    func loadGroups() {
        let model = self.model, inbox = self.inbox
        let runIndex = groups.runIndex
        jobs.submit {
            do {
                let runs = try model.workspace.runs().filter { $0.status != .running && $0.bestCheckpoint != nil }
                var config = TrainingConfig(method: .zeroshot)
                config.attributes = model.bundle.groupAttributes
                let data = try TrainingData.prepare(bundle: model.bundle, config: config, decisions: [])
                let pre = try Evaluation.metrics(model.pretrained, data: data, split: data.test, bundle: model.bundle)
                var run: SplitMetrics?
                if let i = runIndex, i < runs.count {
                    // A dfr / orth-proj run's checkpoint holds its own class side.
                    let classifier = try RunCheckpoints.bestClassifier(run: runs[i].id, workspace: model.workspace, like: model.pretrained,
                                                                       classTemplates: data.classTemplates, templateCount: data.templateCount)
                    run = try Evaluation.metrics(classifier, data: data, split: data.test, bundle: model.bundle)
                }
                inbox.post(.groups(pretrained: pre, run: run, runs: runs))
            } catch {
                inbox.post(.jobFailed("\(error)"))
            }
        }
    }

    func openGroup() {
        guard let metrics = groups.pretrained, !metrics.groups.isEmpty else { return }
        let g = metrics.groups[min(groups.selected, metrics.groups.count - 1)]
        let b = model.bundle
        let members: [Int]
        do { members = try model.members(of: .init(label: g.label, value: g.value)) } catch { banner = "\(error)"; return }
        // Misclassified first (by the pre-trained model, or the compared run).
        let heads = currentGroupHeads()
        let predictions = HeadClassifier(heads: heads, classTemplates: model.classTemplates, templateCount: b.manifest.templates.count)
            .predict((try? b.pooledFeatures(rows: members)) ?? Matrix(rows: 0, cols: b.manifest.dims.imageDim))
        let wrong = members.indices.filter { predictions[$0] != g.label }.map { members[$0] }
        let right = members.indices.filter { predictions[$0] == g.label }.map { members[$0] }
        groups.examples = wrong + right
        groups.exampleIndex = 0
        groups.browsing = true
        loadGroupPreview()
    }

    func currentGroupHeads() -> ProjectionHeads {
        guard let i = groups.runIndex, i < groups.runs.count,
              let h = try? RunCheckpoints.bestHeads(run: groups.runs[i].id, workspace: model.workspace, like: model.pretrained)
        else { return model.pretrained }
        return h
    }

    func loadGroupPreview() {
        guard !groups.examples.isEmpty else { groups.preview = nil; return }
        let e = groups.examples[groups.exampleIndex]
        let mapClass = groups.mapClass ?? model.bundle.examples[e].label
        let heads = currentGroupHeads()
        let model = self.model, inbox = self.inbox
        jobs.submit {
            do { inbox.post(.preview(try model.preview(example: e, mapClass: mapClass, heads: heads), forGroups: true)) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    // MARK: training

    public func trainingAttributes() -> [String] {
        GroupAssignment.runAttributes(given: train.attribute.map { [$0] } ?? [], decisions: Array(decisions.values), bundle: model.bundle)
    }

    func startTraining() {
        guard !train.running else { banner = "A run is already going (x cancels it)."; return }
        var config = TrainingConfig(method: train.method)
        config.attributes = train.method == .zeroshot ? [] : trainingAttributes()
        config.epochs = train.epochs
        config.learningRate = train.learningRate
        config.batchSize = train.batchSize
        let bundle = model.bundle, workspace = model.workspace
        let engine = TrainingEngine()
        self.engine = engine
        let choice = train
        train = TrainState()
        train.methodIndex = choice.methodIndex; train.epochs = choice.epochs; train.attribute = choice.attribute
        train.learningRateIndex = choice.learningRateIndex; train.batchSizeIndex = choice.batchSizeIndex
        train.running = true
        train.status = "starting…"
        train.startedAt = Date()
        let inbox = self.inbox, fixed = config
        engine.start { try Trainer.create(bundle: bundle, config: fixed, workspace: workspace) }
        Task.detached { for await e in engine.events { inbox.post(.engine(e)) } }
    }

    // MARK: messages

    /// Applies everything background work has delivered; true when something changed.
    @discardableResult
    public func drain() -> Bool {
        let messages = inbox.drain()
        for m in messages { apply(m) }
        let refreshed = refreshFromWorkspace(force: false)
        return !messages.isEmpty || refreshed
    }

    func apply(_ m: Message) {
        switch m {
        case .preview(let p, let forGroups):
            if forGroups { groups.preview = p } else { preview.current = p }
        case .jobFailed(let text): banner = text
        case .groups(let pre, let run, let runs):
            groups.pretrained = pre
            groups.run = run
            groups.runs = runs
            if groups.runIndex == nil && !runs.isEmpty { groups.runIndex = runs.count - 1; loadGroups() }
        case .engine(let e):
            switch e {
            case .started(let run, let epochs, let steps, _):
                train.runID = run; train.totalEpochs = epochs; train.stepsPerEpoch = max(1, steps); train.status = "running"
            case .step(_, _, let loss):
                train.stepLosses.append(loss)
            case .evaluated(let r):
                train.reports.append(r)
            case .sfrWeights(let summary):
                train.status = "running; " + summary.description
            case .finished(let o):
                train.running = false
                train.status = "finished: best epoch \(o.best?.epoch ?? 0)"
            case .cancelled(let o):
                train.running = false
                train.status = "cancelled after \(o.epochsDone) epochs, best epoch \(o.best.map { String($0.epoch) } ?? "–") kept"
            case .failed(_, let message):
                train.running = false
                train.status = "failed"
                banner = message
            }
        }
    }

    /// Verdicts made in another process, and runs started from the CLI,
    /// appear without a restart: the workspace is re-read about once a second.
    /// True when something the screen shows changed.
    @discardableResult
    func refreshFromWorkspace(force: Bool) -> Bool {
        guard force || Date().timeIntervalSince(lastRefresh) > 1 else { return false }
        lastRefresh = Date()
        var changed = false
        if let current = try? model.workspace.currentDecisions() {
            let fresh = Dictionary(current.map { ("\($0.className)\u{1}\($0.attribute)", $0) }, uniquingKeysWith: { $1 })
            if fresh != decisions { decisions = fresh; changed = true }
        }
        guard engine == nil || !train.running, let runs = try? model.workspace.runs(),
              let live = runs.last(where: { $0.status == .running && $0.pid != Int(getpid()) }) else {
            if train.external, let id = train.runID, let r = try? model.workspace.run(id), r.status != .running {
                train.running = false
                train.external = false
                train.status = "\(r.status.rawValue) (run \(id), from another process)"
                changed = true
            }
            return changed
        }
        let epochs = (try? model.workspace.epochs(run: live.id)) ?? []
        train.external = true
        train.running = true
        train.runID = live.id
        train.status = "following run \(live.id) (\(live.method)) from another process"
        train.reports = epochs.compactMap { try? JSONDecoder().decode(EpochReport.self, from: Data($0.metrics.utf8)) }
        train.stepLosses = train.reports.map { Float($0.trainLoss) }
        if let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(live.config.utf8)) { train.totalEpochs = config.epochs }
        return true
    }
}
