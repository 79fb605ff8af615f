import Foundation
import Testing
@testable import SpurCore

struct DetectionTableTests {
    @Test func groupsByExampleKeepingTheDetectorsOrder() {
        let list = [Detection(example: 2, attribute: 1, score: 0.5), Detection(example: 0, attribute: 2, score: 0.25),
                    Detection(example: 2, attribute: 0, score: 0.75), Detection(example: 0, attribute: 2, score: 0.125)]
        let t = DetectionTable(exampleCount: 4, detections: list)
        // Worked by hand: example 0 has two entries, 1 none, 2 two, 3 none.
        #expect(t.offsets == [0, 2, 2, 4, 4])
        #expect(t.attributes == [2, 2, 1, 0])
        #expect(t.scores == [0.25, 0.125, 0.5, 0.75])
        #expect(t.detections == [list[1], list[3], list[0], list[2]])
    }
}

struct DetectionsFileTests {
    static let vocabulary = ["water", "land", "boat"]
    static let table = DetectionTable(offsets: [0, 2, 2, 3], attributes: [0, 2, 1], scores: [0.9, 0.125, 0.5])

    static func path(_ name: String) -> String {
        SampleBundle.temporaryDirectory("detections-\(name).safetensors")
    }

    /// A file with the given arrays and metadata, written without the checks of `DetectionsFile.write`.
    static func raw(_ name: String, offsets: [Int64], attributes: [Int32], scores: [Float],
                    vocabulary: [String] = vocabulary) throws -> String {
        var w = SafetensorsWriter()
        w.add("offsets", shape: [offsets.count], int64s: offsets)
        w.add("attribute", shape: [attributes.count], int32s: attributes)
        w.add("score", shape: [scores.count], floats: scores)
        let names = String(decoding: try JSONSerialization.data(withJSONObject: vocabulary), as: UTF8.self)
        w.metadata = ["format": DetectionsFile.format, "version": DetectionsFile.version, "attributes": names]
        let p = path(name)
        try w.write(to: p)
        return p
    }

    @Test func roundTripIsExact() throws {
        let p = Self.path("roundtrip")
        try DetectionsFile.write(Self.table, vocabulary: Self.vocabulary, to: p)
        #expect(try DetectionsFile.read(path: p, exampleCount: 3, vocabulary: Self.vocabulary) == Self.table)
        // The layout is the documented one, read back through the generic reader.
        let f = try SafetensorsFile(path: p)
        #expect(f.tensors["offsets"]?.dtype == .i64 && f.tensors["attribute"]?.dtype == .i32 && f.tensors["score"]?.dtype == .f32)
        #expect(try f.integers("offsets") == [0, 2, 2, 3])
        #expect(f.metadata["attributes"] == #"["water","land","boat"]"#)
    }

    static func rejection(_ p: String, examples: Int = 3, vocabulary: [String] = vocabulary) -> InputError? {
        do {
            _ = try DetectionsFile.read(path: p, exampleCount: examples, vocabulary: vocabulary)
            return nil
        } catch let e as InputError { return e } catch { return InputError(file: "?", "\(error)") }
    }

    @Test func decreasingOffsetsAreRejected() throws {
        let e = Self.rejection(try Self.raw("decreasing", offsets: [0, 2, 1, 3], attributes: [0, 2, 1], scores: [1, 1, 1]))
        #expect(e?.field == "tensor 'offsets'")
        #expect(e?.problem.contains("entry 2 is 1, less than entry 1") == true)
        #expect(e?.file.hasSuffix("detections-decreasing.safetensors") == true)
    }

    @Test func offsetsThatDoNotSpanTheEntriesAreRejected() throws {
        let first = Self.rejection(try Self.raw("first", offsets: [1, 2, 2, 3], attributes: [0, 2, 1], scores: [1, 1, 1]))
        #expect(first?.field == "tensor 'offsets'" && first?.problem.contains("entry 0 is 1") == true)
        let last = Self.rejection(try Self.raw("last", offsets: [0, 2, 2, 2], attributes: [0, 2, 1], scores: [1, 1, 1]))
        #expect(last?.problem.contains("entry 3 (the last) is 2, expected 3") == true)
        let rows = Self.rejection(try Self.raw("rows", offsets: [0, 3], attributes: [0, 2, 1], scores: [1, 1, 1]))
        #expect(rows?.problem.contains("has 2 entries, expected 4 (examples.csv has 3 examples)") == true)
    }

