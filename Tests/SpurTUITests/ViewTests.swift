import Foundation
import Testing
import SpurCore
import SpurAudit
import SpurEngine
@testable import SpurTUI

/// State and views without a terminal: keys in, cell grid out.
struct KeyBindingTests {
    @Test func oneTableFeedsDispatchHintsAndHelp() {
        #expect(KeyBindings.action(for: .character("s"), on: .attributes) == .markSpurious)
        #expect(KeyBindings.action(for: .character("h"), on: .train) == nil)
        #expect(KeyBindings.action(for: .character("s"), on: .train) == .toggleSampler)
        #expect(KeyBindings.action(for: .enter, on: .train) == .startTraining)
        #expect(KeyBindings.action(for: .enter, on: .groups) == .openGroup)
        #expect(KeyBindings.action(for: .character("q"), on: .preview) == .quit)
        #expect(KeyBindings.action(for: .character("3"), on: .attributes) == .showScreen(.train))
        #expect(KeyBindings.action(for: .down, on: .groups) == .moveDown)
        // Every action a screen answers to appears in the help table.
        let hints = KeyBindings.hints(for: .attributes).map(\.hintText)
        #expect(hints.contains("s spurious") && hints.contains("? keys") && !hints.contains("x cancel"))
        // A screen's own keys get the hint bar's space before the ones it shares.
        let train = KeyBindings.hints(for: .train).map(\.hintText)
        #expect(train.first == "Enter start")
        #expect(train.firstIndex(of: "/ find")! > train.firstIndex(of: "f form")!, "\(train)")
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
    static func app() throws -> App {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sample-data/waterbirds-synth").path
        // Built by `make sample` (which `make test` runs first): without it these tests would assert nothing.
        guard FileManager.default.fileExists(atPath: dir + "/manifest.json") else {
            throw InputError(file: dir, "is missing: run `make sample` before the UI tests")
        }
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("app-\(UUID().uuidString)").path
        return App(model: try UIModel(bundle: dir, workspace: ws), theme: .dark, ascii: false)
    }

    /// The stored decision of a pair, once the workspace writes are done.
    func verdict(_ app: App, _ className: String, attribute: String) throws -> Decision? {
        try app.settle()
        return app.decisions[Decision.key(className: className, attribute: attribute)]
    }

    @Test func attributesScreenRanksAndMarks() throws {
        let app = try Self.app()
        var screen = Views.render(app, width: 120, height: 40).text
        #expect(screen.contains("Class landbird") && screen.contains("water") && screen.contains("ready"))
        app.handle(.character("j"))
        app.handle(.character("h"))
        // Shown at once, before the write is back; the banner says when it is saved.
        #expect(Views.render(app, width: 120, height: 40).text.contains("landbird / \(app.model.audit.attributes[app.attributes.rows()[1].attribute]): healthy (saving…)"))
        #expect(Views.render(app, width: 120, height: 40).text.split(separator: "\n").contains { $0.hasPrefix(" ▶ ") && $0.contains("healthy") })
        try app.settle()
        screen = Views.render(app, width: 120, height: 40).text
        let second = try #require(app.attributes.rows().dropFirst().first)
        let name = app.model.audit.attributes[second.attribute]
        #expect(try verdict(app, "landbird", attribute: name)?.verdict == .healthy)
        #expect(screen.contains("landbird / \(name): healthy (saved)"))
        // Filter narrows the table to matching names.
        app.handle(.character("/"))
        for ch in "clo" { app.handle(.character(ch)) }
        app.handle(.enter)
        #expect(app.attributes.rows().map { app.model.audit.attributes[$0.attribute] } == ["cloud"])
        // Esc clears it.
        app.handle(.escape)
        #expect(app.attributes.rows().count > 1 && app.attributes.state.filter.isEmpty)
    }

    @Test func defaultOrderPrefersEvidenceAndOCyclesEveryCLIOrder() throws {
        let app = try Self.app()
        let rows = app.attributes.rows()
        #expect(app.attributes.state.order == .evidence)
        // Non-increasing evidence; every supported row before every unsupported one.
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0.evidence >= $1.evidence })
        var orders: [AttributeOrder] = [app.attributes.state.order]
        for _ in 0..<5 { app.handle(.character("o")); orders.append(app.attributes.state.order) }
        #expect(orders == [.evidence, .magnitude, .delta, .harm, .support, .evidence])
        #expect(rows == app.model.audit.table.ranked(class: 0, by: .evidence), "the screen ranks as `detect --sort evidence`")
        app.attributes.state.order = .magnitude
        let byMagnitude = app.attributes.rows()
        #expect(byMagnitude == app.model.audit.table.ranked(class: 0, by: .magnitude))
    }

    @Test func undoRestoresThePreviousVerdictFromTheHistory() throws {
        let app = try Self.app()
        let name = app.model.audit.attributes[try #require(app.attributes.rows().first).attribute]
        app.handle(.character("h"))
        app.handle(.character("s"))
        #expect(try verdict(app, "landbird", attribute: name)?.verdict == .spurious)
        app.handle(.character("U"))
        #expect(try verdict(app, "landbird", attribute: name)?.verdict == .healthy)
        app.handle(.control("z"))
        #expect(try verdict(app, "landbird", attribute: name)?.verdict == .undecided)
        #expect(try app.model.workspace.current(className: "landbird", attribute: name)?.verdict == .undecided)
        app.handle(.character("U"))
        try app.settle()
        #expect(app.banner == "Nothing to undo.")
    }

    @Test func slashFindsAnExampleInThePreviewList() throws {
        let app = try Self.app()
        app.handle(.character("2"))
        let list = app.preview.list().all
        let ids = list.map { app.model.bundle.examples[$0].id }
        let target = try #require(ids.dropFirst(7).first)
        app.handle(.character("/"))
        for ch in target { app.handle(.character(ch)) }
        #expect(app.preview.state.selected == ids.firstIndex(of: target))
        app.handle(.escape)
        #expect(app.input == nil)
        // Enter jumps to the next match, wrapping around: "s" matches every id.
        app.handle(.character("/")); app.handle(.character("s"))
        let here = app.preview.state.selected
        app.handle(.enter)
        #expect(app.preview.state.selected == (here + 1) % list.count)
        app.handle(.character("!"))
        #expect(app.banner == "no example matches 's!'")
    }

    /// The preview list has column heads in its rows' layout, and its first
    /// row comes right under them.
    @Test func previewListHasColumnHeads() throws {
        let app = try Self.app()
        app.handle(.character("2"))
        let g = Views.render(app, width: 120, height: 40)
        let y = try #require((0..<g.height).first { g.line($0).hasPrefix("   example    ✓ det.") }, "\(g.text)")
        let first = app.model.bundle.examples[try #require(app.preview.list().all.first)].id
        #expect(g.line(y + 1).hasPrefix("▶+ \(first) "), "\(g.line(y + 1))")
        let plain = App(model: app.model, theme: .dark, ascii: true)
        plain.handle(.character("2"))
        #expect(Views.render(plain, width: 120, height: 40).text.contains("   example    ok det."))
    }

    @Test func clicksSelectTabsAndRowsAndTheWheelScrolls() throws {
        let app = try Self.app()
        func frame() -> CellGrid { let g = Views.render(app, width: 120, height: 40); app.targets = g.targets; return g }
        var g = frame()
        // The third data row of the table: find it on screen by its marker-less text.
        let rows = app.attributes.rows()
        let third = app.model.audit.attributes[rows[2].attribute]
        let y = try #require((0..<g.height).first { g.line($0).hasPrefix("   \(third) ") })
        app.handle(.click(x: 10, y: y))
        #expect(app.attributes.state.selected == 2)
        app.handle(.wheelDown)
        #expect(app.attributes.state.selected == min(5, rows.count - 1))
        app.handle(.wheelUp)
        #expect(app.attributes.state.selected == 2)
        g = frame()
        let tab = try #require(g.line(0).range(of: "3 Train"))
        app.handle(.click(x: g.line(0).distance(from: g.line(0).startIndex, to: tab.lowerBound), y: 0))
        #expect(app.screen == .train)
        _ = frame()
        app.handle(.click(x: 5, y: 30))   // nothing there on the Train screen
        #expect(app.screen == .train)
    }

    @Test func firstCShowsAnotherClassAndHelpScrollsWithinBounds() throws {
        let app = try Self.app()
        app.handle(.character("2"))
        let e = try #require(app.preview.currentExample())
        let label = app.model.bundle.examples[e].label
        app.handle(.character("c"))
        #expect(app.preview.state.mapClass == (label + 1) % app.model.classes.count)
        app.viewportHeight = 24
        app.viewportWidth = 80
        app.handle(.character("?"))
        app.handle(.end)
        let last = Views.helpMaximumTop(app.helpLines(), width: 80, height: 24)
        #expect(app.helpTop == last && last > 0)
        let help = Views.render(app, width: 80, height: 24).text
        #expect(help.contains(try #require(Views.wrapHelp(app.helpLines(), width: 80).last)))
        app.handle(.up)
        #expect(app.helpTop == last - 1)
    }

    /// Verdicts are written off the UI thread, in order: a workspace read
    /// taken before a write does not put the old verdict back on screen, and
    /// three quick marks end with the last one stored.
    @Test func writesAreOrderedAndStaleReadsDoNotUndoThem() throws {
        let app = try Self.app()
        let name = app.model.audit.attributes[try #require(app.attributes.rows().first).attribute]
        let stale = App.readWorkspace(app.model, requested: nil, me: 0)
        let before = app.writeGeneration
        app.handle(.character("s")); app.handle(.character("h")); app.handle(.character("s"))
        app.apply(.workspace(stale, generation: before))
        let row = { Views.render(app, width: 120, height: 40).text.split(separator: "\n").first { $0.hasPrefix(" ▶ ") } ?? "" }
        #expect(row().contains("spurious"), "\(row())")
        try app.settle()
        #expect(row().contains("spurious") && app.banner == "landbird / \(name): spurious (saved)")
        let history = try app.model.workspace.history().map(\.verdict)
        #expect(history == [.spurious, .healthy, .spurious])
        // A read after the writes is applied (a mark made in another process appears).
        try app.model.workspace.record(className: "landbird", attribute: name, verdict: .healthy)
        app.apply(.workspace(App.readWorkspace(app.model, requested: nil, me: 0), generation: app.writeGeneration))
        #expect(row().contains("healthy"))
    }

    @Test func noteFormSavesNoteAndPhrases() throws {
        let app = try Self.app()
        app.handle(.character("n"))
        for ch in "bg" { app.handle(.character(ch)) }
        app.handle(.tab)
        for _ in 0..<"with water".count { app.handle(.backspace) }
        for ch in "on a lake" { app.handle(.character(ch)) }
        app.handle(.enter)
        try app.settle()
        let row = try #require(app.attributes.rows().first)
        let d = try #require(try verdict(app, "landbird", attribute: app.model.audit.attributes[row.attribute]))
        #expect(d.note == "bg")
        #expect(d.phrasePresent == "on a lake")   // ten backspaces clear "with water" (or "with land")
        #expect(d.phraseAbsent.hasPrefix("without "))
    }

    /// An edited phrase is a new orth-proj preview, computed off the UI
    /// thread: the screen says it is updating, then shows the new words.
    @Test func editedPhrasesUpdateTheOrthProjPreview() throws {
        let app = try Self.app()
        func screen() -> String { Views.render(app, width: 200, height: 40).text }
        app.handle(.character("s"))
        try app.settle()
        let attribute = app.model.audit.attributes[try #require(app.attributes.rows().first).attribute]
        #expect(screen().contains("orth-proj preview (\(attribute))") && screen().contains("“with \(attribute)”")
                && !screen().contains("misty"), "\(screen())")
        app.handle(.character("n"))
        app.handle(.tab)
        for _ in 0..<"with \(attribute)".count { app.handle(.backspace) }
        for ch in "on a misty lake" { app.handle(.character(ch)) }
        app.handle(.enter)
        try app.settle()
        // The other class keeps its default phrases.
        #expect(screen().contains("“on a misty lake”") && screen().contains("“without \(attribute)”"), "\(screen())")
        #expect(!screen().contains("updating…") && !screen().contains("encoding the phrases"))
    }

    @Test func tooSmallSaysSoAndHelpListsEveryKey() throws {
        let app = try Self.app()
        #expect(Views.render(app, width: 40, height: 10).text.contains("Terminal too small"))
        app.handle(.character("?"))
        let help = Views.render(app, width: 120, height: 40).text
        for binding in KeyBindings.all.prefix(20) where binding.inHelp { #expect(help.contains(binding.description), "\(binding.description)") }
        app.handle(.character("x"))
        #expect(!app.showHelp)
    }
}

@Suite(.serialized)
struct TrainScreenTests {
    @Test func everySettingBothWaysAndTyped() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        func header() -> String { let g = Views.render(app, width: 160, height: 40); return (2...4).map(g.line).joined(separator: "\n") }
        #expect(header().contains("Method ours-ls") && header().contains("(benchmark groups)") && header().contains("lr 0.001") && header().contains("batch 128"))
        // The sampler follows the method as on the CLI: group-balanced for the paper's methods.
        #expect(header().contains("sampler group-balanced"))
        app.handle(.character("M"))
        #expect(!header().contains("Method ours-ls") && header().contains("sampler natural"))
        app.handle(.character("m"))
        app.handle(.character("a"))
        #expect(header().contains("attribute water (a/A)") && !header().contains("(marked)"))
        app.handle(.character("a"))
        #expect(header().contains("attribute land (a/A)"))
        app.handle(.character("A")); app.handle(.character("A"))
        #expect(header().contains("(benchmark groups)"))
        app.handle(.character("l")); app.handle(.character("b")); app.handle(.character("m"))
        #expect(header().contains("lr 0.003") && header().contains("batch 256") && header().contains("Method ours-vs"))
        app.handle(.character("L")); app.handle(.character("L")); app.handle(.character("B")); app.handle(.character("M"))
        #expect(header().contains("lr 0.0003") && header().contains("batch 128") && header().contains("Method ours-ls"))
        for _ in 0..<3 { app.handle(.character("-")) }
        #expect(header().contains("epochs 7 "))
        // Optimizer, sampler, weight decay and loss form reach the run's configuration.
        app.handle(.character("o")); app.handle(.character("w")); app.handle(.character("f"))
        var c = try app.train.trainingConfig()
        #expect(c.optimizer == .adam && c.weightDecay == 1e-3 && c.lossForm == .official && c.sampler == .groupBalanced)
        #expect(c.initialTemperature == 0.07 && header().contains("form official (f)") && header().contains("sampler group-balanced"))
        app.handle(.character("s")); app.handle(.character("W")); app.handle(.character("W"))
        c = try app.train.trainingConfig()
        #expect(c.sampler == .natural && c.weightDecay == 1e-5)
        // Every method is reachable, dfr and orth-proj included.
        var seen = Set<String>()
        for _ in 0..<20 { app.handle(.character("m")); seen.insert(try app.train.trainingConfig().method.rawValue) }
        #expect(seen.isSuperset(of: ["dfr", "orth-proj", "zeroshot", "erm", "groupdro", "sfr", "starft", "clip-ft"]))
    }

    @Test func disabledKeysSayWhyAndLeaveTheHintBar() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        app.handle(.character("x"))
        #expect(app.banner == "x: no run is training")
        app.handle(.character("R"))
        #expect(app.banner == "R: the run shown is not interrupted or cancelled")
        app.banner = nil
        let bar = Views.render(app, width: 200, height: 40).line(38)
        #expect(bar.contains("Enter start") && !bar.contains("x cancel") && !bar.contains("R resume"), "\(bar)")
        app.handle(.character("m"))   // ours-vs has a loss form; erm (after it) not
        while app.train.state.method.hasLossForm { app.handle(.character("m")) }
        app.handle(.character("f"))
        #expect(app.banner == "f: only ours-ls and ours-vs have a loss form" && app.train.state.lossForm == .paper)
        app.handle(.character("?"))
        let help = Views.render(app, width: 160, height: 80).text
        #expect(help.contains("(now: no run is training)") && help.contains("(now: only ours-ls and ours-vs have a loss form)"))
    }

    @Test func typedEntryAppliesAllOrNothing() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        app.handle(.character("e"))
        func type(_ s: String) { for ch in s { app.handle(.character(ch)) } }
        app.handle(.control("u")); type("25")
        app.handle(.tab); app.handle(.control("u")); type("0.02")
        app.handle(.tab); app.handle(.control("u")); type("0")   // not a batch size
        app.handle(.enter)
        // The engine's bound (TrainingConfig.check), named as this screen names the setting.
        #expect(app.banner == "batch size (b/B or e): is 0, expected 2...65536" && app.input != nil && app.train.state.epochs == 10,
                "\(app.banner ?? "")")
        app.handle(.backspace); type("48")
        app.handle(.enter)
        #expect(app.input == nil && app.train.state.epochs == 25 && app.train.state.learningRate == 0.02 && app.train.state.batchSize == 48)
        // The ladders continue from a typed value.
        app.handle(.character("b"))
        #expect(app.train.state.batchSize == 64)
    }

    /// Epochs 1...n as the workspace stores them (JSON): worst group 90 % at
    /// `best`, 20 % elsewhere.
    static func reports(_ n: Int, best: Int) throws -> [EpochReport] {
        try (1...n).map { e in
            let json: [String: Any] = ["epoch": e, "step": e, "trainLoss": 1.0, "isBest": e == best, "bestEpoch": min(e, best), "seconds": 0.1,
                                       "validation": ["groups": [], "average": 0.5, "adjustedAverage": 0.5,
                                                      "worstGroup": e == best ? 0.9 : 0.2, "worstGroupName": "g"]]
            return try JSONDecoder().decode(EpochReport.self, from: JSONSerialization.data(withJSONObject: json))
        }
    }

    @Test func epochTableScrollsAndKeepsTheBestReachable() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        app.train.state.reports = try Self.reports(60, best: 7)
        app.train.state.runID = 1
        var screen = Views.render(app, width: 120, height: 30).text
        #expect(screen.contains("   60 ") && !screen.contains("← best") && screen.contains("best epoch 7: worst group 90%"))
        app.handle(.character("g"))
        screen = Views.render(app, width: 120, height: 30).text
        #expect(screen.contains("    7 ") && screen.contains("← best") && screen.contains("1–"))
        app.handle(.character("G"))
        #expect(app.train.state.epochCursor == nil)
        // From the newest epoch, PgUp and ↑ move at once (they once moved an
        // off-screen top row that needed a table's height of presses to show).
        let following = Views.render(app, width: 120, height: 30).text
        app.handle(.pageUp)
        #expect(app.train.state.epochCursor == 49)
        screen = Views.render(app, width: 120, height: 30).text
        #expect(screen != following && screen.contains("▶    50 "), "\(screen)")
        app.handle(.up)
        #expect(Views.render(app, width: 120, height: 30).text.contains("▶    49 "))
        // At 80 columns (no table) the selected epoch is shown on its own line.
        #expect(Views.render(app, width: 80, height: 24).text.contains("epoch 49 of 60: loss 1.0000, val avg 50%, worst 20%"))
        app.handle(.character("g"))
        #expect(Views.render(app, width: 80, height: 24).text.contains("epoch 1 of 60:"))
    }

    /// `/` on the Train screen finds an epoch by its number ("2" is epoch 2,
    /// not the first epoch whose number contains a 2) or the best one.
    @Test func slashFindsAnEpochByNumberOrTheBest() throws {
        let app = try AppTests.app()
        app.handle(.character("3"))
        app.handle(.character("/"))
        #expect(app.input == nil && app.banner == "/: no epochs to find yet")
        app.train.state.reports = try Self.reports(30, best: 17)
        app.train.state.runID = 1
        app.handle(.character("/"))
        app.handle(.character("2"))
        #expect(app.train.state.epochCursor == 1, "epoch 2 is row 1")
        #expect(Views.render(app, width: 120, height: 30).text.contains("▶     2 "))
        app.handle(.enter)
        #expect(app.train.state.epochCursor == 1 && app.banner == "no other epoch matches '2'")
        app.handle(.character("0"))
        #expect(app.train.state.epochCursor == 19)
        for _ in 0..<2 { app.handle(.backspace) }
        for ch in "best" { app.handle(.character(ch)) }
        #expect(app.train.state.epochCursor == 16)
        #expect(Views.render(app, width: 120, height: 30).text.contains("▶    17 "))
        app.handle(.escape)
        // Finding the newest epoch follows new ones again, as G does.
        app.handle(.character("/")); app.handle(.character("3")); app.handle(.character("0"))
        #expect(app.train.state.epochCursor == nil)
    }
}

