import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// A small bundle whose features are made by hand: `x = [class signal,
/// water signal, noise]`, identity projections, and prompts whose text
/// features point along the water axis ("a photo of water." = +e₁,
/// "a photo of land." = −e₁). Train is 95 % aligned (190/10/10/190),
/// val and test balanced.
enum ProbeBundle {
    static let classes = ["landbird", "waterbird"]
    static let templates = ["a photo of a {}.", "a {} in the wild."]

    static func contents(classSignal: Float, seed: UInt64 = 5) -> BundleContents {
        var rng = SeededGenerator(seed: seed)
        var examples: [Example] = []
        var rows: [[Float]] = []
        let plan: [(Split, [Int])] = [(.train, [190, 10, 10, 190]), (.val, [50, 50, 50, 50]), (.test, [100, 100, 100, 100])]
        for (split, counts) in plan {
            for (g, count) in counts.enumerated() {
                let y = g / 2, w = g % 2
                for _ in 0..<count {
                    examples.append(Example(id: "e\(examples.count)", image: "images/\(examples.count).png", label: y, split: split,
                                            attributes: ["water": w, "land": 1 - w]))
                    rows.append([classSignal * Float(2 * y - 1) + 0.3 * rng.nextGaussian(),
                                 Float(2 * w - 1) + 0.2 * rng.nextGaussian(), rng.nextGaussian()])
                }
            }
        }
        let manifest = BundleManifest(model: "hand-made", textEncoder: "hand-made-text",
                                      dims: .init(imageDim: 3, textDim: 3, embeddingDim: 3), grid: .init(height: 1, width: 1),
                                      pooling: .mean, classes: classes, templates: templates,
                                      attributes: ["water", "land"], tensors: [], groups: ["water"])
        let prompts = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
            + ["a photo of water.", "a photo of land."]
        // Class prompts lean on the water axis, as a biased pre-training would.
        let text = Matrix([[-1, -0.5, 0], [-1, -0.4, 0.1], [1, 0.5, 0], [1, 0.4, -0.1], [0, 1, 0], [0, -1, 0]])
        let identity = Matrix([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
        return BundleContents(manifest: manifest, examples: examples, detections: [], prompts: prompts,
                              pooled: Matrix(rows.map { $0 }), spatial: nil, textPrompts: text,
                              heads: ProjectionHeads(image: identity, text: identity, logitScale: log(10)))
    }

    static func write(_ name: String, classSignal: Float) throws -> FeatureBundle {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-probe-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: dir)
        try BundleWriter.write(contents(classSignal: classSignal), to: dir)
        return try FeatureBundle.open(dir)
    }
}

struct FeatureProbeTests {
    func line(_ r: FeatureProbeReport, _ key: String) throws -> ProbeLine {
        try #require(r.lines.first { $0.key == key }, "no line \(key)")
    }

    /// The class is linearly separable (margin ≈ 6 noise deviations): every
    /// class probe finds it in every group, whatever the training groups.
    @Test func separableClassIsFoundByEveryProbe() throws {
        let r = try FeatureProbe.run(bundle: try ProbeBundle.write("separable", classSignal: 2))
        #expect(r.attribute == "water" && r.groupsFrom == "ground truth" && r.features == 3)
        for key in ["erm", "erm-reweighted", "dfr-ceiling", "attribute"] {
            let l = try line(r, key)
            #expect(l.groups.count == 4 && l.groups.allSatisfy { $0.n == 100 })
            #expect(l.worstGroup >= 0.97, "\(key): worst group \(l.worstGroup)")
        }
        // The words: v·(e₁ − (−e₁)) has the sign of the water signal.
        let w = try #require(r.words)
        #expect(w.versusPrompt == "a photo of land." && (w.accuracy ?? 0) >= 0.97 && w.auc > 0.99)
    }

    /// Nothing in the features but the background: the ERM probe learns
    /// the shortcut (the minority groups fail), a probe on balanced data
    /// is at chance, the attribute is perfectly decodable.
    @Test func classAbsentFromFeaturesFailsWhereItMust() throws {
        let r = try FeatureProbe.run(bundle: try ProbeBundle.write("shortcut", classSignal: 0))
        let erm = try line(r, "erm")
        #expect(erm.worstGroup <= 0.2, "ERM worst group \(erm.worstGroup)")
        #expect(erm.groups.first { $0.name == "landbird, no water" }!.accuracy >= 0.9)
        let dfr = try line(r, "dfr-ceiling")
        #expect(abs(dfr.average - 0.5) < 0.1, "balanced probe average \(dfr.average) should be chance")
        #expect(try line(r, "attribute").worstGroup >= 0.97)
    }

    @Test func unknownAttributeIsNamed() throws {
        let b = try ProbeBundle.write("bad", classSignal: 1)
        #expect(throws: SettingError.self) { try FeatureProbe.run(bundle: b, attribute: "boat") }
    }

    /// AUC by hand: scores (0.1, 0.4, 0.35, 0.8) with positives at 0.35 and
    /// 0.8: pairs (pos > neg) = (0.35>0.1, 0.8>0.1, 0.8>0.4) = 3 of 4.
    @Test func areaUnderROCByHand() {
        #expect(FeatureProbe.areaUnderROC(scores: [0.1, 0.4, 0.35, 0.8], positives: [false, false, true, true]) == 0.75)
        // A tie between a positive and a negative counts half.
        #expect(FeatureProbe.areaUnderROC(scores: [0.5, 0.5], positives: [true, false]) == 0.5)
    }
}
