import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// StarFT's and SFR's knobs (issue 11, item 5) and the official form's
/// configuration: each default, and that each setting changes what it should.
struct MethodKnobTests {
    @Test func starWeightDecaysAsTheAuthorsScriptDoes() {
        var c = TrainingConfig(method: .starFT)
        c.epochs = 4
        #expect(c.starLambda == 0.5 && c.starDecay == .linear)
        // λ·(1 − (e+1)/E): 0.5·(3/4, 2/4, 1/4, 0).
        #expect((0..<4).map(c.starWeight) == [0.375, 0.25, 0.125, 0])
        c.starDecay = .none
        c.starLambda = 2
        #expect((0..<4).map(c.starWeight) == [2, 2, 2, 2])
    }

    @Test func sfrInverseWeightsFavourAgreementAndExpWeightsDisagreement() {
        let d: [Float] = [0, 0.1, 0.4]
        let inverse = SFRMethod.weights(disagreement: d, weighting: .inverse, gamma: 5)
        // 1/(d + 0.001) = 1000, 9.90099, 2.49377, normalised to mean 1.
        let raw = [1000, 1 / 0.101, 1 / 0.401] as [Double]
        let mean = raw.reduce(0, +) / 3
        for (w, r) in zip(inverse, raw) { #expect(abs(Double(w) - r / mean) < 1e-4) }
        #expect(inverse[0] > inverse[1] && inverse[1] > inverse[2])
        let exp = SFRMethod.weights(disagreement: d, weighting: .exp, gamma: 5)
        // exp(5d) = 1, e^0.5, e^2.
        let rawExp = [1, M_E.squareRoot(), M_E * M_E]
        let meanExp = rawExp.reduce(0, +) / 3
        for (w, r) in zip(exp, rawExp) { #expect(abs(Double(w) - r / meanExp) < 1e-5) }
        #expect(abs(exp.reduce(0, +) / 3 - 1) < 1e-6 && abs(inverse.reduce(0, +) / 3 - 1) < 1e-6)
    }

    @Test func sfrSummaryReportsQuantilesOfTheDisagreement() {
        let d = (0...10).map { Float($0) / 20 }   // 0, 0.05, …, 0.5
        let s = SFRWeightSummary(disagreement: d.reversed(), weights: [0.5, 2], weighting: .inverse)
        #expect(s.disagreement == [0, 0.05, 0.25, 0.45, 0.5])
        #expect(s.weightMin == 0.5 && s.weightMax == 2)
        #expect(s.description.contains("median 0.250") && s.description.contains("weights (inverse) 0.500…2.000"))
    }

    @Test func contextsAreAppendedToTheCaption() {
        #expect(StarContexts.inject("near a lake", into: "a photo of a landbird.") == "a photo of a landbird near a lake.")
        #expect(StarContexts.inject("at night", into: "itap of a waterbird") == "itap of a waterbird at night.")
        #expect((55...70).contains(StarContexts.generic.count))
        #expect(Set(StarContexts.generic).count == StarContexts.generic.count)
        #expect(!StarContexts.generic.contains { $0.contains("without") })
    }

    @Test func contextsFileSkipsBlanksAndComments() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("contexts-\(UUID().uuidString).txt").path
        try "# mine\nnear a lake\n\n  at night  \n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try StarContexts.read(path) == ["near a lake", "at night"])
        try "# only a comment\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: InputError.self) { try StarContexts.read(path) }
    }

    /// The injected caption of each example is its own caption (the same
    /// template as its L_clip caption this step) plus a context of the pool:
    /// the marked attribute's present phrase, then the generic list.
    @Test func starftCaptionsAreTheExamplesOwnCaptionWithAContext() throws {
        let bundle = try TrainingEngineTests.tinyBundle()
        var config = TrainingConfig(method: .starFT)
        config.attributes = ["water"]
        config.starContexts = ["near a lake", "at night"]
        config.batchSize = 16
        let ws = try Workspace(bundle: bundle.directory)
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        let data = trainer.data
        let contexts = ["with water", "near a lake", "at night"]
        #expect(data.starContextCount == 3)
        let m = bundle.manifest
        let texts = m.classes.flatMap { c in m.templates.flatMap { t in contexts.map { StarContexts.inject($0, into: FeatureBundle.fill(t, with: c)) } } }
        #expect(data.spuriousCaptions == (try bundle.textFeatures(for: texts)))

        var rng = SeededGenerator(seed: 3)
        let idx = Array(0..<16)
        let batch = trainer.makeBatch(idx, hooks: trainer.methodHooks(), rng: &rng)
        let captions = try #require(batch.spuriousCaptions)
        for i in idx {
            // Which class-template row is the example's caption, and which injected row its spurious caption.
            let own = try #require((0..<data.classTemplates.rows).first { data.classTemplates.row($0) == batch.captions.row(i) })
            let row = try #require((0..<data.spuriousCaptions.rows).first { data.spuriousCaptions.row($0) == captions.row(i) })
            #expect(row / 3 == own, "example \(i): caption row \(own), injected row \(row)")
            #expect(own / m.templates.count == batch.labels[i])
        }
    }

    @Test func starftNeedsNoAttribute() throws {
        let bundle = try TrainingEngineTests.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: .starFT)
        config.epochs = 1
        config.batchSize = 8
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        #expect(trainer.data.starContextCount == StarContexts.generic.count)
        #expect(try trainer.run().epochsDone == 1)
    }

