import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Screen 3: the next run's settings, the local training engine, and the
/// run shown from the workspace (a local one, one followed from another
/// process, or the latest), with its curves and epoch table.
final class TrainController: ScreenController {
    unowned let app: App
    var state = TrainState()
    var engine: TrainingEngine?
    /// The run the local engine trains (its events own the Train screen while it runs).
    var localRun: Int64?

    init(app: App) { self.app = app }

    private static let here: Set<Screen> = [.train]
    private static func k(_ c: Character) -> Key { .character(c) }
    static let bindings: [KeyBinding] = [
        .init(keys: [.enter], label: "Enter", description: "start the run", action: .startTraining, screens: here, hint: true, short: "start"),
        .init(keys: [k("x")], label: "x", description: "cancel the run (keeps the best checkpoint)", action: .cancelTraining, screens: here, hint: true, short: "cancel"),
        .init(keys: [k("R")], label: "R", description: "resume the interrupted or cancelled run shown", action: .resumeRun, screens: here, hint: true, short: "resume"),
        .init(keys: [k("m")], label: "m/M", description: "next or previous method", action: .nextMethod, screens: here, hint: true, short: "method"),
        .init(keys: [k("M")], label: "M", description: "previous method", action: .previousMethod, screens: here, hint: false, inHelp: false),
        .init(keys: [k("a")], label: "a/A", description: "spurious attribute: the marked ones, or one of the vocabulary", action: .nextAttribute, screens: here, hint: true, short: "attribute"),
        .init(keys: [k("A")], label: "A", description: "previous attribute", action: .previousAttribute, screens: here, hint: false, inHelp: false),
        .init(keys: [k("+")], label: "+/-", description: "more or fewer epochs", action: .moreEpochs, screens: here, hint: true, short: "epochs"),
        .init(keys: [k("-")], label: "-", description: "fewer epochs", action: .fewerEpochs, screens: here, hint: false, inHelp: false),
        .init(keys: [k("e")], label: "e", description: "type epochs, lr, batch size, weight decay (and the official form's absent words)", action: .typeSettings, screens: here, hint: true, short: "edit"),
        .init(keys: [k("l")], label: "l/L", description: "larger or smaller learning rate", action: .nextLearningRate, screens: here, hint: true, short: "lr"),
        .init(keys: [k("L")], label: "L", description: "smaller learning rate", action: .previousLearningRate, screens: here, hint: false, inHelp: false),
        .init(keys: [k("b")], label: "b/B", description: "larger or smaller batch", action: .nextBatchSize, screens: here, hint: true, short: "batch"),
        .init(keys: [k("B")], label: "B", description: "smaller batch", action: .previousBatchSize, screens: here, hint: false, inHelp: false),
        .init(keys: [k("o")], label: "o", description: "optimizer: sgd or adam", action: .toggleOptimizer, screens: here, hint: true, short: "optimizer"),
        .init(keys: [k("s")], label: "s", description: "sampler: natural or group-balanced", action: .toggleSampler, screens: here, hint: true, short: "sampler"),
        .init(keys: [k("w")], label: "w/W", description: "more or less weight decay", action: .nextWeightDecay, screens: here, hint: true, short: "decay"),
        .init(keys: [k("W")], label: "W", description: "less weight decay", action: .previousWeightDecay, screens: here, hint: false, inHelp: false),
        .init(keys: [k("f")], label: "f", description: "loss form of ours-ls/vs: paper or official", action: .toggleLossForm, screens: here, hint: true, short: "form"),
    ]

    /// A local run is training: its settings are fixed and another cannot start.
    var localRunGoing: Bool { state.running && !state.external }

    /// The setting a key changes, where it changes one.
    static func setting(of action: Action) -> TrainingSetting? {
        switch action {
        case .moreEpochs, .fewerEpochs: return .epochs
        case .nextAttribute, .previousAttribute: return .attributes
        case .nextLearningRate, .previousLearningRate: return .learningRate
        case .nextBatchSize, .previousBatchSize: return .batchSize
        case .nextWeightDecay, .previousWeightDecay: return .weightDecay
        case .toggleOptimizer: return .optimizer
        case .toggleSampler: return .sampler
        default: return nil
        }
    }