struct LayoutTests {
    @Test func columnsDropByPriorityAndNamesShrinkWithAnEllipsis() {
        let columns = [TableColumn("attribute", width: 12, priority: 0, minimumWidth: 6), TableColumn("δ", width: 6, priority: 0, rightAligned: true),
                       TableColumn("confused", width: 9, priority: 5), TableColumn("verdict", width: 9, priority: 1)]
        let wide = TableLayout(columns, width: 80)
        #expect(wide.line(["waterfall", "+1.0", "waterbird", "spurious"]) == "waterfall       +1.0  waterbird  spurious ")
        // 12 + 6 + 9 + 9 + 3 gaps of 2 = 42: at 40 the optional confused column goes, never cut to "wate".
        let narrow = TableLayout(columns, width: 40)
        #expect(!narrow.isShown(2) && narrow.isShown(3))
        #expect(narrow.line(["waterfall", "+1.0", "waterbird", "spurious"]) == "waterfall       +1.0  spurious ")
        // At 25 the name then shrinks (to 6 at least) before the verdict goes; at 14 the verdict goes.
        let tight = TableLayout(columns, width: 25)
        #expect(tight.isShown(3) && tight.line(["waterfall", "+1.0", "waterbird", "spurious"]) == "water…    +1.0  spurious ")
        #expect(TableLayout(columns, width: 14).line(["waterfall", "+1.0", "waterbird", "spurious"]) == "water…    +1.0")
        #expect(TableLayout.fit("abc", width: 5, rightAligned: true) == "  abc")
    }

