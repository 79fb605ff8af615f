import Foundation
import Testing
import SpurAudit
import SpurCore
import SpurEngine
import SpurTUI

/// Issue 12, "one grouping rule": an example is in the same group in the
/// audit, in a run's training and evaluation data and in the UI, and a blank
/// ground-truth cell is unknown everywhere. The expected values are worked
/// out by hand from the table below, not computed by the code under test.
@Suite struct GroupingConsistencyTests {
    /// (split, class, ground-truth water or nil for a blank cell, water detection scores).
    static let table: [(Split, Int, Int?, [Float])] = [
        (.train, 0, 0, [0.2]), (.train, 0, 1, [0.5]), (.train, 1, 1, [0.49, 0.51]),
        (.train, 1, nil, [0.9]), (.train, 0, 0, []), (.train, 1, 0, [0.3]),
        (.val, 0, 1, [0.7]), (.val, 0, 0, [0.1]), (.val, 1, nil, [0.55]),
        (.val, 1, 1, [0.49]), (.val, 0, 0, [0.5]), (.val, 1, 0, []),
        (.test, 0, 1, [0.8]), (.test, 0, nil, [0.6]), (.test, 1, 0, [0.2]),
        (.test, 1, 1, [0.95]), (.test, 0, 0, []), (.test, 1, nil, []),
    ]
    /// Best water score ≥ 0.5 (a score of exactly 0.5 counts; of two detections the best).
    static let detected = [0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0]
    /// The `attr:water` column, blank → −1.
    static let truth = [0, 1, 1, -1, 0, 0, 1, 0, -1, 1, 0, 0, 1, -1, 0, 1, 0, -1]

