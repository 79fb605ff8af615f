import Foundation
import Testing
import SpurCore

/// Real-looking data and bad input (issue 12): each test runs the exact input
/// that once crashed a command or slipped through it.
struct NonSquareImageTests {
    static let bundle: Result<String, Error> = Result { try NonSquareBundle.write("cli") }

    /// `cam` on 500 × 375, 375 × 500 and 64 × 48 PNG and JPEG images: the
    /// pictures keep the image's aspect ratio inside a 16 × 8 box.
    @Test(arguments: ["png", "jpg"], NonSquareBundle.sizes.indices)
    func camDrawsNonSquareImages(format: String, size: Int) throws {
        let bundle = try Self.bundle.get()
        let (w, h) = NonSquareBundle.sizes[size]
        let id = NonSquareBundle.id(format, w, h, .val)
        // 500 × 375 and 64 × 48 (4:3): 16 columns, 6 rows; 375 × 500: 12 columns, 8 rows.
        let (columns, rows) = w > h ? (16, 6) : (12, 8)
        let colour = try CLIRunner.run(["cam", bundle, "--example", id, "--width", "16"])
        #expect(colour.status == 0, "\(colour.stderr)")
        let art = colour.stdout.split(separator: "\n").dropFirst()
        #expect(art.count == rows)
        #expect(art.allSatisfy { $0.filter { $0 == "▀" }.count == 2 * columns })
        let ascii = try CLIRunner.run(["cam", bundle, "--example", id, "--width", "16", "--ascii"])
        #expect(ascii.status == 0, "\(ascii.stderr)")
        let lines = ascii.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().dropLast()
        #expect(lines.count == rows && lines.allSatisfy { $0.count == 2 * columns + 2 })
        // Every class's map, not only the true class's.
        #expect(try CLIRunner.run(["cam", bundle, "--example", id, "--class", "waterbird"]).status == 0)
    }