    @Test func listWindowKeepsTheSelectionVisible() {
        #expect(ListWindow.top(selected: 0, count: 100, visible: 10) == 0)
        #expect(ListWindow.top(selected: 50, count: 100, visible: 10) == 45)
        #expect(ListWindow.top(selected: 99, count: 100, visible: 10) == 90)
        #expect(ListWindow.top(selected: 5, count: 8, visible: 10) == 0)
        for s in 0..<100 {
            let top = ListWindow.top(selected: s, count: 100, visible: 19)
            #expect(top <= s && s < top + 19)
        }
    }

    @Test func hintBarKeepsWholeHintsAndTheAlwaysOnes() {
        let bar = HintBar.fit(["a one", "b two", "c three"], always: ["? keys", "q quit"], width: 28)
        #expect(bar == "a one  b two  ? keys  q quit")
        #expect(HintBar.fit(["a one"], always: ["? keys"], width: 3) == "? keys")
    }

    @Test func hintBarUsesASecondLineOnlyWhenOneCannotHoldEveryHint() {
        let hints = ["a one", "b two", "c three"]
        #expect(HintBar.lines(hints, always: ["q quit"], width: 40, maxLines: 2) == ["a one  b two  c three  q quit"])
        // 29 characters in all: "a one  b two" (12) then "c three  q quit" (15) in 16 columns.
        #expect(HintBar.lines(hints, always: ["q quit"], width: 16, maxLines: 2) == ["a one  b two", "c three  q quit"])
        #expect(HintBar.lines(hints, always: ["q quit"], width: 16, maxLines: 1) == ["a one  q quit"])
    }

