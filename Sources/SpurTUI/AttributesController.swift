import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Screen 1: the ranked δ table of a class, verdicts, notes, undo, and the
/// orth-proj preview of the attributes marked spurious.
final class AttributesController: ScreenController {
    unowned let app: App
    var state = AttributesState()
    /// The orth-proj preview for the attributes marked spurious: zero-shot
    /// and projected zero-shot test metrics (key: the attributes joined).
    var projection: (key: String, preview: OrthogonalProjection.Preview)?
    /// The request `projection` answers, and the one being computed.
    private var projectionIdentity: String?
    private var projectionPending: String?
    /// Undo bookkeeping, touched only by jobs on the (serial) write queue.
    let undoLog = UndoLog()
    /// Verdicts shown before their write has come back: the newest one per pair and how many writes are pending.
    var pending: [String: (verdict: Verdict, count: Int)] = [:]

    init(app: App) { self.app = app }

    private static let here: Set<Screen> = [.attributes]
    static let bindings: [KeyBinding] = [
        .init(keys: [.tab], label: "Tab", description: "next class", action: .nextClass, screens: [.attributes, .preview], hint: true, short: "class"),
        .init(keys: [.character("s")], label: "s", description: "mark the attribute spurious for this class", action: .markSpurious, screens: here, hint: true, short: "spurious"),
        .init(keys: [.character("h")], label: "h", description: "mark it healthy", action: .markHealthy, screens: here, hint: true, short: "healthy"),
        .init(keys: [.character("u")], label: "u", description: "mark it undecided", action: .markUndecided, screens: here, hint: true, short: "undecided"),
        .init(keys: [.character("U"), .control("z")], label: "U", description: "undo the last verdict (Ctrl-Z)", action: .undo, screens: here, hint: true, short: "undo"),
        .init(keys: [.character("n")], label: "n", description: "edit the note and the L_ls phrases", action: .editNote, screens: here, hint: true, short: "note"),
        .init(keys: [.character("/")], label: "/", description: "filter attributes by name (Esc clears)", action: .filter, screens: here, hint: true, short: "filter"),
        .init(keys: [.escape], label: "Esc", description: "clear the filter", action: .clearFilter, screens: here, hint: false, inHelp: false),
        .init(keys: [.character("o")], label: "o", description: "next order: evidence, |δ|, δ, −δ, support", action: .cycleOrder, screens: here, hint: true, short: "order"),
    ]

    // MARK: rows

    /// The audit table never changes, so the ranked rows depend only on
    /// (class, order, filter): ranked once per combination, not on every frame
    /// and every key that asks for the selected row.
    private var rankedRows: (key: String, rows: [DiscrepancyRow])?

    func rows() -> [DiscrepancyRow] {
        let key = "\(state.classIndex)\u{1}\(state.order)\u{1}\(state.filter)"
        if let cached = rankedRows, cached.key == key { return cached.rows }
        let model = app.model
        var rows = model.audit.table.ranked(class: state.classIndex, by: state.order)
        if !state.filter.isEmpty {
            rows = rows.filter { model.audit.attributes[$0.attribute].localizedCaseInsensitiveContains(state.filter) }
        }
        rankedRows = (key, rows)
        return rows
    }

    /// The longest attribute name (the table's name column), measured once.
    private(set) lazy var nameWidth = app.model.audit.attributes.map(\.count).max() ?? 9

    var selectedRow: DiscrepancyRow? {
        let rows = rows()
        return rows.isEmpty ? nil : rows[min(state.selected, rows.count - 1)]
    }

    var clickableSelection: Int? { state.selected }

    func move(_ delta: Int) { state.selected = clamp(state.selected + delta, rows().count) }

    func nextClass() {
        state.classIndex = (state.classIndex + 1) % app.model.classes.count
        state.selected = 0
    }

    // MARK: keys

    func disabledReason(_ action: Action) -> String? {
        switch action {
        case .undo, .markSpurious, .markHealthy, .markUndecided, .editNote:
            return rows().isEmpty ? "no attribute row is shown" : nil
        default: return nil
        }
    }

    func perform(_ action: Action) {
        switch action {
        case .nextClass: nextClass()
        case .markSpurious: mark(.spurious)
        case .markHealthy: mark(.healthy)
        case .markUndecided: mark(.undecided)
        case .undo: undo()
        case .editNote: editNote()
        case .filter: app.input = .filter(state.filter)
        case .clearFilter: state.filter = ""; state.selected = 0
        case .cycleOrder:
            let all = AttributeOrder.allCases
            state.order = all[(all.firstIndex(of: state.order)! + 1) % all.count]
            state.selected = 0
        default: break
        }
    }

    func handleFilter(_ key: Key, _ text: String) {
        var text = text
        switch key {
        case .enter: state.filter = text; app.input = nil
        case .escape: state.filter = ""; app.input = nil
        case .backspace: if !text.isEmpty { text.removeLast() }; app.input = .filter(text); state.filter = text
        case .control("u"): text = ""; app.input = .filter(text); state.filter = text
        case .character(let ch): text.append(ch); app.input = .filter(text); state.filter = text
        default: break
        }
        state.selected = 0
    }

    // MARK: verdicts (written off the UI thread, in order)

    /// Shows the verdict at once and writes it in the background; the
    /// workspace's answer (with its id and history) replaces it.
    func mark(_ v: Verdict) {
        guard let row = selectedRow else { return }
        let c = app.model.classes[row.classIndex], a = app.model.audit.attributes[row.attribute]
        let key = Decision.key(className: c, attribute: a)
        pending[key] = (v, (pending[key]?.count ?? 0) + 1)
        app.banner = "\(c) / \(a): \(v.rawValue) (saving…)"
        app.write { ws in
            let d = try ws.record(className: c, attribute: a, verdict: v)
            return .saved(d, banner: "\(c) / \(a): \(v.rawValue) (saved)", marked: true)
        }
    }

