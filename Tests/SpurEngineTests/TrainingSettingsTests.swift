import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// The one builder of a run's configuration (issue 22, item 1): each rule
/// the command line and the Train screen used to write apart.
struct TrainingSettingsTests {
    static func bundleAndWorkspace() throws -> (FeatureBundle, Workspace) {
        let b = try TrainingEngineTests.tinyBundle()
        return (b, try Workspace(bundle: b.directory))
    }

    @Test func samplerAndTemperatureFollowMethodAndFormUnlessGiven() throws {
        let (b, _) = try Self.bundleAndWorkspace()
        var s = TrainingSettings(method: .erm)
        var c = try s.build(decisions: [], bundle: b).config
        #expect(c.sampler == .natural && c.initialTemperature == nil && c.attributes == ["water"])
        s.method = .oursVS
        c = try s.build(decisions: [], bundle: b).config
        #expect(c.sampler == .groupBalanced && c.lossForm == .paper && c.initialTemperature == nil)
        s.base.lossForm = .official
        s.absentWords = ["water": "land"]
        c = try s.build(decisions: [], bundle: b).config
        #expect(c.initialTemperature == TrainingSettings.officialTemperature && c.absentWords == ["water": "land"])
        s.temperature = .pretrained
        s.sampler = .natural
        c = try s.build(decisions: [], bundle: b).config
        #expect(c.initialTemperature == nil && c.sampler == .natural)
    }

    /// The rule that failed on screen 3: the official form needs every
    /// attribute's absent word, named as the setting `absentWords`.
    @Test func officialFormWithoutAnAbsentWordNamesTheSetting() throws {
        let (b, _) = try Self.bundleAndWorkspace()
        var s = TrainingSettings(method: .oursLS)
        s.base.lossForm = .official
        #expect(throws: SettingError("absentWords", "the official loss form needs a word for images without 'water', as the authors use \"land\" for \"water\"")) {
            try s.build(decisions: [], bundle: b)
        }
        s.absentWords = ["water": ""]
        #expect(throws: SettingError.self) { try s.build(decisions: [], bundle: b) }
        s.absentWords = ["cloud": "clear"]
        #expect(throws: SettingError("absentWords", "'cloud' is not a spurious attribute of this run (water)")) { try s.build(decisions: [], bundle: b) }
        // Under the paper form a word is an error, unless inapplicable settings are dropped (compare).
        s.base.lossForm = .paper
        s.absentWords = ["water": "land"]
        #expect(throws: SettingError("absentWords", "applies to the official loss form only")) { try s.build(decisions: [], bundle: b) }
        s.dropInapplicable = true
        #expect(try s.build(decisions: [], bundle: b).config.absentWords.isEmpty)
        s.method = .erm
        s.base.lossForm = .official
        #expect(try s.build(decisions: [], bundle: b).config.lossForm == .paper)
    }

    @Test func theDefaultAbsentWordIsTheVerdictsAbsentPhrase() throws {
        let (b, ws) = try Self.bundleAndWorkspace()
        #expect(TrainingSettings.defaultAbsentWord("water", decisions: []) == "without water")
        try ws.record(className: "landbird", attribute: "water", verdict: .spurious, phraseAbsent: "on land")
        let decisions = try ws.currentDecisions()
        #expect(TrainingSettings.defaultAbsentWord("water", decisions: decisions) == "on land")
        // Marked spurious: the run's attribute without falling back to the benchmark groups.
        let built = try TrainingSettings(method: .oursLS).build(decisions: decisions, bundle: b)
        #expect(built.config.attributes == ["water"] && !built.usesBenchmarkGroups)
        #expect(try TrainingSettings(method: .oursLS).build(decisions: [], bundle: b).usesBenchmarkGroups)
    }

    @Test func eachMethodListsTheSettingsItReads() {
        func applicable(_ m: Method, _ form: TrainingConfig.LossForm = .paper) -> [TrainingSetting] {
            var s = TrainingSettings(method: m)
            s.base.lossForm = form
            return s.applicable
        }
        #expect(applicable(.zeroshot).isEmpty)
        #expect(applicable(.dfr) == [.attributes] && applicable(.orthProj) == [.attributes])
        #expect(!applicable(.erm).contains(.lossForm) && !applicable(.erm, .official).contains(.absentWords))
        #expect(applicable(.oursLS).first == .lossForm && !applicable(.oursLS).contains(.absentWords))
        #expect(applicable(.oursVS, .official).prefix(2) == [.lossForm, .absentWords])
        #expect(Method.oursLS.summary(lossForm: .paper) == Method.oursLS.summary)
        #expect(Method.oursLS.summary(lossForm: .official).contains("authors' code") && !Method.oursLS.summary(lossForm: .official).contains("no per-image"))
        #expect(Method.erm.summary(lossForm: .official) == Method.erm.summary)
    }
}
