import Foundation
import Testing
import SpurCore
import SpurEngine

/// The loss form and the StarFT / SFR knobs from the command line: parsed,
/// stored with the run, and honoured by the run.
struct MethodFlagTests {
    static func storedConfig(_ ws: String, run: Int64 = 1) throws -> TrainingConfig {
        let record = try #require(try Workspace(path: ws + "/workspace.sqlite").run(run))
        return try JSONDecoder().decode(TrainingConfig.self, from: Data(record.config.utf8))
    }

    @Test func officialFormDefaultsToGroupBalancedAndAFreshTemperature() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("official")
        // A learning rate too small to move anything: the checkpoint keeps the starting scale.
        let r = try CLIRunner.run(["train", bundle, "--method", "ours-vs", "--loss-form", "official", "--attribute", "water",
                                   "--absent-word", "water=land", "--epochs", "1", "--lr", "1e-9", "--workspace", ws])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ours-vs, official form, attribute water") && r.stdout.contains("sampler group-balanced"))
        let c = try Self.storedConfig(ws)
        #expect(c.lossForm == .official && c.sampler == .groupBalanced && c.initialTemperature == 0.07)
        #expect(c.absentWords == ["water": "land"])
        let scale = try SafetensorsFile(path: ws + "/runs/1/best.safetensors").floats("logit_scale")[0]
        #expect(abs(scale - logf(1 / 0.07)) < 1e-4)

