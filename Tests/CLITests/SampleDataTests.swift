import Foundation
import Testing
import SpurCore
import SpurEngine

/// The embedded default bundle, built once per test run if `make sample`
/// has not built it already (Swift initialises a static `let` exactly once,
/// even with tests running in parallel).
enum SampleData {
    static let directory = CLIRunner.repository.appendingPathComponent("sample-data/waterbirds-synth").path

    static let ready: Result<String, Error> = Result {
        if !FileManager.default.fileExists(atPath: directory + "/manifest.json") {
            let r = try CLIRunner.run(["synth", "--recipe", CLIRunner.repository.appendingPathComponent("sample-data/recipe.json").path,
                                       "--encoder", CLIRunner.repository.appendingPathComponent("sample-data/encoder.safetensors").path,
                                       "--out", directory, "--quiet", "--force"])
            guard r.status == 0 else { throw InputError(file: directory, "synth failed: \(r.stderr)") }
        }
        return directory
    }

    static func bundle() throws -> String { try ready.get() }
}

struct SampleDataTests {
    @Test func integerExactFilesMatchTheCommittedDigest() throws {
        let dir = try SampleData.bundle()
        let p = Process()
        p.executableURL = CLIRunner.repository.appendingPathComponent("scripts/sample-digest.sh")
        p.arguments = [dir]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let digest = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        let want = try String(contentsOf: CLIRunner.repository.appendingPathComponent("sample-data/waterbirds-synth.sha256"), encoding: .utf8)
        #expect(digest == want)
    }

    @Test func infoShowsTheTableOneGroupCounts() throws {
        let r = try CLIRunner.run(["info", try SampleData.bundle()])
        #expect(r.status == 0)
        #expect(r.stdout.contains("examples    7195: train 4795, val 1200, test 1200"))
        let table = """
        group                  train      val     test
        landbird, no water      3498      300      300
        landbird, water          184      300      300
        waterbird, no water       56      300      300
        waterbird, water        1057      300      300
        """
        #expect(r.stdout.contains(table), "\(r.stdout)")
    }

    /// The situation of the paper's Table 2: the pre-trained model is good on
    /// the majority groups and at least 25 points worse on a minority group.
    @Test func zeroShotWorstGroupIsFarBelowTheBest() throws {
        let b = try FeatureBundle.open(try SampleData.bundle())
        let k = b.manifest.templates.count
        let prompts = try b.promptFeatures()
        #expect(b.prompts[0] == "a bad photo of a landbird." && b.prompts[k] == "a bad photo of a waterbird.")
        let classifier = HeadClassifier(heads: try b.pretrainedHeads(), classTemplates: prompts.rows(0..<(2 * k)), templateCount: k)
        let test = b.indices(in: .test)
        let acc = GroupAccuracy(labels: test.map { b.examples[$0].label },
                                predictions: classifier.predict(try b.pooledFeatures(rows: test)),
                                values: test.map { b.examples[$0].attributes["water"]! })
        let worst = try #require(acc.worstGroup), best = try #require(acc.bestGroup)
        #expect(best.accuracy - worst.accuracy >= 0.25, "best \(best), worst \(worst)")
        #expect(best.accuracy > 0.9)
        // The worst group is a minority group: a bird on the other class's background.
        #expect(worst.group.label != worst.group.value)
    }

    @Test func detectionsDisagreeWithTheGroundTruthAtTheRecipeRate() throws {
        let b = try FeatureBundle.open(try SampleData.bundle())
        let vocab = b.manifest.attributes
        let wrong = b.detections.filter { d in
            (d.score > 0.5) != (b.examples[d.example].attributes[vocab[d.attribute]] == 1)
        }.count
        let rate = Double(wrong) / Double(b.detections.count)
        #expect(b.detections.count == 7195 * 8)
        #expect(abs(rate - 0.1) < 4 * (0.09 / 57560).squareRoot(), "rate \(rate)")
    }
}
