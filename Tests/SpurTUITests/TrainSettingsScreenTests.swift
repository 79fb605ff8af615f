import Foundation
import Testing
import SpurCore
import SpurEngine
@testable import SpurTUI

/// The Train screen's settings through the engine's builder (issue 22, item 1).
@Suite(.serialized)
struct TrainSettingsScreenTests {
    static func settingsLines(_ app: App) -> String {
        let g = Views.render(app, width: 160, height: 40)
        return (2...6).map(g.line).joined(separator: "\n")
    }

    @Test func typedValuesThatAreNotNumbersAreNamedAndChangeNothing() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        let before = try app.train.trainingConfig()
        #expect(app.train.applyTyped(TextForm(labels: ["epochs", "learning rate"], fields: ["7", "fast"])) == "learning rate: 'fast' is not a number")
        #expect(app.train.applyTyped(TextForm(labels: ["batch size"], fields: ["1.5"])) == "batch size: '1.5' is not a whole number")
        #expect(try app.train.trainingConfig().epochs == before.epochs)
        #expect(app.train.applyTyped(TextForm(labels: ["epochs", "weight decay"], fields: [" 7 ", "0.01"])) == nil)
        let after = try app.train.trainingConfig()
        #expect(after.epochs == 7 && after.weightDecay == 0.01)
    }

    /// `f` then Enter used to fail with a command-line hint: the official
    /// form now gets the absent word, shows it and its own method line.
    @Test func officialFormHasAnAbsentWordAndItsOwnSummary() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        #expect(Self.settingsLines(app).contains("L_clip + L_vc + L_lc + L_ls (language side"))
        app.handle(.character("f"))
        let official = Self.settingsLines(app)
        #expect(official.contains("form official (f)") && official.contains("absent water: 'without water' (e)"), "\(official)")
        #expect(official.contains("as the authors' code has them") && !official.contains("language side"), "\(official)")
        let c = try app.train.trainingConfig()
        #expect(c.lossForm == .official && c.absentWords == ["water": "without water"] && c.initialTemperature == 0.07)
        // The expert's absent phrase, once water is marked spurious with one.
        _ = try app.model.workspace.record(className: "landbird", attribute: "water", verdict: .spurious, phraseAbsent: "on land")
        app.decisions = Dictionary(uniqueKeysWithValues: try app.model.workspace.currentDecisions().map { ($0.key, $0) })
        #expect(try app.train.trainingConfig().absentWords == ["water": "on land"])
        // Typed in the form; emptied, the engine's rule is named with this screen's key.
        app.handle(.character("e"))
        guard case .trainSettings(let form)? = app.input else { Issue.record("no settings form"); return }
        #expect(form.labels == ["epochs", "learning rate", "batch size", "weight decay", "absent word (water)"] && form.fields.last == "on land")
        for _ in 0..<4 { app.handle(.tab) }
        app.handle(.control("u"))
        app.handle(.enter)
        #expect(app.banner == "absent word (e): the official loss form needs a word for images without 'water', as the authors use \"land\" for \"water\"",
                "\(app.banner ?? "")")
        for ch in "land" { app.handle(.character(ch)) }
        app.handle(.enter)
        let typed = try app.train.trainingConfig().absentWords
        #expect(app.input == nil && typed == ["water": "land"])
        #expect(Self.settingsLines(app).contains("absent water: 'land' (e)"))
    }

    /// Issue 24, item 5: the official form chosen on ours-ls does not follow
    /// the expert to a method without a loss form, and comes back with ours-ls.
    @Test func theLossFormStaysWithTheMethodsThatHaveOne() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        while app.train.state.method != .oursLS { app.handle(.character("m")) }
        app.handle(.character("f"))
        #expect(try app.train.trainingConfig().lossForm == .official)
        while app.train.state.method != .starFT { app.handle(.character("m")) }
        let star = try app.train.trainingConfig()
        #expect(star.method == .starFT && star.lossForm == .paper && star.absentWords.isEmpty)
        #expect(!Self.settingsLines(app).contains("form official"), "\(Self.settingsLines(app))")
        while app.train.state.method != .oursLS { app.handle(.character("m")) }
        #expect(try app.train.trainingConfig().lossForm == .official)
    }

    /// Only the settings a method reads are shown, and their keys say why they do nothing.
    @Test func eachMethodShowsOnlyTheSettingsItUses() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        while app.train.state.method != .zeroshot { app.handle(.character("m")) }
        let zeroshot = Self.settingsLines(app)
        #expect(zeroshot.contains("Method zeroshot (m/M)") && !zeroshot.contains("epochs") && !zeroshot.contains("attribute")
                && !zeroshot.contains("e: type"), "\(zeroshot)")
        app.handle(.character("+"))
        #expect(app.banner == "+/-: zeroshot has no epochs setting")
        app.handle(.character("e"))
        #expect(app.banner == "e: zeroshot has no setting to type" && app.input == nil)
        while app.train.state.method != .dfr { app.handle(.character("m")) }
        let dfr = Self.settingsLines(app)
        #expect(dfr.contains("attribute water") && !dfr.contains("lr ") && !dfr.contains("sampler"), "\(dfr)")
        while app.train.state.method != .erm { app.handle(.character("m")) }
        let erm = Self.settingsLines(app)
        #expect(erm.contains("epochs 10 ") && erm.contains("sampler natural") && !erm.contains("form "), "\(erm)")
    }

    /// A setting's error raised inside the engine (once the data is read)
    /// reaches the banner with this screen's name and keys for it; a setting
    /// the screen does not offer keeps the engine's name.
    @Test func engineSettingErrorsNameTheScreensKeys() throws {
        let error = #expect(throws: SettingKeys.Worded.self) {
            try SettingKeys.worded { throw SettingError("attributes", "method ours-ls needs a spurious attribute") }
        }
        #expect(error?.description == "attribute (a/A, or mark one spurious on screen 1): method ours-ls needs a spurious attribute")
        #expect(SettingKeys.message(SettingError("momentum", "is 2, expected 0 ≤ momentum < 1")) == "momentum: is 2, expected 0 ≤ momentum < 1")
        #expect(try SettingKeys.worded { 7 } == 7)
    }
}
