import Foundation
import Testing
import SpurCore

/// A tiny dataset in the WILDS Waterbirds layout with exported features,
/// built in a temporary directory.
struct WaterbirdsFixture {
    let dir: String
    /// (y, split, place) per metadata row.
    static let rows: [(Int, Int, Int)] = [
        (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 1), (1, 0, 1), (1, 0, 1), (1, 0, 0),
        (0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1),
        (0, 2, 0), (0, 2, 1), (1, 2, 0), (1, 2, 1), (1, 2, 1),
    ]

    init(name: String, spatial: Bool = true, metadataEdit: (String) -> String = { $0 }) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("wb-\(name)-\(getpid())").path
        let fm = FileManager.default
        try? fm.removeItem(atPath: dir)
        try fm.createDirectory(atPath: dir + "/images/001.Bird", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/segmentations/001.Bird", withIntermediateDirectories: true)
        var csv = "img_id,img_filename,y,split,place,place_filename\n"
        for (i, r) in Self.rows.enumerated() {
            let file = "001.Bird/img_\(i).jpg"
            csv += "\(i + 1),\(file),\(r.0),\(r.1),\(r.2),/x/y.jpg\n"
            // Real (tiny) images: validate reads every header.
            try ImageFile.writeJPEG(RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 90, count: 48)), to: dir + "/images/" + file)
            _ = fm.createFile(atPath: dir + "/segmentations/001.Bird/img_\(i).png",
                              contents: try ImageFile.encodePNG(RGBImage(width: 4, height: 4, pixels: [UInt8](repeating: 200, count: 48)), for: "mask"))
        }
        try metadataEdit(csv).write(toFile: dir + "/metadata.csv", atomically: true, encoding: .utf8)
        let n = Self.rows.count
        var w = SafetensorsWriter()
        w.metadata = ["model": "RN50-test"]
        w.add("image_pooled", shape: [n, 4], floats: (0..<(n * 4)).map { Float($0) / 10 })
        if spatial { w.add("image_spatial", shape: [n, 2, 2, 4], float16s: (0..<(n * 16)).map { Float($0 % 7) }) }
        w.add("text_prompts", shape: [3, 3], floats: (0..<9).map(Float.init))
        w.add("W_v", shape: [2, 4], floats: [1, 0, 0, 0, 0, 1, 0, 0])
        w.add("W_t", shape: [2, 3], floats: [1, 0, 0, 0, 1, 0])
        w.add("logit_scale", shape: [], floats: [4.6])
        try w.write(to: dir + "/features.safetensors")
        try "prompt\na photo of a landbird.\na photo of a waterbird.\n\"a bird, on water\"\n"
            .write(toFile: dir + "/prompts.csv", atomically: true, encoding: .utf8)
        try "a photo of a {}.\n# comment\na {} in the wild.\n".write(toFile: dir + "/templates.txt", atomically: true, encoding: .utf8)
    }

    func importArguments(out: String) -> [String] {
        ["import", "waterbirds", "--metadata", dir + "/metadata.csv", "--images", dir + "/images",
         "--masks", dir + "/segmentations", "--features", dir + "/features.safetensors",
         "--prompts", dir + "/prompts.csv", "--templates", dir + "/templates.txt", "--out", out]
    }
}

struct ImportWaterbirdsTests {
    @Test func importedBundleCarriesTheWILDSStructure() throws {
        let f = try WaterbirdsFixture(name: "ok")
        let out = f.dir + "/bundle"
        let r = try CLIRunner.run(f.importArguments(out: out))
        #expect(r.status == 0, "\(r.stderr)")
        let b = try FeatureBundle.open(out)
        #expect(b.manifest.classes == ["landbird", "waterbird"])
        #expect(b.manifest.templates == ["a photo of a {}.", "a {} in the wild."])
        #expect(b.manifest.model == "RN50-test")
        #expect(b.manifest.grid == .init(height: 2, width: 2) && b.hasSpatialMaps)
        #expect(b.prompts[2] == "a bird, on water")
        #expect(b.examples.map(\.label) == WaterbirdsFixture.rows.map(\.0))
        #expect(b.examples.map(\.split) == WaterbirdsFixture.rows.map { [Split.train, .val, .test][$0.1] })
        #expect(b.examples.map { $0.attributes["water"] } == WaterbirdsFixture.rows.map(\.2))
        #expect(b.examples[3].id == "4" && b.examples[3].image == f.dir + "/images/001.Bird/img_3.jpg")
        #expect(b.examples[3].mask == f.dir + "/segmentations/001.Bird/img_3.png")
        // Two detections per example: water = place, land = 1 − place.
        #expect(b.detections.count == 32)
        #expect(b.detections[6] == Detection(example: 3, attribute: 0, score: 1))
        #expect(b.detections[7] == Detection(example: 3, attribute: 1, score: 0))

        let validate = try CLIRunner.run(["validate", out])
        #expect(validate.status == 0 && validate.stdout.contains("sound — 16 examples"))

        // Table 1 layout: counted by hand from WaterbirdsFixture.rows.
        let info = try CLIRunner.run(["info", out])
        #expect(info.status == 0)
        #expect(info.stdout.contains("examples    16: train 7, val 4, test 5"))
        let table = """
        group counts by ground-truth 'water'
        group                  train      val     test
        landbird, no water         3        1        1
        landbird, water            1        1        1
        waterbird, no water        1        1        1
        waterbird, water           2        1        2
        """
        #expect(info.stdout.contains(table), "\(info.stdout)")
        let json = try CLIRunner.run(["info", out, "--json"])
        let object = try #require(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["examples"] as? [String: Int] == ["train": 7, "val": 4, "test": 5])
    }

