import Foundation
import Testing
import SpurCore

/// `synth --encoder`: the frozen encoder pre-trained once, written to a file,
/// then read for every later build, as a user reuses CLIP's weights.
struct SynthEncoderCommandTests {
    static func recipe(_ name: String, encoderSteps: Int = 4, imageSize: Int = 32) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-\(name)-\(getpid()).json").path
        try Data("""
            {"seed": 3, "image_size": \(imageSize), "train": 40, "val": 16, "test": 16, "pretrain_examples": 96, "pretrain_steps": 8,
             "encoder_widths": [8, 16, 16, 16], "encoder_corpus": 96, "encoder_steps": \(encoderSteps)}
            """.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func encoderIsWrittenOnceThenReadForEverySeed() throws {
        let recipe = try Self.recipe("reuse")
        let encoder = recipe + ".encoder.safetensors", out = recipe + ".bundle"
        try? FileManager.default.removeItem(atPath: encoder)
        let first = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("encoder pre-training step 3"))
        #expect(FileManager.default.fileExists(atPath: encoder))

        // Another benchmark seed, the same encoder: read, not pre-trained again.
        let build = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--seed", "5", "--out", out, "--force"])
        #expect(build.status == 0, "\(build.stderr)")
        #expect(build.stderr.contains("read the encoder from \(encoder)"))
        #expect(!build.stderr.contains("encoder pre-training") && !build.stderr.contains("note: pre-training the encoder"))
        // Without --encoder the build pre-trains it again, and says how not to.
        let fresh = try CLIRunner.run(["synth", "--recipe", recipe, "--out", out, "--force"])
        #expect(fresh.status == 0 && fresh.stderr.hasPrefix("note: pre-training the encoder"), "\(fresh.stderr)")
        #expect(build.stdout.contains("wrote \(out): 72 examples"))

        // --encoder-only does not replace a file unless told to.
        let again = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only"])
        #expect(again.status == 2)
        #expect(again.stderr == "error: \(encoder): exists; pass --force to replace it\n")
    }

    @Test func encoderFromAnotherRecipeIsRefusedNamingTheField() throws {
        let recipe = try Self.recipe("stale"), other = try Self.recipe("stale-other", encoderSteps: 6)
        let encoder = recipe + ".encoder.safetensors", out = recipe + ".bundle"
        try? FileManager.default.removeItem(atPath: out)
        #expect(try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only", "--force"]).status == 0)
        let r = try CLIRunner.run(["synth", "--recipe", other, "--encoder", encoder, "--out", out])
        #expect(r.status == 2)
        #expect(r.stderr.hasPrefix("error: \(encoder): encoder_steps: the encoder was built with 4, the recipe says 6"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let flags = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder-only"])
        #expect(flags.status == 2)
        #expect(flags.stderr.contains("--encoder-only needs --encoder FILE to write to"))
        let both = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only", "--out", out])
        #expect(both.status == 2 && both.stderr.contains("--encoder-only builds no bundle"), "\(both.stderr)")
        // --image-size is an encoder field too.
        let size = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--image-size", "40", "--out", out])
        #expect(size.status == 2)
        #expect(size.stderr.hasPrefix("error: \(encoder): image_size: the encoder was built with 32, the recipe says 40"), "\(size.stderr)")
    }

    /// What would fail at the end fails before a minute of pre-training.
    @Test func anExistingBundleOrAMissingFolderFailsFirst() throws {
        let recipe = try Self.recipe("early")
        let out = recipe + ".bundle", encoder = recipe + ".encoder.safetensors"
        try? FileManager.default.removeItem(atPath: encoder)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--out", out])
        #expect(r.status == 2)
        #expect(r.stderr == "error: \(out): already exists; pass --force to replace it\n", "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: encoder), "nothing was pre-trained or written")
        let folder = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", recipe + ".nofolder/e.safetensors", "--encoder-only"])
        #expect(folder.status == 2)
        #expect(folder.stderr == "error: \(recipe).nofolder/e.safetensors: cannot be written: \(recipe).nofolder is not a directory\n", "\(folder.stderr)")
        #expect(!folder.stderr.contains("pre-training"))
    }

    /// `--force` with `--encoder-only` pre-trains again and replaces the
    /// file, with the same bytes: the encoder is deterministic.
    @Test func forceReplacesTheEncoderWithTheSameBytes() throws {
        let recipe = try Self.recipe("force")
        let encoder = recipe + ".encoder.safetensors"
        try? FileManager.default.removeItem(atPath: encoder)
        #expect(try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only"]).status == 0)
        let first = try Data(contentsOf: URL(fileURLWithPath: encoder))
        try Data("stale".utf8).write(to: URL(fileURLWithPath: encoder))
        let again = try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only", "--force"])
        #expect(again.status == 0 && again.stderr.contains("encoder pre-training step 3"), "\(again.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: encoder)) == first)
    }

    /// The bundle does not depend on how many threads OpenBLAS may use
    /// (synth keeps it single-threaded and spreads batches itself).
    @Test func bundleIsTheSameWithOneBLASThread() throws {
        let recipe = try Self.recipe("threads")
        let a = recipe + ".a", b = recipe + ".b"
        let ra = try CLIRunner.run(["synth", "--recipe", recipe, "--out", a, "--force", "--quiet"], environment: ["OPENBLAS_NUM_THREADS": "1"])
        let rb = try CLIRunner.run(["synth", "--recipe", recipe, "--out", b, "--force", "--quiet"], environment: ["OPENBLAS_NUM_THREADS": "4"])
        #expect(ra.status == 0 && rb.status == 0)
        for name in ["features.safetensors", "examples.csv", "images/00000.png"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: a + "/" + name)) == Data(contentsOf: URL(fileURLWithPath: b + "/" + name)), "\(name)")
        }
    }

    /// `scripts/encoder-check.sh`: passes on the file the recipe makes, fails
    /// on a missing or foreign file (it once passed those as "not compared").
    @Test func encoderCheckPassesTheRealFileAndFailsOthers() throws {
        let recipe = try Self.recipe("check")
        let encoder = recipe + ".encoder.safetensors"
        try? FileManager.default.removeItem(atPath: encoder)
        #expect(try CLIRunner.run(["synth", "--recipe", recipe, "--encoder", encoder, "--encoder-only"]).status == 0)
        func check(_ file: String) throws -> (Int32, String) {
            let p = Process()
            p.executableURL = CLIRunner.repository.appendingPathComponent("scripts/encoder-check.sh")
            p.arguments = [CLIRunner.executable.path, recipe, file]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            return (p.terminationStatus, text)
        }
        let good = try check(encoder)
        #expect(good.0 == 0 && good.1.contains("byte for byte the same"), "\(good.1)")
        #expect(try check(recipe + ".missing").0 == 1)
        try Data("not an encoder".utf8).write(to: URL(fileURLWithPath: recipe + ".foreign"))
        #expect(try check(recipe + ".foreign").0 == 1)
        // An encoder of other steps, on the same kernel: differs, fails.
        let other = try Self.recipe("check-other", encoderSteps: 5)
        #expect(try CLIRunner.run(["synth", "--recipe", other, "--encoder", recipe + ".other", "--encoder-only", "--force"]).status == 0)
        let stale = try check(recipe + ".other")
        #expect(stale.0 == 1 && stale.1.contains("differs from the encoder pre-trained"), "\(stale.1)")
    }
}
