import Foundation
import Testing
import SpurCore

/// `synth --encoder`: the frozen encoder pre-trained once, written to a file,
/// then read for every later build, as a user reuses CLIP's weights.
struct SynthEncoderCommandTests {
    static func recipe(_ name: String, encoderSteps: Int = 4) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("encoder-\(name)-\(getpid()).json").path
        try Data("""
            {"seed": 3, "image_size": 32, "train": 40, "val": 16, "test": 16, "pretrain_examples": 96, "pretrain_steps": 8,
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
        #expect(!build.stderr.contains("encoder pre-training"))
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
    }
}