    /// AIoU with non-square masks (PNG and JPEG) on a non-square grid.
    @Test func evalMeasuresAIoUOnNonSquareMasks() throws {
        let r = try CLIRunner.run(["eval", try Self.bundle.get(), "--zeroshot", "--split", "test", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let average = try #require(o["aiou_average"] as? Double)
        #expect(average > 0 && average < 1)
        let groups = try #require(o["groups"] as? [[String: Any]])
        #expect(groups.count == 4 && groups.allSatisfy { ($0["aiou"] as? Double).map { $0 >= 0 && $0 <= 1 } == true })
    }

    /// A PNG with a side over the limit (here 65535 × 1: 196 KB of pixels,
    /// once a 17 GB heatmap) is refused with the file named, exit status 2.
    @Test func camRefusesAnImageWithAnAbsurdSide() throws {
        let bundle = try NonSquareBundle.write("long-side")
        let id = NonSquareBundle.id("png", 64, 48, .val)
        let path = try String(contentsOfFile: bundle + "/examples.csv", encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix(id + ",") }!.split(separator: ",")[1]
        try ImageFile.writePNG(RGBImage(width: 65535, height: 1, pixels: [UInt8](repeating: 7, count: 65535 * 3)), to: String(path))
        let r = try CLIRunner.run(["cam", bundle, "--example", id])
        #expect(r.status == 2)
        #expect(r.stderr.contains("\(path): image is 65535x1 pixels, over the limit of 30000 pixels a side"), "\(r.stderr)")
        // A long but allowed image draws one row of cells, not 30000 columns' worth.
        try ImageFile.writePNG(RGBImage(width: 30000, height: 1, pixels: [UInt8](repeating: 7, count: 30000 * 3)), to: String(path))
        let long = try CLIRunner.run(["cam", bundle, "--example", id, "--width", "16"])
        #expect(long.status == 0 && long.stdout.split(separator: "\n").count == 2, "\(long.stderr)")
    }
}

/// A class or attribute listed twice in manifest.json once trapped every
/// command ("Duplicate values for key"); now each refuses the bundle naming
/// the file and the field, with exit status 2.
struct DuplicateManifestEntryTests {
    static let commands: [[String]] = [
        ["validate"], ["info"], ["detect"], ["decisions"],
        ["mark", "--class", "landbird", "--attribute", "water", "--verdict", "spurious"],
        ["train", "--method", "erm", "--epochs", "1"], ["eval", "--zeroshot"], ["compare", "--methods", "zeroshot"],
        ["cam", "--example", NonSquareBundle.id("png", 64, 48, .val)], ["ui"],
    ]

    @Test(arguments: [("classes", "landbird"), ("attributes", "water")])
    func everyCommandRefusesTheBundle(field: String, name: String) throws {
        let bundle = try NonSquareBundle.write("duplicate-\(field)")
        var m = try BundleManifest.read(path: bundle + "/manifest.json")
        if field == "classes" { m.classes.append(name) } else { m.attributes.append(name) }
        try m.write(to: bundle + "/manifest.json")
        let ws = temporaryWorkspace("duplicate-\(field)")
        for command in Self.commands {
            let r = try CLIRunner.run([command[0], bundle] + command.dropFirst() + (command[0] == "validate" || command[0] == "info" ? [] : ["--workspace", ws]))
            #expect(r.status == 2, "\(command): \(r.stderr)")
            #expect(r.stdout.contains("\(bundle)/manifest.json: \(field): lists '\(name)' twice")
                    || r.stderr.contains("\(bundle)/manifest.json: \(field): lists '\(name)' twice"), "\(command): \(r.stdout) \(r.stderr)")
        }
    }

    @Test func importRefusesAClassGivenTwice() throws {
        let r = try CLIRunner.run(["import", "tensors", "--examples", "/nonexistent/examples.csv", "--classes", "a,b,a",
                                   "--features", "/nonexistent/f.safetensors", "--prompts", "/nonexistent/p.csv",
                                   "--out", "/tmp/never-written"])
        #expect(r.status == 2 && r.stderr.contains("--classes: lists 'a' twice"), "\(r.stderr)")
    }
}

/// `image_spatial` in features.safetensors but not in the manifest's tensor
/// list: its grid went unchecked, so a wild grid trapped `cam` (overflow in
/// FeatureBundle) and a wrong small one silently misread the maps.
struct UnlistedSpatialMapTests {
    @Test(arguments: [(1 << 40, 1 << 40), (2, 6)])
    func camAndEvalRefuseAGridThatDisagreesWithTheMaps(height: Int, width: Int) throws {
        let bundle = try NonSquareBundle.write("unlisted-\(height)")
        var m = try BundleManifest.read(path: bundle + "/manifest.json")
        m.tensors.removeAll { $0 == "image_spatial" }
        m.grid = .init(height: height, width: width)
        try m.write(to: bundle + "/manifest.json")
        let message = "\(bundle)/features.safetensors: tensor 'image_spatial': shape is [18, 3, 4, 4], expected [18, \(height), \(width), 4]"
        for command in [["cam", bundle, "--example", NonSquareBundle.id("jpg", 500, 375, .test)],
                        ["eval", bundle, "--zeroshot"], ["validate", bundle]] {
            let r = try CLIRunner.run(command)
            #expect(r.status == 2 && (r.stderr + r.stdout).contains(message), "\(command): \(r.stderr)")
        }
    }
}

/// `train --lr 1e9` once exited 0 with infinite weights as its best checkpoint.
struct DivergingTrainingTests {
    @Test(arguments: [("erm", "sgd"), ("ours-ls", "adam"), ("groupdro", "sgd")])
    func trainStopsAsFailedAndSaysToLowerTheLearningRate(method: String, optimizer: String) throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("diverge-\(method)")
        let r = try CLIRunner.run(["train", bundle, "--method", method, "--optimizer", optimizer, "--attribute", "water",
                                   "--lr", "1e9", "--epochs", "3", "--workspace", ws])
        #expect(r.status == 1, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("error: run 1 failed: training diverged at epoch 1, step "), "\(r.stderr)")
        #expect(r.stderr.contains("try a smaller --lr than 1e+09"))
        #expect(try Workspace(path: ws + "/workspace.sqlite").run(1)?.status == .failed)
        let e = try CLIRunner.run(["eval", bundle, "--run", "1", "--workspace", ws])
        #expect(e.status == 2 && e.stderr.contains("run 1 has no checkpoint yet (status failed)"), "\(e.stderr)")
        let json = try CLIRunner.run(["train", bundle, "--method", method, "--optimizer", optimizer, "--attribute", "water",
                                      "--lr", "1e9", "--epochs", "3", "--workspace", ws, "--json"])
        #expect(json.status == 1 && jsonLines(json.stdout).last?["event"] as? String == "failed")
    }

    /// A best checkpoint with infinite weights, as earlier versions saved
    /// them, is refused by the commands that read it.
    @Test func aNonFiniteCheckpointIsRefused() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("inf-checkpoint")
        #expect(try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "1", "--workspace", ws]).status == 0)
        let path = ws + "/runs/1/best.safetensors"
        let good = try SafetensorsFile(path: path)
        var w = SafetensorsWriter()
        var image = try good.matrix("W_v")
        image[3, 5] = .infinity
        w.add("W_v", image)
        w.add("W_t", try good.matrix("W_t"))
        w.add("logit_scale", shape: [], floats: try good.floats("logit_scale"))
        try w.write(to: path)
        let message = "\(path): tensor 'W_v': element \(3 * image.cols + 5) is inf, expected a finite number"
        for command in [["eval", bundle, "--run", "1"], ["cam", bundle, "--example", "s00007", "--run", "1"]] {
            let r = try CLIRunner.run(command + ["--workspace", ws])
            #expect(r.status == 2 && r.stderr.contains(message), "\(command): \(r.stderr)")
        }
    }
}

