import Foundation
import Testing
import SpurCore
@testable import SpurTUI

/// State and views without a terminal: keys in, cell grid out.
struct KeyBindingTests {
    @Test func oneTableFeedsDispatchHintsAndHelp() {
        #expect(KeyBindings.action(for: .character("s"), on: .attributes) == .markSpurious)
        #expect(KeyBindings.action(for: .character("s"), on: .train) == nil)
        #expect(KeyBindings.action(for: .enter, on: .train) == .startTraining)
        #expect(KeyBindings.action(for: .enter, on: .groups) == .openGroup)
        #expect(KeyBindings.action(for: .character("q"), on: .preview) == .quit)
        #expect(KeyBindings.action(for: .character("3"), on: .attributes) == .showScreen(.train))
        #expect(KeyBindings.action(for: .down, on: .groups) == .moveDown)
        // Every action a screen answers to appears in the help table.
        let hints = KeyBindings.hints(for: .attributes).map(\.hintText)
        #expect(hints.contains("s spurious") && hints.contains("? keys") && !hints.contains("x cancel"))
    }
}

struct CellGridTests {
    @Test func textIsClippedAndLinesReadBack() {
        var g = CellGrid(width: 10, height: 2)
        g.text("hello world", x: 2, y: 0)
        g.text("ab", x: -1, y: 1)
        g.text("zz", x: 0, y: 5)
        #expect(g.line(0) == "  hello wo" && g.line(1) == "b")
        g.fill(x: 8, y: 1, width: 5, height: 3, character: "#")
        #expect(g.line(1) == "b       ##")
    }

    @Test func braillePlotsOneDotPerColumn() {
        var g = CellGrid(width: 2, height: 1)
        // Four dot columns: values 0, 1, 0, 1 over a cell 4 dots tall.
        Braille.plot([0, 1, 0, 1], into: &g, x: 0, y: 0, width: 2, height: 1, style: Style(), range: 0...1)
        // Left cell: column 0 at the bottom (dot 7, 0x40), column 1 at the top (dot 4, 0x08).
        #expect(g[0, 0].character == Character(Unicode.Scalar(0x2800 + 0x40 + 0x08)!))
        #expect(g[1, 0].character == Character(Unicode.Scalar(0x2800 + 0x40 + 0x08)!))
    }
}

/// The whole app on the sample bundle, driven by keys, rendered to text.
@Suite(.serialized)
struct AppTests {
    static func app() throws -> App? {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sample-data/waterbirds-synth").path
        guard FileManager.default.fileExists(atPath: dir + "/manifest.json") else { return nil }   // built by `make sample`
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("app-\(UUID().uuidString)").path
        return App(model: try UIModel(bundle: dir, workspace: ws), theme: .dark, ascii: false)
    }

    @Test func attributesScreenRanksAndMarks() throws {
        guard let app = try Self.app() else { return }
        var screen = Views.render(app, width: 120, height: 40).text
        #expect(screen.contains("Class landbird") && screen.contains("water") && screen.contains("ready"))
        app.handle(.character("j"))
        app.handle(.character("h"))
        screen = Views.render(app, width: 120, height: 40).text
        let second = try #require(app.attributeRows().dropFirst().first)
        let name = app.model.audit.attributes[second.attribute]
        #expect(app.verdict(className: "landbird", attribute: name)?.verdict == .healthy)
        #expect(screen.contains("landbird / \(name): healthy (saved)"))
        // Filter narrows the table to matching names.
        app.handle(.character("/"))
        for ch in "clo" { app.handle(.character(ch)) }
        app.handle(.enter)
        #expect(app.attributeRows().map { app.model.audit.attributes[$0.attribute] } == ["cloud"])
    }

    @Test func noteFormSavesNoteAndPhrases() throws {
        guard let app = try Self.app() else { return }
        app.handle(.character("n"))
        for ch in "bg" { app.handle(.character(ch)) }
        app.handle(.tab)
        for _ in 0..<"with water".count { app.handle(.backspace) }
        for ch in "on a lake" { app.handle(.character(ch)) }
        app.handle(.enter)
        let row = try #require(app.attributeRows().first)
        let d = try #require(app.verdict(className: "landbird", attribute: app.model.audit.attributes[row.attribute]))
        #expect(d.note == "bg")
        #expect(d.phrasePresent == "on a lake")   // ten backspaces clear "with water" (or "with land")
        #expect(d.phraseAbsent.hasPrefix("without "))
    }

    @Test func tooSmallSaysSoAndHelpListsEveryKey() throws {
        guard let app = try Self.app() else { return }
        #expect(Views.render(app, width: 40, height: 10).text.contains("Terminal too small"))
        app.handle(.character("?"))
        let help = Views.render(app, width: 120, height: 40).text
        for binding in KeyBindings.all.prefix(20) { #expect(help.contains(binding.description), "\(binding.description)") }
        app.handle(.character("x"))
        #expect(!app.showHelp)
    }
}

@Suite(.serialized)
struct TrainScreenTests {
    @Test func methodAttributeLearningRateAndBatchAreChosenByKeys() throws {
        guard let app = try AppTests.app() else { return }
        app.handle(.character("3"))
        func header() -> String { Views.render(app, width: 160, height: 40).line(2) }
        #expect(header().contains("Method ours-ls") && header().contains("(marked)") && header().contains("lr 0.001") && header().contains("batch 128"))
        app.handle(.character("a"))
        #expect(header().contains("attribute water (a)") && !header().contains("(marked)"))
        app.handle(.character("a"))
        #expect(header().contains("attribute land (a)"))
        app.handle(.character("l")); app.handle(.character("b")); app.handle(.character("m"))
        #expect(header().contains("lr 0.003") && header().contains("batch 256") && header().contains("Method ours-vs"))
        for _ in 0..<3 { app.handle(.character("-")) }
        #expect(header().contains("epochs 7 "))
    }
}
