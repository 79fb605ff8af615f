import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The Preview screen's handlers: the example list and its rendering job.
extension App {
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
}
