import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The Attributes screen's handlers: verdicts, undo, and the orth-proj
/// preview of the attributes marked spurious.
extension App {
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
}