    /// Undoes the newest verdict not yet undone: the pair gets back its
    /// previous decision from the workspace's history (or undecided). The
    /// history is read and written in the background, after every pending write.
    func undo() {
        let log = undoLog
        app.write { ws in
            let history = try ws.history()
            guard let last = history.last(where: { !log.undone.contains($0.id) && !log.records.contains($0.id) }) else {
                return .banner("Nothing to undo.")
            }
            let before = history.last { $0.id < last.id && $0.className == last.className && $0.attribute == last.attribute }
            let phrases = Decision.defaultPhrases(last.attribute)
            let d = try ws.record(className: last.className, attribute: last.attribute, verdict: before?.verdict ?? .undecided,
                                  note: before?.note ?? "", phrasePresent: before?.phrasePresent ?? phrases.present,
                                  phraseAbsent: before?.phraseAbsent ?? phrases.absent)
            log.undone.insert(last.id)
            log.records.insert(d.id)
            return .saved(d, banner: "undone: \(last.className) / \(last.attribute) is \(d.verdict.rawValue) again (was \(last.verdict.rawValue))",
                          marked: false)
        }
    }

    /// A write came back: the decision as stored.
    func saved(_ d: Decision, marked: Bool) {
        app.decisions[d.key] = d
        if marked, let p = pending[d.key] { pending[d.key] = p.count > 1 ? (p.verdict, p.count - 1) : nil }
        loadProjection()
    }

    func editNote() {
        guard let row = selectedRow else { return }
        let c = app.model.classes[row.classIndex], a = app.model.audit.attributes[row.attribute]
        let d = app.decisions[Decision.key(className: c, attribute: a)]
        let phrases = Decision.defaultPhrases(a)
        app.input = .note(form: TextForm(labels: ["note", "phrase present", "phrase absent"],
                                         fields: [d?.note ?? "", d?.phrasePresent ?? phrases.present, d?.phraseAbsent ?? phrases.absent]),
                          className: c, attribute: a)
    }

    func handleNote(_ key: Key, form: TextForm, className c: String, attribute a: String) {
        var form = form
        switch key {
        case .escape: app.input = nil
        case .enter:
            let v = app.decisions[Decision.key(className: c, attribute: a)]?.verdict ?? .undecided
            let f = form.fields
            app.input = nil
            app.banner = "\(c) / \(a): saving the note…"
            app.write { ws in
                let d = try ws.record(className: c, attribute: a, verdict: v, note: f[0], phrasePresent: f[1], phraseAbsent: f[2])
                return .saved(d, banner: "\(c) / \(a): note and phrases saved", marked: false)
            }
        default:
            if form.edit(key) { app.input = .note(form: form, className: c, attribute: a) }
        }
    }

    // MARK: orth-proj preview

    /// The attributes marked spurious, and what identifies a preview of
    /// them: the attributes and every phrase orth-proj projects out, so an
    /// edited phrase is a new preview (encoded live on a real bundle).
    private func projectionRequest() -> (label: String, identity: String, attributes: [String])? {
        let decisions = Array(app.decisions.values)
        let spurious = Decision.spuriousAttributes(decisions)
        guard !spurious.isEmpty else { return nil }
        let label = spurious.joined(separator: " + ")
        let words = OrthogonalProjection.phrases(attributes: spurious, classes: app.model.bundle.manifest.classes, decisions: decisions)
        return (label, ([label] + words).joined(separator: "\n"), spurious)
    }

    /// What orth-proj would do with the attributes marked spurious, computed
    /// off the UI thread; the screen says so while it runs.
    func loadProjection() {
        guard let request = projectionRequest() else { projection = nil; projectionIdentity = nil; projectionPending = nil; return }
        if projectionIdentity == request.identity || projectionPending == request.identity { return }
        projectionPending = request.identity
        let bundle = app.model.bundle, decisions = Array(app.decisions.values), inbox = app.inbox
        app.projectionJobs.submit {
            do { inbox.post(.projection(key: request.identity, try OrthogonalProjection.preview(bundle: bundle, attributes: request.attributes, decisions: decisions))) }
            catch { inbox.post(.projectionFailed(key: request.identity, "orth-proj preview: \(error)")) }
        }
    }

    func applyProjection(key identity: String, _ p: OrthogonalProjection.Preview) {
        guard let request = projectionRequest(), request.identity == identity else { return }
        projection = (request.label, p)
        projectionIdentity = identity
        if projectionPending == identity { projectionPending = nil }
    }

    func projectionFailed(key identity: String) {
        if projectionPending == identity { projectionPending = nil }
    }

    // MARK: snapshot

    func snapshot() -> AttributesView {
        let rows = rows()
        return AttributesView(classIndex: state.classIndex, order: state.order, filter: state.filter, rows: rows,
                              selected: rows.isEmpty ? 0 : min(state.selected, rows.count - 1), decisions: app.decisions,
                              pending: pending.mapValues(\.verdict),
                              projection: projection, projectionPending: projectionPending != nil, nameWidth: nameWidth)
    }
}

/// Which decisions undo has undone, and which it wrote (skipped by the next undo).
final class UndoLog: @unchecked Sendable {
    // @unchecked: only jobs on the serial write queue read or change it.
    var undone: Set<Int64> = [], records: Set<Int64> = []
}