        // Either default can be overridden; the paper form keeps the bundle's scale.
        let p = try CLIRunner.run(["train", bundle, "--method", "ours-ls", "--loss-form", "official", "--attribute", "water",
                                   "--absent-word", "water=land", "--sampler", "natural", "--temperature", "pretrained",
                                   "--epochs", "1", "--lr", "1e-9", "--workspace", ws])
        #expect(p.status == 0, "\(p.stderr)")
        let c2 = try Self.storedConfig(ws, run: 2)
        #expect(c2.sampler == .natural && c2.initialTemperature == nil)
        let pretrained = try SafetensorsFile(path: bundle + "/features.safetensors").floats("logit_scale")[0]
        let kept = try SafetensorsFile(path: ws + "/runs/2/best.safetensors").floats("logit_scale")[0]
        #expect(abs(kept - pretrained) < 1e-4)
    }

    @Test func thePapersMethodsDefaultToTheGroupBalancedSamplerInEitherForm() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("sampler-default")
        let ours = try CLIRunner.run(["train", bundle, "--method", "ours-ls", "--attribute", "water", "--epochs", "1",
                                      "--lr", "1e-9", "--workspace", ws])
        #expect(ours.status == 0, "\(ours.stderr)")
        #expect(ours.stdout.contains("sampler group-balanced"))
        let erm = try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "1", "--lr", "1e-9", "--workspace", ws])
        #expect(erm.status == 0, "\(erm.stderr)")
        let (c1, c2) = (try Self.storedConfig(ws, run: 1), try Self.storedConfig(ws, run: 2))
        #expect(c1.lossForm == .paper && c1.sampler == .groupBalanced && c1.initialTemperature == nil)
        #expect(c2.sampler == .natural)
    }

    @Test func officialFormErrorsNameTheFlag() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("official-bad")
        let noWord = try CLIRunner.run(["train", bundle, "--method", "ours-vs", "--loss-form", "official", "--attribute", "water",
                                        "--workspace", ws])
        #expect(noWord.status == 2 && noWord.stderr.contains("--absent-word: the official loss form needs a word for images without 'water'"))
        let erm = try CLIRunner.run(["train", bundle, "--method", "erm", "--loss-form", "official", "--workspace", ws])
        #expect(erm.status == 2 && erm.stderr.contains("--loss-form: official applies to ours-ls and ours-vs, not erm"))
        let paperWord = try CLIRunner.run(["train", bundle, "--method", "ours-vs", "--attribute", "water", "--absent-word", "water=land",
                                           "--workspace", ws])
        #expect(paperWord.status == 2 && paperWord.stderr.contains("--absent-word: applies to the official loss form only"))
        let temperature = try CLIRunner.run(["train", bundle, "--method", "erm", "--temperature", "warm", "--workspace", ws])
        #expect(temperature.status == 2 && temperature.stderr.contains("--temperature: 'warm' is not a number or 'pretrained'"))
    }

    @Test func starAndSFRKnobsAreStoredAndBadOnesNamed() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("knobs")
        let contexts = FileManager.default.temporaryDirectory.appendingPathComponent("contexts-\(getpid()).txt").path
        try "near a lake\non a rooftop\n".write(toFile: contexts, atomically: true, encoding: .utf8)
        // StarFT without any marked attribute, with its own contexts: the
        // benchmark groups (water) join the pool, as in compare and the UI.
        let star = try CLIRunner.run(["train", bundle, "--method", "starft", "--star-lambda", "2", "--star-decay", "none",
                                      "--star-contexts", contexts, "--epochs", "1", "--workspace", ws])
        #expect(star.status == 0, "\(star.stderr)")
        let c = try Self.storedConfig(ws)
        #expect(c.starLambda == 2 && c.starDecay == .none && c.starContexts == ["near a lake", "on a rooftop"] && c.attributes == ["water"])
        #expect(star.stderr.contains("note: no attribute is marked spurious; starft uses the bundle's benchmark groups (water)"))

        let sfr = try CLIRunner.run(["train", bundle, "--method", "sfr", "--sfr-weight", "exp", "--sfr-gamma", "3",
                                     "--sfr-dropout", "0.2", "--sfr-reference-epochs", "2", "--epochs", "1", "--workspace", ws, "--json"])
        #expect(sfr.status == 0, "\(sfr.stderr)")
        let c2 = try Self.storedConfig(ws, run: 2)
        #expect(c2.sfrWeight == .exp && c2.sfrGamma == 3 && c2.sfrDropout == 0.2 && c2.sfrReferenceEpochs == 2)

        for (args, message) in [
            (["--method", "starft", "--lambda", "star=3"], "--lambda: star's weight is set with --star-lambda"),
            (["--method", "sfr", "--sfr-dropout", "1.5"], "--sfr-dropout: is 1.5"),
            (["--method", "sfr", "--sfr-weight", "square"], "The value 'square' is invalid for '--sfr-weight <sfr-weight>'. Please provide one of 'inverse' and 'exp'"),
            (["--method", "starft", "--star-decay", "cosine"], "The value 'cosine' is invalid for '--star-decay <star-decay>'. Please provide one of 'linear' and 'none'"),
            (["--method", "sfr", "--sfr-reference-epochs", "0"], "--sfr-reference-epochs: is 0"),
        ] {
            let r = try CLIRunner.run(["train", bundle, "--workspace", ws] + args)
            #expect(r.status == 2 && r.stderr.contains(message), "\(args): \(r.stderr)")
        }
    }

    /// The spread of SFR's disagreement is reported; the weighting flag
    /// decides which examples weigh most.
    @Test func sfrReportsTheSpreadOfTheDisagreement() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("sfr-spread")
        func summary(_ weighting: String) throws -> [String: Any] {
            let r = try CLIRunner.run(["train", bundle, "--method", "sfr", "--sfr-weight", weighting, "--lr", "0.01",
                                       "--epochs", "1", "--workspace", ws, "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            return try #require(jsonLines(r.stdout).first { $0["event"] as? String == "sfr_weights" })
        }
        let inverse = try summary("inverse"), exp = try summary("exp")
        #expect(inverse["weighting"] as? String == "inverse" && exp["weighting"] as? String == "exp")
        let q = try #require(inverse["disagreement_quantiles"] as? [Double])
        #expect(q.count == 5 && q == q.sorted() && q[0] >= 0 && q[4] <= 1)
        // Same reference, same disagreements; the weights' extremes differ by direction.
        #expect(exp["disagreement_quantiles"] as? [Double] == q)
        let text = try CLIRunner.run(["train", bundle, "--method", "sfr", "--epochs", "1", "--workspace", ws])
        #expect(text.stdout.contains("SFR disagreement d: min"))
    }

    @Test func compareAppliesTheLossFormOnlyWhereItExists() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("compare-form")
        let r = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--methods", "erm,ours-ls", "--epochs", "1",
                                   "--attribute", "water", "--loss-form", "official", "--absent-word", "water=land"])
        #expect(r.status == 0, "\(r.stderr)")
        let erm = try Self.storedConfig(ws, run: 1), ours = try Self.storedConfig(ws, run: 2)
        #expect(erm.lossForm == .paper && erm.sampler == .natural && erm.initialTemperature == nil && erm.absentWords.isEmpty)
        #expect(ours.lossForm == .official && ours.sampler == .groupBalanced && ours.initialTemperature == 0.07)
    }
}