    @Test func badSplitCodeNamesTheMetadataLine() throws {
        let f = try WaterbirdsFixture(name: "badsplit") { $0.replacingOccurrences(of: "5,001.Bird/img_4.jpg,1,0,", with: "5,001.Bird/img_4.jpg,1,3,") }
        let out = f.dir + "/bundle"
        let r = try CLIRunner.run(f.importArguments(out: out))
        #expect(r.status == 2)
        #expect(r.stderr == "error: \(f.dir)/metadata.csv: line 6, column split: '3' is not one of 0, 1, 2\n")
        #expect(!FileManager.default.fileExists(atPath: out), "a failed import leaves nothing behind")
    }

    @Test func missingImageIsReportedAgainstTheMetadataAndNothingIsWritten() throws {
        let f = try WaterbirdsFixture(name: "noimage")
        try FileManager.default.removeItem(atPath: f.dir + "/images/001.Bird/img_9.jpg")
        let out = f.dir + "/bundle"
        let r = try CLIRunner.run(f.importArguments(out: out))
        #expect(r.status == 2)
        #expect(r.stderr == "error: \(f.dir)/metadata.csv: line 11, column image: '\(f.dir)/images/001.Bird/img_9.jpg' does not exist\n")
        #expect(!FileManager.default.fileExists(atPath: out))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.dir).filter { $0.contains("partial") }
        #expect(leftovers.isEmpty)
    }

    @Test func featureRowsMustMatchTheMetadata() throws {
        let f = try WaterbirdsFixture(name: "rows") { $0 + "17,001.Bird/img_0.jpg,0,0,0,/x\n" }
        let r = try CLIRunner.run(f.importArguments(out: f.dir + "/bundle"))
        #expect(r.status == 2)
        #expect(r.stderr == "error: \(f.dir)/features.safetensors: tensor 'image_pooled': shape is [16, 4], expected [17, _]\n")
    }
}

struct ImportTensorsTests {
    @Test func genericImportResolvesPathsAndBuildsTheVocabulary() throws {
        let f = try WaterbirdsFixture(name: "tensors", spatial: false)
        var csv = "id,image,label,split,attr:sky\n"
        for (i, r) in WaterbirdsFixture.rows.enumerated() {
            csv += "e\(i),images/001.Bird/img_\(i).jpg,\(r.0 == 1 ? "duck" : "sparrow"),\(["train", "val", "test"][r.1]),\(r.2)\n"
        }
        try csv.write(toFile: f.dir + "/examples.csv", atomically: true, encoding: .utf8)
        try "id,attribute,score\ne0,tree,0.9\ne1,sky,0.2\ne5,tree,0.4\n".write(toFile: f.dir + "/attributes.csv", atomically: true, encoding: .utf8)
        let out = f.dir + "/generic"
        let r = try CLIRunner.run(["import", "tensors", "--examples", f.dir + "/examples.csv",
                                   "--attributes", f.dir + "/attributes.csv", "--features", f.dir + "/features.safetensors",
                                   "--prompts", f.dir + "/prompts.csv", "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let b = try FeatureBundle.open(out)
        #expect(b.manifest.classes == ["sparrow", "duck"])
        #expect(b.manifest.attributes == ["tree", "sky"])
        #expect(b.manifest.templates.count == 80 && !b.hasSpatialMaps)
        #expect(b.detections == [Detection(example: 0, attribute: 0, score: 0.9), Detection(example: 1, attribute: 1, score: 0.2),
                                 Detection(example: 5, attribute: 0, score: 0.4)])
        #expect(b.examples[2].image == f.dir + "/images/001.Bird/img_2.jpg")
        #expect(b.groundTruthAttributes == ["sky"])

        // Importing again over it needs --force.
        let again = try CLIRunner.run(["import", "tensors", "--examples", f.dir + "/examples.csv",
                                       "--features", f.dir + "/features.safetensors", "--prompts", f.dir + "/prompts.csv", "--out", out])
        #expect(again.status == 2 && again.stderr == "error: \(out): already exists; pass --force to replace it\n")
    }
}