    func disabledReason(_ action: Action) -> String? {
        switch action {
        case .nextMethod, .previousMethod, .moreEpochs, .fewerEpochs, .nextAttribute, .previousAttribute,
             .nextLearningRate, .previousLearningRate, .nextBatchSize, .previousBatchSize, .nextWeightDecay,
             .previousWeightDecay, .toggleOptimizer, .toggleSampler, .typeSettings:
            if localRunGoing { return "settings apply to the next run; this one is training (x cancels it)" }
            if let setting = Self.setting(of: action), !state.settings.applicable.contains(setting) {
                return "\(state.method.rawValue) has no \(SettingKeys.label(setting)) setting"
            }
            if action == .typeSettings && typedFields().isEmpty { return "\(state.method.rawValue) has no setting to type" }
            return nil
        case .toggleLossForm:
            if localRunGoing { return "settings apply to the next run; this one is training (x cancels it)" }
            return state.method.hasLossForm ? nil : "only ours-ls and ours-vs have a loss form"
        case .startTraining:
            return localRunGoing ? "a run is already training (x cancels it)" : nil
        case .cancelTraining:
            if state.external { return "the run belongs to another process (Ctrl-C there stops it)" }
            return localRunGoing ? nil : "no run is training"
        case .resumeRun:
            if localRunGoing { return "a run is already training" }
            return state.resumable == nil ? "the run shown is not interrupted or cancelled" : nil
        case .search:
            return state.reports.isEmpty ? "no epochs to find yet" : nil
        default: return nil
        }
    }

    func perform(_ action: Action) {
        switch action {
        case .search: app.input = .search("")
        case .nextMethod, .previousMethod:
            let all = Method.allCases, n = all.count
            let i = all.firstIndex(of: state.method) ?? 0
            state.settings.method = all[(i + (action == .nextMethod ? 1 : n - 1)) % n]
            // The sampler follows the method again, as on the CLI.
            state.settings.sampler = nil
        case .moreEpochs: state.settings.base.epochs = min(1000, state.epochs + (state.epochs >= 20 ? 10 : 1))
        case .fewerEpochs: state.settings.base.epochs = max(1, state.epochs - (state.epochs > 20 ? 10 : 1))
        case .nextAttribute, .previousAttribute:
            // nil (the marked attributes) and each vocabulary attribute, in a cycle.
            let choices: [String?] = [nil] + app.model.bundle.manifest.attributes.map(Optional.some)
            let i = choices.firstIndex(of: state.attribute) ?? 0
            state.attribute = choices[(i + (action == .nextAttribute ? 1 : choices.count - 1)) % choices.count]
        case .nextLearningRate, .previousLearningRate:
            state.settings.base.learningRate = step(TrainState.learningRates, state.learningRate, up: action == .nextLearningRate)
        case .nextBatchSize, .previousBatchSize:
            state.settings.base.batchSize = step(TrainState.batchSizes, state.batchSize, up: action == .nextBatchSize)
        case .nextWeightDecay, .previousWeightDecay:
            state.settings.base.weightDecay = step(TrainState.weightDecays, state.weightDecay, up: action == .nextWeightDecay)
        case .toggleOptimizer: state.settings.base.optimizer = state.optimizer == .sgd ? .adam : .sgd
        case .toggleSampler: state.settings.sampler = state.sampler == .natural ? .groupBalanced : .natural
        case .toggleLossForm:
            state.settings.base.lossForm = state.lossForm == .paper ? .official : .paper
        case .typeSettings:
            let fields = typedFields()
            app.input = .trainSettings(TextForm(labels: fields.map(\.label), fields: fields.map(\.text)))
        case .startTraining: startTraining()
        case .cancelTraining: engine?.cancel(); state.status = "cancelling…"
        case .resumeRun: resumeRun()
        default: break
        }
    }

    /// Moves through the epoch table from the row selected (the newest when
    /// following); reaching the newest epoch follows new ones again.
    func move(_ delta: Int) {
        let n = state.reports.count
        guard n > 0 else { return }
        let row = clamp((state.epochCursor ?? n - 1) + delta, n)
        state.epochCursor = delta > 0 && row == n - 1 ? nil : row
    }

    /// The epoch table as `/` searches it: a number finds that epoch (typing
    /// "2" must not stop at epoch 20), "best" the best one.
    func searchList() -> SearchList {
        let n = state.reports.count, best = state.best?.epoch
        let labels = state.reports.map { "\($0.epoch)" + ($0.epoch == best ? " best" : "") }
        return SearchList(noun: "epoch", labels: labels, current: state.epochCursor ?? max(0, n - 1), matches: { label, typed in
            let typed = typed.trimmingCharacters(in: .whitespaces)
            return Int(typed) != nil ? label.split(separator: " ")[0] == typed : label.localizedCaseInsensitiveContains(typed)
        }) { [unowned self] i in
            state.epochCursor = i == n - 1 ? nil : i
        }
    }

