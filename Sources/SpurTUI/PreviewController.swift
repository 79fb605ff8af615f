import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Screen 2: every validation example of the selected (class, attribute),
/// with and without it, and the selected one's image and Grad-CAM map.
final class PreviewController: ScreenController {
    unowned let app: App
    var state = PreviewState()

    init(app: App) { self.app = app }

    private static let here: Set<Screen> = [.preview]
    /// Its keys are shared with other screens (`KeyBindings.shared`).
    static let bindings: [KeyBinding] = []

    /// Computed once per (class, attribute): the list is drawn every frame.
    private var lists: [Int: PreviewList] = [:]

    /// Every validation example of the class with the attribute, then every one without.
    func list() -> PreviewList {
        guard let row = app.attributes.selectedRow else { return PreviewList(all: [], withCount: 0, scores: [:]) }
        let model = app.model
        let key = row.classIndex * model.audit.attributes.count + row.attribute
        if let cached = lists[key] { return cached }
        let e = model.examples(class: row.classIndex, attribute: row.attribute, limit: .max)
        // Only the listed examples' rows of the table: an ImageNet-size bundle
        // has millions of detections, which this runs on the UI thread.
        let table = model.bundle.detectionTable
        var scores: [Int: Float] = [:]
        for example in e.with + e.without {
            for k in table.range(of: example) where Int(table.attributes[k]) == row.attribute {
                scores[example] = max(scores[example] ?? -.infinity, table.scores[k])
            }
        }
        let list = PreviewList(all: e.with + e.without, withCount: e.with.count, scores: scores)
        lists[key] = list
        return list
    }

    func currentExample() -> Int? {
        let all = list().all
        return all.isEmpty ? nil : all[min(state.selected, all.count - 1)]
    }

    var clickableSelection: Int? { state.selected }

    func didShow() { load() }

    func move(_ delta: Int) {
        let n = list().all.count
        guard n > 0 else { return }
        let old = state.selected
        state.selected = clamp(state.selected + delta, n)
        if old != state.selected { load() }
    }

    func disabledReason(_ action: Action) -> String? {
        switch action {
        case .cycleMapClass, .toggleOverlay:
            return app.model.bundle.hasHeatmaps ? nil : "the bundle has no spatial maps, so no Grad-CAM to show"
        default: return nil
        }
    }

    func perform(_ action: Action) {
        switch action {
        case .nextClass:
            app.attributes.nextClass()
            state.selected = 0
            load()
        case .search: app.input = .search("")
        case .cycleMapClass:
            // The first press moves away from the class shown (the example's label), not to class 0.
            guard let shown = state.current?.mapClass ?? currentExample().map({ app.model.bundle.examples[$0].label }) else { return }
            state.mapClass = (shown + 1) % app.model.classes.count
            load()
        case .toggleOverlay: state.overlay.toggle()
        default: break
        }
    }

    /// The bundle rows of the list `/` searches, and the selected position.
    func searchList() -> SearchList {
        let examples = app.model.bundle.examples
        return SearchList(noun: "example", labels: list().all.map { examples[$0].id }, current: state.selected) { [unowned self] i in
            move(i - state.selected)
        }
    }

    /// The map class the selection asks for: the one cycled to with `c`, else the example's label.
    func wantedMapClass(_ example: Int) -> Int { state.mapClass ?? app.model.bundle.examples[example].label }

    /// The rendering delivered, if it is of the selected example and map
    /// class. Renders arrive asynchronously: one still on screen after the
    /// selection moved would put another image under the list's selection.
    var currentRendering: Preview? {
        guard let p = state.current, let example = currentExample(),
              p.example == example, p.mapClass == wantedMapClass(example) else { return nil }
        return p
    }

    /// Renders the selected example off the UI thread (latest wins).
    func load() {
        guard let example = currentExample() else { state.current = nil; return }
        let mapClass = wantedMapClass(example)
        let model = app.model, inbox = app.inbox
        app.previewJobs.submit {
            do { inbox.post(.preview(try model.preview(example: example, mapClass: mapClass, classifier: nil))) }
            catch { inbox.post(.jobFailed("\(error)")) }
        }
    }

    func snapshot() -> PreviewView {
        PreviewView(row: app.attributes.selectedRow, list: list(), selected: state.selected, overlay: state.overlay, current: currentRendering)
    }
}