    @Test func phrasesAreShownWholeOrNotAtAll() {
        let caption = [Phrase("s00053:", lead: "", priority: 2), Phrase("landbird → waterbird", priority: 0),
                       Phrase("detection 0.97", lead: "; ", priority: 1)]
        #expect(Phrase.fit(caption, width: 80) == "s00053: landbird → waterbird; detection 0.97")
        // 20 + 2 + 14 = 36 fits; the id (8 more) does not.
        #expect(Phrase.fit(caption, width: 40) == "landbird → waterbird; detection 0.97")
        #expect(Phrase.fit(caption, width: 30) == "s00053: landbird → waterbird")
        #expect(Phrase.fit(caption, width: 21) == "landbird → waterbird")
        // Not even the first fits: it is cut visibly.
        #expect(Phrase.fit(caption, width: 10) == "landbird …")
        let why: [(lead: String, text: String)] = [("", "water present: 38%"), ("; ", "absent: 94%"), (" ", "(little support)")]
        #expect(Phrase.prefix(why, width: 31) == "water present: 38%; absent: 94%")
        // A later short phrase never follows when the one before it was left out.
        #expect(Phrase.prefix(why, width: 30) == "water present: 38%")
    }

    @Test func tabsShortenInsteadOfDisappearing() throws {
        let app = try AppTests.app()
        #expect(Views.render(app, width: 120, height: 40).line(0).contains("spurscope   1 Attributes   2 Preview   3 Train   4 Groups"))
        let narrow = Views.render(app, width: 50, height: 15).line(0)
        #expect(narrow.contains("4 Grou") && narrow.contains("1 Attr") && !narrow.contains("spurscope"))
    }
}