struct ValidateCommandTests {
    @Test func listsEveryProblemAndExitsTwo() throws {
        let f = try WaterbirdsFixture(name: "validate")
        let out = f.dir + "/bundle"
        #expect(try CLIRunner.run(f.importArguments(out: out)).status == 0)
        var examples = try String(contentsOfFile: out + "/examples.csv", encoding: .utf8)
        examples = examples.replacingOccurrences(of: ",waterbird,train", with: ",heron,train")
        try examples.write(toFile: out + "/examples.csv", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: f.dir + "/images/001.Bird/img_0.jpg")
        let r = try CLIRunner.run(["validate", out])
        #expect(r.status == 2)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(r.stderr)")   // three unknown labels, one missing image, the count
        #expect(lines[0] == "\(out)/examples.csv: line 6, column label: 'heron' is not a class (expected one of: landbird, waterbird)")
        #expect(lines[3] == "\(out)/examples.csv: line 2, column image: '\(f.dir)/images/001.Bird/img_0.jpg' does not exist")
        #expect(lines[4] == "\(out): 4 problems")
        let info = try CLIRunner.run(["info", out])
        #expect(info.status == 2 && info.stderr.contains("(and 2 more problems: run `spurscope validate \(out)`)"))
    }
}

/// Issue 24: a bundle shared by a group is readable by its members: every
/// file spurscope writes into it (atomically or streamed) has the mode the
/// umask gives, the binary detections file included.
@Test func bundleFilesKeepTheUmasksMode() throws {
    let bundle = try NonSquareBundle.write("modes")
    let r = try CLIRunner.run(["import", "detections", bundle, "--force"])
    #expect(r.status == 0, "\(r.stderr)")
    let fm = FileManager.default
    let files = try fm.contentsOfDirectory(atPath: bundle).filter { !$0.hasPrefix(".") }
    #expect(files.contains("detections.safetensors") && files.contains(FeatureBundle.featuresFile))
    let mask = umask(0o022); umask(mask)
    for name in files {
        var st = stat()
        #expect(stat(bundle + "/" + name, &st) == 0)
        guard (st.st_mode & S_IFMT) == S_IFREG else { continue }
        #expect(st.st_mode & 0o777 == 0o666 & ~mask, "\(name): \(String(st.st_mode & 0o777, radix: 8))")
    }
}

/// Issue 25: `mark` refuses control characters (naming the flag), and
/// `decisions` escapes any a workspace already holds instead of printing them.
@Test func controlCharactersNeverReachTheTerminal() throws {
    let bundle = try NonSquareBundle.write("escapes")
    let ws = FileManager.default.temporaryDirectory.appendingPathComponent("escapes-ws-\(getpid())").path
    try? FileManager.default.removeItem(atPath: ws)
    let r = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "landbird", "--attribute", "water",
                               "--verdict", "spurious", "--note", "title\u{1B}]0;owned\u{07}"])
    #expect(r.status == 2 && r.stderr.contains("--note: holds the control character U+001B"), "\(r.stderr)")
    #expect(!r.stderr.contains("\u{1B}"), "\(r.stderr)")
    #expect(try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "landbird", "--attribute", "water",
                               "--verdict", "spurious", "--note", "fine"]).status == 0)
    // A row written behind spurscope's back (an older version, a hand edit).
    let sql = Process()
    sql.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    sql.arguments = [ws + "/workspace.sqlite", "UPDATE decisions SET note = 'a' || char(27) || ']52;c;ZXZpbA==' || char(7) || char(10) || 'b'"]
    try sql.run(); sql.waitUntilExit()
    #expect(sql.terminationStatus == 0)
    let d = try CLIRunner.run(["decisions", bundle, "--workspace", ws])
    #expect(d.status == 0 && d.stdout.contains("a\\u{1B}]52;c;ZXZpbA==\\u{7}\\u{A}b"), "\(d.stdout)")
    #expect(!d.stdout.contains("\u{1B}") && !d.stdout.contains("\u{07}"), "\(d.stdout)")
}
