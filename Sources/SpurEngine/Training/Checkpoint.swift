import Foundation
import SpurCore

/// A run's checkpoint: heads, optimizer state, model selection and the
/// method's own state (Group DRO's weights), in one safetensors file written atomically.
struct Checkpoint {
    var heads: ProjectionHeads
    var optimizerState: [String: [Float]]
    var selection: ModelSelection
    /// `TrainingHooks.checkpointState`.
    var methodState: [Double]?
    var epochsDone: Int
    /// The class side of `dfr` / `orth-proj` runs, which replace the text-derived one.
    var classifier: HeadClassifier? = nil

    func write(to path: String) throws {
        // The trainer stops before this can happen; a non-finite checkpoint
        // would break every later eval, cam and resume.
        if let bad = heads.firstNonFinite {
            throw InputError(file: path, field: "tensor '\(bad.tensor)'", "not written: element \(bad.index) is \(bad.value)")
        }
        AtomicFile.removeStaleTemporaries(of: path)   // a write killed earlier in this run
        var w = SafetensorsWriter()
        w.add("W_v", heads.image)
        w.add("W_t", heads.text)
        w.add("logit_scale", shape: [], floats: [heads.logitScale])
        for (name, values) in optimizerState.sorted(by: { $0.key < $1.key }) {
            w.add("optimizer." + name, shape: [values.count], floats: values)
        }
        w.metadata["epochs_done"] = String(epochsDone)
        w.metadata["selection"] = String(decoding: try JSONEncoder.sortedKeys.encode(selection), as: UTF8.self)
        // Doubles as text: a resumed run must continue with exactly these weights.
        // Named for its first user, so older checkpoints resume.
        if let methodState { w.metadata["group_weights"] = methodState.map { "\($0)" }.joined(separator: " ") }
        if let classifier {
            w.add("classifier.weight", classifier.classEmbeddings)
            w.add("classifier.bias", shape: [classifier.bias.count], floats: classifier.bias)
            w.add("classifier.scale", shape: [], floats: [classifier.scale])
        }
        try w.write(to: path)
    }

    static func readIfPresent(_ path: String, like heads: ProjectionHeads) throws -> Checkpoint? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try read(path, like: heads)
    }

    static func read(_ path: String, like heads: ProjectionHeads) throws -> Checkpoint {
        let f = try SafetensorsFile(path: path)
        let h = ProjectionHeads(image: try f.matrix("W_v", shape: [heads.image.rows, heads.image.cols]),
                                text: try f.matrix("W_t", shape: [heads.text.rows, heads.text.cols]),
                                logitScale: try f.floats("logit_scale")[0])
        if let bad = h.firstNonFinite {
            throw InputError(file: path, field: "tensor '\(bad.tensor)'", "element \(bad.index) is \(bad.value), expected a finite number")
        }
        var state: [String: [Float]] = [:]
        for name in f.names where name.hasPrefix("optimizer.") { state[String(name.dropFirst(10))] = try f.floats(name) }
        let selection = try f.metadata["selection"].map { try JSONDecoder().decode(ModelSelection.self, from: Data($0.utf8)) }
            ?? ModelSelection()
        let q = f.metadata["group_weights"].map { $0.split(separator: " ").compactMap { Double($0) } }
        var classifier: HeadClassifier?
        if f.names.contains("classifier.weight") {
            let weight = try f.matrix("classifier.weight", shape: [nil, h.embeddingDim])
            let bias = try f.floats("classifier.bias"), scale = try f.floats("classifier.scale")
            guard bias.count == weight.rows, scale.count == 1 else {
                throw InputError(file: path, field: "classifier.bias", "has \(bias.count) values for \(weight.rows) classes (and \(scale.count) scales, expected 1)")
            }
            classifier = HeadClassifier(heads: h, classEmbeddings: weight, scale: scale[0], bias: bias)
        }
        return Checkpoint(heads: h, optimizerState: state, selection: selection, methodState: q,
                          epochsDone: Int(f.metadata["epochs_done"] ?? "0") ?? 0, classifier: classifier)
    }
}


/// The best checkpoint's heads of a finished (or cancelled) run.
public enum RunCheckpoints {
    public static func bestHeads(run id: Int64, workspace: Workspace, like pretrained: ProjectionHeads) throws -> ProjectionHeads {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        guard let path = record.bestCheckpoint else {
            throw SettingError("run", "run \(id) has no checkpoint yet (status \(record.status.rawValue))")
        }
        return try Checkpoint.read(path, like: pretrained).heads
    }

    /// The classifier of a run's best checkpoint: its fitted or projected
    /// class side (`dfr`, `orth-proj`), or the class prompts through its heads.
    public static func bestClassifier(run id: Int64, workspace: Workspace, like pretrained: ProjectionHeads,
                                      classTemplates: Matrix, templateCount: Int) throws -> HeadClassifier {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        guard let path = record.bestCheckpoint else {
            throw SettingError("run", "run \(id) has no checkpoint yet (status \(record.status.rawValue))")
        }
        let checkpoint = try Checkpoint.read(path, like: pretrained)
        return checkpoint.classifier
            ?? HeadClassifier(heads: checkpoint.heads, classTemplates: classTemplates, templateCount: templateCount)
    }

    public static func config(run id: Int64, workspace: Workspace) throws -> TrainingConfig {
        guard let record = try workspace.run(id) else {
            throw SettingError("run", "run \(id) is not in the workspace \(workspace.path)")
        }
        return try JSONDecoder().decode(TrainingConfig.self, from: Data(record.config.utf8))
    }
}
