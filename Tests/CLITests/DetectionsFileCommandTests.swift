import Foundation
import Testing
import SpurCore
import SpurEngine

/// `spurscope import detections`: attributes.csv → detections.safetensors,
/// after which the bundle's audit is unchanged and validate checks the file.
struct DetectionsFileCommandTests {
    static let attributes = ["water", "land", "boat", "tree", "sky", "rock"]

    /// 400 examples of two classes (240 in val), three detections each from a
    /// seeded generator, a few scores at exactly 0.5 and no attribute twice
    /// in one image (attributes.csv refuses a repeated pair, issue 25);
    /// written with attributes.csv.
    static func bundle(_ name: String) throws -> String {
        var rng = SeededGenerator(seed: 31, purpose: "detections-cli")
        let n = 400, dv = 6, dt = 5, e = 4
        let manifest = BundleManifest(model: "test", textEncoder: "test", dims: .init(imageDim: dv, textDim: dt, embeddingDim: e),
                                      grid: .init(height: 1, width: 1), pooling: .mean, classes: ["cat", "dog"],
                                      templates: ["a photo of a {}."], attributes: attributes, tensors: [])
        let examples = (0..<n).map { Example(id: "img\($0)", image: "img\($0).png", label: $0 % 2, split: [.train, .test, .val, .val, .val][$0 % 5]) }
        var detections: [Detection] = []
        for i in 0..<n {
            var used = Set<Int>()
            for k in 0..<3 {
                var a = k == 0 && i % 2 == 0 ? 0 : Int(rng.next() % UInt64(attributes.count))
                while !used.insert(a).inserted { a = (a + 1) % attributes.count }
                let score: Float = i % 17 == 0 ? 0.5 : Float(rng.next() % 1000) / 1000
                detections.append(Detection(example: i, attribute: a, score: score))
            }
        }
        let prompts = ["a photo of a cat.", "a photo of a dog."] + attributes.map { "a photo of \($0)." }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-detfile-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try BundleWriter.write(BundleContents(
            manifest: manifest, examples: examples, detections: detections, prompts: prompts,
            pooled: rng.gaussianMatrix(rows: n, cols: dv), spatial: nil,
            textPrompts: rng.gaussianMatrix(rows: prompts.count, cols: dt),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv), text: rng.gaussianMatrix(rows: e, cols: dt), logitScale: 2)),
            to: dir)
        // Real (tiny) images: validate reads every header.
        let png = try ImageFile.encodePNG(RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 128, count: 48)), for: "image")
        for ex in examples { _ = FileManager.default.createFile(atPath: dir + "/" + ex.image, contents: png) }
        return dir
    }

    static func audit(_ dir: String, _ extra: [String] = []) throws -> String {
        let r = try CLIRunner.run(["detect", dir, "--json", "--top", "0", "--min-support", "5"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test func convertedBundleGivesTheSameAuditTable() throws {
        let dir = try Self.bundle("roundtrip")
        let before = try Self.audit(dir)
        let strict = try Self.audit(dir, ["--threshold", "0.7", "--attribute-threshold", "water=0.2"])
        #expect(before != strict)   // the thresholds matter, so equal tables below say something

        let r = try CLIRunner.run(["import", "detections", dir])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("1200 detections of 400 examples"))
        let manifest = try BundleManifest.read(path: dir + "/manifest.json")
        #expect(manifest.detections == "detections.safetensors")
        // The CSV is no longer read: removing it changes nothing.
        try FileManager.default.removeItem(atPath: dir + "/attributes.csv")
        #expect(try Self.audit(dir) == before)
        #expect(try Self.audit(dir, ["--threshold", "0.7", "--attribute-threshold", "water=0.2"]) == strict)
        let v = try CLIRunner.run(["validate", dir])
        #expect(v.status == 0 && v.stdout.contains("1200 detections"), "\(v.stderr)")

        let again = try CLIRunner.run(["import", "detections", dir])
        #expect(again.status == 2 && again.stderr.contains("manifest.json: detections: already names 'detections.safetensors'"))
    }

    /// The manifest's detection_threshold is the default of the audit and of
    /// the engine's grouping; bundles without it keep 0.5.
    @Test func manifestThresholdIsTheDefault() throws {
        let dir = try Self.bundle("threshold")
        let at05 = try Self.audit(dir, ["--threshold", "0.5"])
        let at07 = try Self.audit(dir, ["--threshold", "0.7"])
        #expect(at05 != at07)
        #expect(try Self.audit(dir) == at05)
        var m = try BundleManifest.read(path: dir + "/manifest.json")
        m.detectionThreshold = 0.7
        try m.write(to: dir + "/manifest.json")
        #expect(try Self.audit(dir) == at07)
        #expect(try Self.audit(dir, ["--threshold", "0.5"]) == at05)   // the flag still wins
        let text = try CLIRunner.run(["detect", dir, "--min-support", "5"])
        #expect(text.stdout.contains("presence from detections ≥ 0.7"))

        let b = try FeatureBundle.open(dir)
        let byBundle = try GroupAssignment(bundle: b, attributes: ["water"], source: .detections())
        #expect(byBundle.values == (try GroupAssignment(bundle: b, attributes: ["water"], source: .detections(threshold: 0.7)).values))
        #expect(byBundle.values != (try GroupAssignment(bundle: b, attributes: ["water"], source: .detections(threshold: 0.5)).values))
        var config = TrainingConfig(method: .zeroshot)
        config.attributes = ["water"]
        let data = try TrainingData.prepare(bundle: b, config: config, decisions: [])
        #expect(data.val.values == data.val.rows.map { byBundle.values[$0] })
    }

    @Test func corruptBinaryFileFailsValidateWithFileAndField() throws {
        let dir = try Self.bundle("corrupt")
        #expect(try CLIRunner.run(["import", "detections", dir]).status == 0)
        let path = dir + "/detections.safetensors"
        let good = try SafetensorsFile(path: path)
        let offsets = try good.integers("offsets").map(Int64.init)
        let attrs = try good.integers("attribute").map(Int32.init)
        let scores = try good.floats("score")
        func write(offsets: [Int64], attributes: [Int32], scores: [Float]) throws {
            var w = SafetensorsWriter()
            w.add("offsets", shape: [offsets.count], int64s: offsets)
            w.add("attribute", shape: [attributes.count], int32s: attributes)
            w.add("score", shape: [scores.count], floats: scores)
            w.metadata = good.metadata
            try w.write(to: path)
        }
        var o = offsets; o[10] = o[11] + 1
        var a = attrs; a[5] = 6
        var s = scores; s[7] = .nan
        let cases: [(String, () throws -> Void)] = [
            ("tensor 'offsets': entry 11 is", { try write(offsets: o, attributes: attrs, scores: scores) }),
            ("tensor 'attribute': entry 5 (example row 1) is 6, expected an index 0..<6", { try write(offsets: offsets, attributes: a, scores: scores) }),
            ("tensor 'score': entry 7 (example row 2) is nan", { try write(offsets: offsets, attributes: attrs, scores: s) }),
        ]
        for (expected, corrupt) in cases {
            try corrupt()
            for command in [["validate", dir], ["detect", dir]] {
                let r = try CLIRunner.run(command)
                #expect(r.status == 2 && !r.signalled)
                #expect(r.stderr.contains("\(path): \(expected)"), "\(command[0]): \(r.stderr)")
            }
        }
    }
}