    @Test func checkNamesTheSettingOfEachBadKnob() {
        func message(_ change: (inout TrainingConfig) -> Void, method: Method = .sfr) -> String {
            var c = TrainingConfig(method: method)
            change(&c)
            do { try c.check(); return "" } catch { return "\(error)" }
        }
        #expect(message { $0.sfrDropout = 1 }.hasPrefix("sfrDropout:"))
        #expect(message { $0.sfrGamma = .nan }.hasPrefix("sfrGamma:"))
        #expect(message { $0.sfrReferenceEpochs = 0 }.hasPrefix("sfrReferenceEpochs:"))
        #expect(message({ $0.starLambda = -1 }, method: .starFT).hasPrefix("starLambda:"))
        #expect(message({ $0.lambdas["star"] = 2 }, method: .starFT).contains("starLambda"))
        #expect(message { $0.initialTemperature = 0.001 }.hasPrefix("initialTemperature:"))
        #expect(message { $0.lossForm = .official }.contains("official applies to ours-ls and ours-vs, not sfr"))
        #expect(message({ $0.lossForm = .official }, method: .oursVS) == "")
        // The engine speaks in its own terms: no command-line flag in any message.
        #expect(!message { $0.epochs = 0 }.contains("--"))
    }

    @Test func officialFormNeedsTheAbsentWordAndEncodesBothValuePrompts() throws {
        let bundle = try TrainingEngineTests.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: .oursVS)
        config.attributes = ["water"]
        config.lossForm = .official
        #expect(throws: SettingError.self) { try Trainer.create(bundle: bundle, config: config, workspace: ws) }
        do { _ = try Trainer.create(bundle: bundle, config: config, workspace: ws) } catch {
            // Named as the engine's setting, without a front end's syntax (each front end words its own fix).
            #expect("\(error)".hasPrefix("absentWords:") && "\(error)".contains("without 'water'") && !"\(error)".contains("=WORD"))
        }
        config.absentWords = ["water": "land"]
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        #expect(trainer.data.attributePrompts == (try bundle.textFeatures(for: ["a photo of land.", "a photo of water."])))
        config.absentWords = ["boat": "land", "water": "land"]
        #expect(throws: SettingError.self) { try Trainer.create(bundle: bundle, config: config, workspace: ws) }
    }
}