struct TextFormTests {
    @Test func cursorMovesAndCtrlUClearsToTheStart() {
        var f = TextForm(labels: ["note"], fields: ["hello world"])
        #expect(f.cursor == 11)
        for _ in 0..<6 { _ = f.edit(.left) }
        _ = f.edit(.character(","))
        #expect(f.fields[0] == "hello, world")
        _ = f.edit(.control("u"))
        #expect(f.fields[0] == " world" && f.cursor == 0)
        _ = f.edit(.end); _ = f.edit(.backspace); _ = f.edit(.home); _ = f.edit(.delete)
        #expect(f.fields[0] == "worl")
    }
}

/// Issue 24: the banner wraps at spaces, breaks a word longer than a line,
/// and marks what does not fit in its lines.
@Test func bannerLinesWrapBreakAndEllipsize() {
    #expect(Views.bannerLines("give a word for images without water", width: 12, maxLines: 9)
            == ["give a word", "for images", "without", "water"])
    #expect(Views.bannerLines("/a/very/long/path/name: is missing", width: 10, maxLines: 9)
            == ["/a/very/lo", "ng/path/na", "me: is", "missing"])
    let cut = Views.bannerLines(String(repeating: "word ", count: 40), width: 20, maxLines: 2)
    #expect(cut.count == 2 && cut[1].hasSuffix("…") && cut.allSatisfy { $0.count <= 20 })
    #expect(Views.bannerLines("short", width: 80, maxLines: 3) == ["short"])
}