    /// The epoch row selected (the newest while following): a click on a row of the table selects it.
    var clickableSelection: Int? { state.reports.isEmpty ? nil : state.epochCursor ?? state.reports.count - 1 }

    func handleSettings(_ key: Key, _ form: TextForm) {
        var form = form
        switch key {
        case .escape: app.input = nil
        case .enter: if let error = applyTyped(form) { app.banner = error } else { app.input = nil }
        default: if form.edit(key) { app.input = .trainSettings(form) }
        }
    }

    func snapshot() -> TrainView {
        let marked = !Decision.spuriousAttributes(Array(app.decisions.values)).isEmpty
        let source = state.attribute != nil ? "" : marked ? " (marked)" : " (benchmark groups)"
        let attributes = trainingAttributes()
        let words = state.settings.isOfficialForm ? absentWords(state, attributes: attributes) : [:]
        return TrainView(state: state, attributes: attributes.joined(separator: " + ") + source,
                         absentWords: attributes.compactMap { a in words[a].map { (a, $0) } },
                         summary: state.method.summary(lossForm: state.lossForm))
    }

    /// The next or previous value of a ladder (from the nearest rung when the value was typed).
    func step<T: Comparable>(_ ladder: [T], _ value: T, up: Bool) -> T {
        if up { return ladder.first { $0 > value } ?? ladder.last! }
        return ladder.last { $0 < value } ?? ladder.first!
    }

    /// The `e` form's fields: the typed settings the method uses, then under
    /// the official form each attribute's absent word.
    func typedFields() -> [(label: String, text: String)] {
        let applicable = state.settings.applicable
        var fields: [(label: String, text: String)] = SettingKeys.typed.filter(applicable.contains).map { setting in
            let b = state.settings.base
            switch setting {
            case .epochs: return (SettingKeys.label(setting), "\(b.epochs)")
            case .learningRate: return (SettingKeys.label(setting), "\(b.learningRate)")
            case .batchSize: return (SettingKeys.label(setting), "\(b.batchSize)")
            default: return (SettingKeys.label(setting), "\(b.weightDecay)")
            }
        }
        if applicable.contains(.absentWords) {
            let attributes = trainingAttributes()
            let words = absentWords(state, attributes: attributes)
            fields += attributes.map { (SettingKeys.absentWordLabel($0), words[$0] ?? "") }
        }
        return fields
    }

    /// The typed settings: all or none applied. Whether a value is in range
    /// is the engine's rule (`TrainingConfig.check`), worded for this screen.
    func applyTyped(_ form: TextForm) -> String? {
        var trial = state
        for (label, text) in zip(form.labels, form.fields) {
            let t = text.trimmingCharacters(in: .whitespaces)
            /// The typed value, or why it is not one.
            func read<T: LosslessStringConvertible>(_ set: (inout TrainingSettings, T) -> Void) -> String? {
                guard let v = T(t) else { return "\(label): '\(t)' is not \(T.self == Int.self ? "a whole number" : "a number")" }
                set(&trial.settings, v)
                return nil
            }
            var problem: String?
            switch label {
            case SettingKeys.label(.epochs): problem = read { (s, v: Int) in s.base.epochs = v }
            case SettingKeys.label(.batchSize): problem = read { (s, v: Int) in s.base.batchSize = v }
            case SettingKeys.label(.learningRate): problem = read { (s, v: Float) in s.base.learningRate = v }
            case SettingKeys.label(.weightDecay): problem = read { (s, v: Float) in s.base.weightDecay = v }
            default:
                if let a = trainingAttributes().first(where: { SettingKeys.absentWordLabel($0) == label }) { trial.absentWords[a] = t }
            }
            if let problem { return problem }
        }
        do { _ = try trainingConfig(trial) } catch let e as SettingError { return SettingKeys.message(e) }
        catch { return "\(error)" }
        state = trial
        return nil
    }

    public func trainingAttributes() -> [String] {
        if state.method.training == .none { return [] }
        return GroupAssignment.runAttributes(given: state.attribute.map { [$0] } ?? [], decisions: Array(app.decisions.values), bundle: app.model.bundle)
    }

    /// The official form's absent word of each attribute: typed with `e`,
    /// else the engine's default (the verdict's absent phrase).
    func absentWords(_ s: TrainState, attributes: [String]) -> [String: String] {
        let decisions = Array(app.decisions.values)
        return Dictionary(uniqueKeysWithValues: attributes.map { a in
            (a, s.absentWords[a] ?? TrainingSettings.defaultAbsentWord(a, decisions: decisions))
        })
    }

