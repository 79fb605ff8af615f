import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The Groups screen's handlers: the test split under the pre-trained model
/// and a run, the group browser and the run picker.
extension App {
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
}