    static func bundle() throws -> String {
        var rng = SeededGenerator(seed: 12)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("grouping-\(UUID().uuidString)").path
        let text = WordVectorTextEncoder(seed: 3, dim: 6)
        let examples = table.enumerated().map { i, row in
            Example(id: "e\(i)", image: "x.png", label: row.1, split: row.0, attributes: row.2.map { ["water": $0] } ?? [:])
        }
        var detections: [Detection] = []
        for (i, row) in table.enumerated() {
            for s in row.3 { detections.append(Detection(example: i, attribute: 0, score: s)) }
        }
        // A second attribute, so presence is not all about water.
        detections += [Detection(example: 0, attribute: 1, score: 0.9), Detection(example: 6, attribute: 1, score: 0.6)]
        let templates = ["a photo of a {}."]
        let prompts = ["landbird", "waterbird"].map { FeatureBundle.fill(templates[0], with: $0) }
        var manifest = BundleManifest(model: "t", textEncoder: text.descriptor, dims: .init(imageDim: 5, textDim: 6, embeddingDim: 4),
                                      grid: .init(height: 1, width: 1), pooling: .mean, classes: ["landbird", "waterbird"],
                                      templates: templates, attributes: ["water", "boat"], tensors: [], groups: ["water"])
        // Two water detections of one example: attributes.csv refuses a repeated pair (issue 25), the binary file keeps both.
        manifest.detections = DetectionsFile.defaultName
        try BundleWriter.write(BundleContents(
            manifest: manifest,
            examples: examples, detections: detections, prompts: prompts, pooled: rng.gaussianMatrix(rows: table.count, cols: 5),
            spatial: nil, textPrompts: text.encode(prompts),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: 4, cols: 5), text: rng.gaussianMatrix(rows: 4, cols: 6), logitScale: 2)),
                               to: dir)
        return dir
    }

    @Test func assignmentFollowsTheHandWorkedTable() throws {
        let b = try FeatureBundle.open(try Self.bundle())
        #expect(try GroupAssignment(bundle: b, attributes: ["water"], source: .detections()).values == Self.detected)
        #expect(try GroupAssignment(bundle: b, attributes: ["water"], source: .groundTruth).values == Self.truth)
        // A per-attribute threshold: only scores ≥ 0.6 count for water.
        let strict = try GroupAssignment(bundle: b, attributes: ["water"], source: .detections(threshold: 0.5, overrides: ["water": 0.6]))
        #expect(strict.values == [0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0])
        // Two attributes: bit 1 is boat (present in examples 0 and 6).
        let two = try GroupAssignment(bundle: b, attributes: ["water", "boat"], source: .detections())
        #expect(two.values == zip(Self.detected, b.examples.indices).map { v, e in v | ((e == 0 || e == 6) ? 2 : 0) })
        #expect(two.valueName(2) == "no water, boat")
        #expect(PresenceSource.best(for: ["water"], in: b) == .groundTruth)
        #expect(PresenceSource.best(for: ["water", "boat"], in: b) == .detections())
    }

    @Test func trainingDataUsesTheSameGroups() throws {
        let b = try FeatureBundle.open(try Self.bundle())
        var config = TrainingConfig(method: .erm)
        config.attributes = ["water"]
        let data = try TrainingData.prepare(bundle: b, config: config, decisions: [])
        for split in [data.train, data.val, data.test] {
            #expect(split.values == split.rows.map { Self.detected[$0] })
            #expect(split.evaluationValues == split.rows.map { Self.truth[$0] })
        }
        config.groundTruth = true
        let truthData = try TrainingData.prepare(bundle: b, config: config, decisions: [])
        #expect(truthData.train.values == [0, 1, 1, -1, 0, 0])
        // Blank examples are in no evaluation group: 4 of the 6 test examples are counted.
        let m = try Evaluation.metrics(data.pretrained, data: data, split: data.test)
        #expect(m.groups.map(\.total) == [1, 1, 1, 1])
    }

    @Test func auditAndUIAgreeWithTheAssignment() throws {
        let path = try Self.bundle()
        let b = try FeatureBundle.open(path)
        let result = try Audit(split: .val, minimumSupport: 1).run(b, heads: try b.pretrainedHeads())
        #expect(result.rows == Array(6..<12))
        #expect(result.rows.indices.map { result.presence.contains(example: $0, attribute: 0) ? 1 : 0 } == Array(Self.detected[6..<12]))

        let model = try UIModel(bundle: path, workspace: nil)
        let land = model.examples(class: 0, attribute: 0), water = model.examples(class: 1, attribute: 0)
        #expect(land.with == [6, 10] && land.without == [7])
        #expect(water.with == [8] && water.without == [9, 11])
        // The Groups screen: ground truth, the blank examples 13 and 17 in no group
        // (the UI used to put them with "no water").
        #expect(try model.members(of: .init(label: 0, value: 0)) == [16])
        #expect(try model.members(of: .init(label: 0, value: 1)) == [12])
        #expect(try model.members(of: .init(label: 1, value: 0)) == [14])
        #expect(try model.members(of: .init(label: 1, value: 1)) == [15])
    }

    @Test func zeroShotPresenceDoesNotDependOnTheAuditedSplit() throws {
        let b = try FeatureBundle.open(try Self.bundle())
        let heads = try b.pretrainedHeads()
        let all = try GroupAssignment(bundle: b, attributes: ["water"], source: .zeroShot(quantile: 0.5))
        // The cut is the val split's: score index ⌊0.5·6⌋ = 3 of its 6 sorted
        // scores, so exactly 3 val examples reach it.
        #expect(b.indices(in: .val).filter { all.values[$0] == 1 }.count == 3)
        for split in [Split.val, .test, .train] {
            let r = try Audit(split: split, source: .zeroShot(quantile: 0.5), minimumSupport: 1).run(b, heads: heads)
            #expect(r.rows.indices.map { r.presence.contains(example: $0, attribute: 0) ? 1 : 0 } == r.rows.map { all.values[$0] })
        }
    }

    @Test func runAttributesDefaultToMarksThenBenchmarkGroups() throws {
        let path = try Self.bundle()
        let b = try FeatureBundle.open(path)
        #expect(GroupAssignment.runAttributes(given: [], decisions: [], bundle: b) == ["water"])
        #expect(GroupAssignment.runAttributes(given: ["boat"], decisions: [], bundle: b) == ["boat"])
        let mark = try Workspace(bundle: path).record(className: "landbird", attribute: "boat", verdict: .spurious)
        #expect(GroupAssignment.runAttributes(given: [], decisions: [mark], bundle: b) == ["boat"])
    }

    @Test func errorsNameTheSettingNotAFlag() throws {
        let b = try FeatureBundle.open(try Self.bundle())
        #expect(throws: SettingError.self) { try GroupAssignment(bundle: b, attributes: ["unicorn"], source: .detections()) }
        do {
            _ = try GroupAssignment(bundle: b, attributes: ["boat"], source: .groundTruth)
            Issue.record("no error")
        } catch let e as SettingError {
            #expect(e.setting == "groundTruth" && e.problem.contains("attr:boat") && !e.problem.contains("--"))
        }
        var config = TrainingConfig(method: .oursLS)
        config.attributes = []
        do {
            _ = try TrainingData.prepare(bundle: b, config: config, decisions: [])
            Issue.record("no error")
        } catch let e as SettingError {
            #expect(e.setting == "attributes" && !e.problem.contains("--"))
        }
    }
}