    /// The settings of a state as the engine takes them, its configuration built by the engine's rules.
    func trainingConfig(_ s: TrainState) throws -> TrainingConfig {
        var settings = s.settings
        // The form chosen for ours-ls/vs stays for when m comes back to them; other methods run without it.
        settings.dropInapplicable = true
        settings.attributes = trainingAttributes()
        settings.absentWords = settings.isOfficialForm ? absentWords(s, attributes: settings.attributes) : [:]
        return try settings.build(decisions: Array(app.decisions.values), bundle: app.model.bundle).config
    }

    public func trainingConfig() throws -> TrainingConfig { try trainingConfig(state) }

    func startTraining() {
        guard !(state.running && !state.external) else { app.banner = "A run is already going (x cancels it)."; return }
        let config: TrainingConfig
        do { config = try trainingConfig() } catch let e as SettingError { app.banner = SettingKeys.message(e); return }
        catch { app.banner = "\(error)"; return }
        let bundle = app.model.bundle, workspace = app.model.workspace
        launch(method: config.method.rawValue) { try SettingKeys.worded { try Trainer.create(bundle: bundle, config: config, workspace: workspace) } }
    }

    func resumeRun() {
        guard !(state.running && !state.external) else { app.banner = "A run is already going (x cancels it)."; return }
        guard let id = state.resumable else { app.banner = "R: the run shown is not interrupted or cancelled"; return }
        let bundle = app.model.bundle, workspace = app.model.workspace
        launch(method: state.runMethod ?? "") { try SettingKeys.worded { try Trainer.resume(bundle: bundle, run: id, workspace: workspace) } }
    }

    fileprivate func launch(method: String, _ make: @escaping @Sendable () throws -> Trainer) {
        let engine = TrainingEngine()
        self.engine = engine
        localRun = nil
        state.runID = nil; state.runMethod = method
        state.reports = []; state.stepLosses = []; state.totalEpochs = 0; state.epochCursor = nil
        state.running = true; state.external = false; state.resumable = nil
        state.status = "starting…"
        state.startedAt = Date(); state.finishedAt = nil
        let inbox = app.inbox
        engine.start(make)
        Task.detached { for await e in engine.events { inbox.post(.engine(e)) } }
    }

    func applyEngine(_ e: TrainingEvent) {
        switch e {
        case .started(let run, let epochs, let steps, _):
            localRun = run
            state.runID = run; state.totalEpochs = epochs; state.stepsPerEpoch = max(1, steps); state.status = "running"
        case .step(_, _, let loss):
            state.stepLosses.append(loss)
        case .evaluated(let r):
            state.reports.removeAll { $0.epoch >= r.epoch }
            state.reports.append(r)
        case .sfrWeights(let summary):
            state.status = "running; " + summary.description
        case .finished:
            endLocalRun(status: "finished")
        case .cancelled(let o):
            endLocalRun(status: "cancelled after \(o.epochsDone) epochs (best checkpoint kept; R resumes)")
            state.resumable = o.run
        case .failed(_, let message):
            endLocalRun(status: "failed")
            app.banner = message
        }
    }

    func endLocalRun(status: String) {
        state.running = false
        state.finishedAt = Date()
        state.status = status
        app.groups.runsChanged()   // the Groups screen shows the new run
    }

    /// The run the workspace says to show, unless a local run owns the screen.
    func applyWorkspace(_ w: WorkspaceSnapshot) {
        // While a local run trains (or just trained), its events own the Train screen.
        if state.running && !state.external { return }
        guard let r = w.shown else { return }
        if r.id == localRun && r.status != .running { return }
        let me = Int(getpid())
        state.runID = r.id
        state.runMethod = r.method
        state.reports = w.shownEpochs
        state.stepLosses = w.shownEpochs.map { Float($0.trainLoss) }
        if let config = try? JSONDecoder().decode(TrainingConfig.self, from: Data(r.config.utf8)) {
            state.totalEpochs = config.plannedEpochs
        }
        state.startedAt = r.createdAt
        let live = r.status == .running && !r.isInterrupted && r.pid != me
        state.running = live
        state.external = live
        // The clock stops at the run's last update once it is not live.
        state.finishedAt = live ? nil : r.updatedAt
        state.resumable = r.isInterrupted || r.status == .cancelled ? r.id : nil
        switch r.status {
        case .running where live: state.status = "following run \(r.id) (\(r.method)) from another process"
        case .running: state.status = "interrupted: its process is gone (R resumes)"
        case .finished: state.status = "finished"
        case .cancelled: state.status = "cancelled (R resumes)"
        case .failed: state.status = "failed: " + r.message
        }
    }
}