/// NaN or ±inf in logit_scale or in the spatial maps once passed every
/// command but `validate`; each command now checks the tensors it reads.
struct NonFiniteTensorTests {
    static let commands: [[String]] = [
        ["detect"], ["eval", "--zeroshot"], ["cam", "--example", NonSquareBundle.id("png", 500, 375, .test)],
        ["train", "--method", "erm", "--epochs", "1"], ["compare", "--methods", "zeroshot"], ["ui"],
    ]

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func logitScale(_ value: Float) throws {
        let bundle = try NonSquareBundle.write("scale-\(value)") { $0.heads.logitScale = value }
        let ws = temporaryWorkspace("scale-\(value)")
        for command in Self.commands {
            let r = try CLIRunner.run([command[0], bundle] + command.dropFirst() + ["--workspace", ws])
            #expect(r.status == 2 && r.stderr.contains("\(bundle)/features.safetensors: tensor 'logit_scale': element 0 is \(value), expected a finite number"),
                    "\(command): \(r.stderr)")
        }
    }

    @Test func spatialMapsAreCheckedWhenRead() throws {
        // A NaN in the map of test example 3 (jpg 375 × 500, the 4th of 6 files in the 3rd split).
        let example = 2 * 6 + 3, cells = 12, dv = 4
        let bundle = try NonSquareBundle.write("spatial-nan") { $0.spatial![(example * cells + 7) * dv + 1] = .nan }
        let id = NonSquareBundle.id("jpg", 375, 500, .test)
        let message = "\(bundle)/features.safetensors: tensor 'image_spatial': row \(example) (example '\(id)') holds nan, expected finite numbers"
        let cam = try CLIRunner.run(["cam", bundle, "--example", id])
        #expect(cam.status == 2 && cam.stderr.contains(message), "\(cam.stderr)")
        let eval = try CLIRunner.run(["eval", bundle, "--zeroshot", "--split", "test"])
        #expect(eval.status == 2 && eval.stderr.contains(message), "\(eval.stderr)")
        // Maps that are not read do not matter: the val split has none of the bad values.
        #expect(try CLIRunner.run(["eval", bundle, "--zeroshot", "--split", "val"]).status == 0)
        #expect(try CLIRunner.run(["cam", bundle, "--example", NonSquareBundle.id("jpg", 375, 500, .val)]).status == 0)
    }
}

/// Items 9 and 10 of issue 12: negative numbers, bounds that agree between
/// commands, and a mistyped command.
struct CommandLineTests {
    @Test(arguments: [
        (["train", "--epochs", "-1"], "error: --epochs: is -1, expected 1...100000"),
        (["train", "--lr", "-0.5"], "error: --lr: is -0.5, expected a positive number"),
        (["train", "--batch-size", "-8"], "error: --batch-size: is -8, expected 2...65536"),
        (["train", "--lambda", "ls=-1"], "error: --lambda: 'ls=-1': the weight of ls is -1.0, expected a finite number ≥ 0"),
        (["train", "--threshold", "5"], "error: --threshold: is 5.0, expected 0...1"),
        (["detect", "--threshold", "5"], "error: --threshold: is 5.0, expected 0...1"),
        (["detect", "--threshold", "-0.5"], "error: --threshold: is -0.5, expected 0...1"),
        (["detect", "--attribute-threshold", "water=2"], "error: --attribute-threshold: 'water=2': the score is 2.0, expected 0...1"),
        (["detect", "--top", "-1"], "error: --top: is -1, expected 0 (all) or more"),
        (["cam", "--example", "s00001", "--width", "-3"], "error: --width: is -3, expected 4...400"),
        (["ui", "--min-support", "0"], "error: --min-support: is 0, expected at least 1"),
    ])
    func badNumbersAreNamed(arguments: [String], message: String) throws {
        let ws = temporaryWorkspace("numbers")
        let r = try CLIRunner.run([arguments[0], try SampleData.bundle()] + arguments.dropFirst() + ["--workspace", ws])
        #expect(r.status == 2 && r.stderr == message + "\n", "\(r.stderr)")
    }

    /// Issue 25: an empty method list is an error, not an empty table.
    @Test func compareWithNoMethodIsRefused() throws {
        let r = try CLIRunner.run(["compare", try SampleData.bundle(), "--methods", "", "--workspace", temporaryWorkspace("no-methods")])
        #expect(r.status == 2 && r.stderr.hasPrefix("error: --methods: names no method (expected a comma-separated list of "), "\(r.stderr)")
        #expect(r.stdout.isEmpty)
    }

    @Test func aMistypedCommandIsNotTakenForABundle() throws {
        let r = try CLIRunner.run(["nosuchcmd"])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: nosuchcmd: is neither a command (ui, synth, info, validate, import, detect, mark, decisions, train, eval, compare, report, probe, cam, extract, encode, encode-images, preprocess, tokenize, loss, bench"), "\(r.stderr)")
        #expect(r.stderr.hasSuffix(") nor a bundle directory\n"))
        let path = try CLIRunner.run(["/nonexistent/bundle"])
        #expect(path.status == 2 && path.stderr.contains("/nonexistent/bundle: is not a bundle directory"), "\(path.stderr)")
    }
}