    @Test func outOfRangeAttributeIndicesAreRejected() throws {
        for (name, bad) in [("index3", Int32(3)), ("negative", Int32(-1))] {
            let e = Self.rejection(try Self.raw(name, offsets: [0, 2, 2, 3], attributes: [0, 2, bad], scores: [1, 1, 1]))
            #expect(e?.field == "tensor 'attribute'")
            #expect(e?.problem.contains("entry 2 (example row 2) is \(bad), expected an index 0..<3") == true)
        }
    }

    @Test func nonFiniteScoresAreRejected() throws {
        let e = Self.rejection(try Self.raw("nan", offsets: [0, 2, 2, 3], attributes: [0, 2, 1], scores: [1, .nan, 1]))
        #expect(e?.field == "tensor 'score'")
        #expect(e?.problem.contains("entry 1 (example row 0) is nan, expected a finite number") == true)
    }

    @Test func anotherVocabularyIsRejected() throws {
        let p = try Self.raw("vocab", offsets: [0, 2, 2, 3], attributes: [0, 2, 1], scores: [1, 1, 1],
                             vocabulary: ["water", "sea", "boat"])
        let e = Self.rejection(p)
        #expect(e?.field == "__metadata__.attributes")
        #expect(e?.problem.contains("entry 1 is 'sea' where manifest.json has 'land'") == true)
    }

    @Test func wrongDtypesAndTruncationAreRejected() throws {
        var w = SafetensorsWriter()
        w.add("offsets", shape: [4], int32s: [0, 2, 2, 3])
        w.add("attribute", shape: [3], int32s: [0, 2, 1])
        w.add("score", shape: [3], floats: [1, 1, 1])
        w.metadata = ["attributes": #"["water","land","boat"]"#]
        let p = Self.path("dtype")
        try w.write(to: p)
        let e = Self.rejection(p)
        #expect(e?.field == "tensor 'offsets'" && e?.problem == "dtype is I32, expected I64")

        let good = Self.path("truncated")
        try DetectionsFile.write(Self.table, vocabulary: Self.vocabulary, to: good)
        let data = try Data(contentsOf: URL(fileURLWithPath: good))
        try data.prefix(data.count - 4).write(to: URL(fileURLWithPath: good))
        #expect(Self.rejection(good)?.field?.hasPrefix("tensor '") == true)
    }

    @Test func aBundleWithTheBinaryFileReadsItInsteadOfTheCSV() throws {
        var c = SampleBundle.contents()
        c.manifest.detections = DetectionsFile.defaultName
        c.manifest.detectionThreshold = 0.1
        let dir = try SampleBundle.write("binary-detections", c)
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + FeatureBundle.attributesFile))
        let b = try FeatureBundle.open(dir)
        #expect(b.detections == c.detections)
        #expect(b.manifest.presenceThreshold == 0.1)
        #expect(BundleCheck.run(directory: dir, deep: true).problems.isEmpty)

        // A broken binary file is reported by validate's checks with its file and field.
        var w = SafetensorsWriter()
        w.add("offsets", shape: [9], int64s: [0, 1, 1, 2, 2, 2, 2, 2, 3])
        w.add("attribute", shape: [3], int32s: [0, 1, 7])
        w.add("score", shape: [3], floats: [0.875, 0.5, 0.25])
        w.metadata = ["attributes": #"["water","land","boat"]"#]
        try w.write(to: dir + "/" + DetectionsFile.defaultName)
        let problems = BundleCheck.run(directory: dir, deep: true).problems
        #expect(problems.count == 1)
        #expect(problems.first?.description == "\(dir)/detections.safetensors: tensor 'attribute': entry 2 (example row 7) is 7, expected an index 0..<3 into the attribute vocabulary")
    }

    @Test func manifestFieldsAreChecked() throws {
        var c = SampleBundle.contents()
        c.manifest.detectionThreshold = 1.5
        let dir = try SampleBundle.write("bad-threshold", c)
        let problems = BundleCheck.run(directory: dir, deep: false).problems.map(\.description)
        #expect(problems == ["\(dir)/manifest.json: detection_threshold: is 1.5, expected a detector score in 0...1"])

        var m = try BundleManifest.read(path: dir + "/manifest.json")
        m.detectionThreshold = nil
        m.detections = "../elsewhere.safetensors"
        try m.write(to: dir + "/manifest.json")
        let second = BundleCheck.run(directory: dir, deep: false).problems.map(\.description)
        #expect(second.first == "\(dir)/manifest.json: detections: '../elsewhere.safetensors' is not a file name in the bundle directory")
    }
}
