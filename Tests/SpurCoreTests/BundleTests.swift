import Foundation
import Testing
@testable import SpurCore

/// A small, sound bundle: 2 classes, 8 examples in three splits, ground
/// truth for `water`, detections, a 2×2 spatial grid.
enum SampleBundle {
    static let classes = ["landbird", "waterbird"]
    static let templates = ["a photo of a {}.", "a {} in the wild."]

    static func contents(spatial: Bool = true) -> BundleContents {
        let manifest = BundleManifest(
            model: "test-encoder", textEncoder: "test-text",
            dims: .init(imageDim: 4, textDim: 3, embeddingDim: 2), grid: .init(height: 2, width: 2),
            pooling: .mean, classes: classes, templates: templates,
            attributes: ["water", "land", "boat"], tensors: [])
        let splits: [Split] = [.train, .train, .train, .train, .val, .val, .test, .test]
        let examples = (0..<8).map { i in
            Example(id: "ex\(i)", image: "images/\(i).png", label: i % 2, split: splits[i],
                    attributes: i == 3 ? [:] : ["water": (i / 2) % 2],
                    mask: i < 2 ? "masks/\(i).png" : nil,
                    bbox: i == 0 ? BoundingBox(x0: 1, y0: 2, x1: 30.5, y1: 40) : nil)
        }
        let detections = [Detection(example: 0, attribute: 0, score: 0.875),
                          Detection(example: 2, attribute: 1, score: 0.5),
                          Detection(example: 7, attribute: 2, score: 0.25)]
        let prompts = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
        // Quarter steps are exact in f16, so the round trip can compare exactly.
        let spatialValues: [Float] = (0..<(8 * 4 * 4)).map { (i: Int) -> Float in Float(i % 13) * 0.25 - 1 }
        var pooled = Matrix(rows: 8, cols: 4)
        for e in 0..<8 { for c in 0..<4 { for d in 0..<4 { pooled[e, d] += spatialValues[(e * 4 + c) * 4 + d] / 4 } } }
        return BundleContents(
            manifest: manifest, examples: examples, detections: detections, prompts: prompts,
            pooled: pooled, spatial: spatial ? spatialValues : nil,
            textPrompts: Matrix(rows: 4, cols: 3, storage: (0..<12).map { Float($0) / 8 }),
            heads: ProjectionHeads(image: Matrix([[1, 0, 0, 0.5], [0, 1, 0.25, 0]]),
                                   text: Matrix([[1, 0, 0], [0, 0.5, 1]]), logitScale: 4.25))
    }

    static func temporaryDirectory(_ name: String) -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-bundles-\(getpid())")
        try? FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let dir = base.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    /// Writes the bundle and the image and mask files it names.
    static func write(_ name: String, _ c: BundleContents = contents()) throws -> String {
        let dir = temporaryDirectory(name)
        try BundleWriter.write(c, to: dir)
        try createFiles(c, in: dir)
        return dir
    }

    static func createFiles(_ c: BundleContents, in dir: String) throws {
        for sub in ["images", "masks"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        for e in c.examples {
            _ = FileManager.default.createFile(atPath: dir + "/" + e.image, contents: Data([0]))
            if let m = e.mask { _ = FileManager.default.createFile(atPath: dir + "/" + m, contents: Data([0])) }
        }
    }
}

struct BundleRoundTripTests {
    @Test func writtenBundleReadsBackIdentical() throws {
        let c = SampleBundle.contents()
        let dir = try SampleBundle.write("roundtrip", c)
        let b = try FeatureBundle.open(dir)
        var manifest = c.manifest
        manifest.tensors = ["image_pooled", "image_spatial", "text_prompts", "W_v", "W_t", "logit_scale"]
        #expect(b.manifest == manifest)
        #expect(b.examples == c.examples)
        #expect(b.detections == c.detections)
        #expect(b.prompts == c.prompts)
        #expect(b.groundTruthAttributes == ["water"])
        #expect(try b.pooledFeatures() == c.pooled)
        #expect(try b.pooledFeatures(rows: [5, 2]) == Matrix([Array(c.pooled.row(5)), Array(c.pooled.row(2))]))
        #expect(try b.promptFeatures() == c.textPrompts)
        #expect(try b.pretrainedHeads() == c.heads)
        #expect(try b.features.info("image_spatial").dtype == .f16)
        for e in 0..<8 {
            #expect(try b.spatialMap(example: e).storage == Array(c.spatial![e * 16 ..< (e + 1) * 16]))
        }
        #expect(b.promptRow("a waterbird in the wild.") == 3)
        #expect(b.indices(in: .val) == [4, 5])
        #expect(BundleCheck.run(directory: dir, deep: true).problems.isEmpty)
    }

    @Test func writingOverAnExistingBundleNeedsOverwrite() throws {
        let dir = try SampleBundle.write("exists")
        #expect(throws: InputError(file: dir, "already exists", remedy: .replaceExisting)) {
            try BundleWriter.write(SampleBundle.contents(), to: dir)
        }
        var c = SampleBundle.contents(spatial: false)
        c.prompts[0] = "changed"
        try BundleWriter.write(c, to: dir, overwrite: true)
        let b = try FeatureBundle.open(dir)
        #expect(b.prompts[0] == "changed" && !b.hasSpatialMaps)
    }
}

/// Each corruption of a sound bundle and the exact problems it must report.
struct BundleCorruptionTests {
    typealias Mutation = @Sendable (String) throws -> Void

    static func edit(_ file: String, _ transform: @escaping @Sendable (String) -> String) -> Mutation {
        { dir in
            let p = dir + "/" + file
            let text = try String(contentsOfFile: p, encoding: .utf8)
            try transform(text).write(toFile: p, atomically: true, encoding: .utf8)
        }
    }
    static func replace(_ file: String, _ a: String, _ b: String) -> Mutation {
        edit(file) { $0.replacingOccurrences(of: a, with: b) }
    }
    static func rewrite(_ change: @escaping @Sendable (inout BundleContents) -> Void) -> Mutation {
        { dir in
            var c = SampleBundle.contents()
            change(&c)
            try BundleWriter.write(c, to: dir, overwrite: true)
            try SampleBundle.createFiles(c, in: dir)
        }
    }
    static func editManifest(_ change: @escaping @Sendable (inout BundleManifest) -> Void) -> Mutation {
        { dir in
            var m = try BundleManifest.read(path: dir + "/manifest.json")
            change(&m)
            try m.write(to: dir + "/manifest.json")
        }
    }
    static func patchFeatures(_ change: @escaping @Sendable (inout Data) -> Void) -> Mutation {
        { dir in
            let p = dir + "/features.safetensors"
            var d = try Data(contentsOf: URL(fileURLWithPath: p))
            change(&d)
            try d.write(to: URL(fileURLWithPath: p))
        }
    }

    /// (name, mutation, deep, expected "file-relative: message" lines)
    static let cases: [(String, Mutation, Bool, [String])] = [
        ("missing manifest", { try FileManager.default.removeItem(atPath: $0 + "/manifest.json") }, false,
         ["manifest.json: is missing"]),
        ("manifest not JSON", edit("manifest.json") { String($0.dropLast(3)) }, false,
         ["manifest.json: is not valid JSON"]),
        ("manifest without dims", edit("manifest.json") {
            $0.replacingOccurrences(of: "\"dims\"", with: "\"dimz\"") }, false,
         ["manifest.json: dims: is missing"]),
        ("Dv not a number", replace("manifest.json", "\"Dv\" : 4", "\"Dv\" : \"four\""), false,
         ["manifest.json: dims.Dv: has the wrong type, expected an integer"]),
        ("unknown pooling", replace("manifest.json", "\"pooling\" : \"mean\"", "\"pooling\" : \"max\""), false,
         ["manifest.json: pooling: is not a known pooling, expected \"mean\", \"token\" or \"attention\""]),
        ("future format", replace("manifest.json", "\"format_version\" : 1", "\"format_version\" : 2"), false,
         ["manifest.json: format_version: is 2, expected 1"]),
        ("template without placeholder", replace("manifest.json", "a {} in the wild.", "a bird in the wild."), false,
         ["manifest.json: templates[1]: 'a bird in the wild.' has no {} for the class name"]),
        // Issue 12: each of these once trapped ("Duplicate values for key") in every command.
        ("class listed twice", editManifest { $0.classes.append("landbird") }, false,
         ["manifest.json: classes: lists 'landbird' twice"]),
        ("attribute listed twice", editManifest { $0.attributes.insert("boat", at: 0) }, false,
         ["manifest.json: attributes: lists 'boat' twice"]),
        ("group listed twice", editManifest { $0.groups = ["water", "water"] }, false,
         ["manifest.json: groups: lists 'water' twice"]),
        ("examples column twice", replace("examples.csv", "split,attr:water", "split,attr:water,attr:water"), false,
         ["examples.csv: header: lists column 'attr:water' twice"]),
        // Issue 12: an image_spatial the manifest does not list is still read, so its grid is checked.
        ("unlisted spatial maps on a smaller grid", editManifest { $0.tensors.removeAll { $0 == "image_spatial" }; $0.grid = .init(height: 1, width: 2) }, false,
         ["features.safetensors: tensor 'image_spatial': shape is [8, 2, 2, 4], expected [8, 1, 2, 4] from manifest.json and the CSVs"]),
        ("unlisted spatial maps on a wild grid", editManifest { $0.tensors.removeAll { $0 == "image_spatial" }; $0.grid = .init(height: 1 << 40, width: 1 << 40) }, false,
         ["features.safetensors: tensor 'image_spatial': shape is [8, 2, 2, 4], expected [8, 1099511627776, 1099511627776, 4] from manifest.json and the CSVs"]),
        ("missing examples", { try FileManager.default.removeItem(atPath: $0 + "/examples.csv") }, false,
         ["examples.csv: is missing"]),
        ("no split column", replace("examples.csv", "id,image,label,split,", "id,image,label,part,"), false,
         ["examples.csv: header: has no column 'split' (found: id, image, label, part, attr:water, mask, bbox)"]),
        ("unknown label", replace("examples.csv", "ex5,images/5.png,waterbird", "ex5,images/5.png,heron"), false,
         ["examples.csv: line 7, column label: 'heron' is not a class (expected one of: landbird, waterbird)"]),
        ("duplicate id", replace("examples.csv", "ex6,", "ex2,"), false,
         ["examples.csv: line 8, column id: 'ex2' repeats the id of line 4"]),
        ("example in no split", replace("examples.csv", "ex4,images/4.png,landbird,val", "ex4,images/4.png,landbird,"), false,
         ["examples.csv: line 6, column split: is empty: the example is in no split (expected train, val or test)"]),
        ("class without example", edit("examples.csv") { $0.replacingOccurrences(of: "waterbird", with: "landbird") }, false,
         ["examples.csv: label: class 'waterbird' has no example"]),
        ("bad bbox", replace("examples.csv", "1.0 2.0 30.5 40.0", "1 2 30"), false,
         ["examples.csv: line 2, column bbox: '1 2 30' is not 'x0 y0 x1 y1' with x0 < x1 and y0 < y1"]),
        ("bad ground truth", replace("examples.csv", "ex2,images/2.png,landbird,train,1", "ex2,images/2.png,landbird,train,yes"), false,
         ["examples.csv: line 4, column attr:water: 'yes' is not 0, 1 or blank"]),
        ("unknown attribute", replace("attributes.csv", "ex7,boat", "ex7,kayak"), false,
         ["attributes.csv: line 4, column attribute: 'kayak' is not in the manifest's attribute vocabulary"]),
        ("detection of unknown example", replace("attributes.csv", "ex2,land", "ex99,land"), false,
         ["attributes.csv: line 3, column id: 'ex99' is not an example in examples.csv"]),
        ("score not a number", replace("attributes.csv", "0.875", "high"), false,
         ["attributes.csv: line 2, column score: 'high' is not a finite decimal number"]),
        ("prompt rows differ", edit("prompts.csv") { $0 + "an extra prompt\n" }, false,
         ["features.safetensors: tensor 'text_prompts': shape is [4, 3], expected [5, 3] from manifest.json and the CSVs"]),
        ("dims disagree with tensors", replace("manifest.json", "\"E\" : 2", "\"E\" : 3"), false,
         ["features.safetensors: tensor 'W_v': shape is [2, 4], expected [3, 4] from manifest.json and the CSVs",
          "features.safetensors: tensor 'W_t': shape is [2, 3], expected [3, 3] from manifest.json and the CSVs"]),
        ("tensor listed but absent", replace("manifest.json", "\"W_t\",", "\"W_t\",\n    \"image_cls\","), false,
         ["features.safetensors: tensor 'image_cls': is listed in manifest.json but missing from the file"]),
        ("truncated features", patchFeatures { $0 = $0.prefix(40) }, false,
         ["features.safetensors: header: declares 448 bytes but the file has only 32 after the length"]),
        ("huge header length", patchFeatures { d in
            withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { d.replaceSubrange(0..<8, with: $0) } }, false,
         ["features.safetensors: header: declares 1099511627776 bytes; at most 100000000 are allowed"]),
        ("NaN feature", rewrite { $0.pooled[6, 1] = .nan }, true,
         ["features.safetensors: tensor 'image_pooled': row 6 (example 'ex6') holds nan, expected finite numbers"]),
        ("infinite spatial value", rewrite { $0.spatial![5 * 16 + 3] = .infinity }, true,
         ["features.safetensors: tensor 'image_spatial': row 5 (example 'ex5') holds inf, expected finite numbers"]),
        ("missing image", { try FileManager.default.removeItem(atPath: $0 + "/images/3.png") }, true,
         ["examples.csv: line 5, column image: 'images/3.png' does not exist"]),
        ("missing mask", { try FileManager.default.removeItem(atPath: $0 + "/masks/1.png") }, true,
         ["examples.csv: line 3, column mask: 'masks/1.png' does not exist"]),
    ]

    @Test(arguments: cases.indices)
    func corruptionIsReportedExactly(_ index: Int) throws {
        let (name, mutate, deep, expected) = Self.cases[index]
        let dir = try SampleBundle.write("corrupt-\(index)")
        try mutate(dir)
        let problems = BundleCheck.run(directory: dir, deep: deep).problems.map(\.description)
        #expect(problems == expected.map { dir + "/" + $0 }, "\(name)")
        if !deep {
            // Opening refuses the bundle with the first of those problems.
            #expect(throws: InputError.self) { try FeatureBundle.open(dir) }
        }
    }

    /// Issue 12: NaN and infinities passed every command but `validate`. The
    /// structural check at open does not scan values; each read checks what it reads.
    @Test func everyReadRefusesNonFiniteValues() throws {
        func bundle(_ name: String, _ change: (inout BundleContents) -> Void) throws -> FeatureBundle {
            var c = SampleBundle.contents()
            change(&c)
            return try FeatureBundle.open(try SampleBundle.write(name, c))
        }
        func expectProblem(_ b: FeatureBundle, _ field: String, _ problem: String, _ read: () throws -> Void) {
            #expect(throws: InputError(file: b.directory + "/features.safetensors", field: field, problem)) { try read() }
        }
        let scale = try bundle("nan-scale") { $0.heads.logitScale = .nan }
        expectProblem(scale, "tensor 'logit_scale'", "element 0 is nan, expected a finite number") { _ = try scale.pretrainedHeads() }
        let wv = try bundle("inf-wv") { $0.heads.image[1, 2] = -.infinity }
        expectProblem(wv, "tensor 'W_v'", "element 6 is -inf, expected a finite number") { _ = try wv.pretrainedHeads() }
        let spatial = try bundle("nan-spatial") { $0.spatial![5 * 16 + 3] = .nan }
        expectProblem(spatial, "tensor 'image_spatial'", "row 5 (example 'ex5') holds nan, expected finite numbers") { _ = try spatial.spatialMap(example: 5) }
        #expect(try spatial.spatialMap(example: 4).rows == 4)   // other maps still read
        let pooled = try bundle("inf-pooled") { $0.pooled[6, 1] = .infinity }
        expectProblem(pooled, "tensor 'image_pooled'", "element 25 is inf, expected a finite number") { _ = try pooled.pooledFeatures() }
        expectProblem(pooled, "tensor 'image_pooled'", "row 6 (example 'ex6') holds inf, expected finite numbers") { _ = try pooled.pooledFeatures(rows: [2, 6]) }
        let text = try bundle("nan-text") { $0.textPrompts[3, 0] = .nan }
        expectProblem(text, "tensor 'text_prompts'", "element 9 is nan, expected a finite number") { _ = try text.promptFeatures() }
    }

    @Test func validationReportsEveryProblemAtOnce() throws {
        let dir = try SampleBundle.write("many")
        try Self.replace("examples.csv", "ex5,images/5.png,waterbird", "ex5,images/5.png,heron")(dir)
        try Self.replace("attributes.csv", "0.875", "high")(dir)
        try Self.replace("manifest.json", "\"format_version\" : 1", "\"format_version\" : 7")(dir)
        let problems = BundleCheck.run(directory: dir, deep: true).problems
        #expect(problems.count == 3)
        do {
            _ = try FeatureBundle.open(dir)
            Issue.record("opened a broken bundle")
        } catch let e as InputError {
            #expect(e.description.hasSuffix("(and 2 more problems: run `spurscope validate \(dir)`)"))
        }
    }

    @Test func notADirectory() {
        let p = BundleCheck.run(directory: "/nonexistent/bundle", deep: false).problems
        #expect(p == [InputError(file: "/nonexistent/bundle", "is not a bundle directory (it does not exist or is a file)")])
    }
}
