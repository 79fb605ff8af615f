import Foundation
import Testing
import SpurCore

/// Issue 13's acceptance review, each finding seen in a real terminal:
/// `/` on every list, whole phrases on narrow terminals, every key of the
/// Train screen named, a bundle without spatial maps, and no crash while
/// resizing and typing fast.
@Suite(.serialized)
struct UIReviewTests {
    static func lines(_ screen: String) -> [Substring] { screen.split(separator: "\n", omittingEmptySubsequences: false) }

    /// The selected row of a screen (the line starting "▶" or " ▶").
    static func selected(_ screen: String) -> String? {
        lines(screen).first { $0.hasPrefix("▶") || $0.hasPrefix(" ▶") }.map(String.init)
    }

    /// Every "→ X" on the screen names a whole class: a cut "→ water" would
    /// read as the attribute, "→ predicted lan" as nothing.
    static func arrowsNameWholeClasses(_ screen: String) -> Bool {
        let classes: Set<Substring> = ["landbird", "waterbird"]
        return screen.matches(of: /→ (?:predicted )?([A-Za-z…]+)/).allSatisfy { classes.contains($0.1) }
    }

    /// `/` on the Groups table jumps to a group by name; in the model list
    /// (p) it jumps to a run by method, and a click on a row of the list
    /// selects it too.
    @Test func slashFindsOnTheGroupTableAndTheModelList() throws {
        let (ui, ws) = try TerminalUITests.session("review-find")
        for method in ["zeroshot", "orth-proj"] {
            let r = try CLIRunner.run(["train", try SampleData.bundle(), "--workspace", ws, "--method", method, "--attribute", "water"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("4")
        let table = try ui.wait { $0.contains("Test groups: pre-trained vs run 2 (orth-proj)") && $0.contains("← worst") }
        #expect(Self.selected(table)?.contains("landbird, no water") == true, "\(table)")
        #expect(table.contains("/ find"), "the hint bar names / on the group table\n\(table)")
        try ui.send("/")
        try ui.send("-l", "waterbird, n")
        let found = try ui.wait { Self.selected($0)?.contains("waterbird, no water") == true }
        #expect(Self.selected(found)?.contains("waterbird, no water") == true, "\(found)")
        try ui.send("-l", "zz")
        #expect(try ui.wait { $0.contains("no group matches 'waterbird, nzz'") }.contains("no group matches"))
        try ui.send("Escape", "Enter")
        try ui.wait { $0.contains("waterbird, no water: 300 test examples") }
        try ui.send("Escape")

        // The model list: `/zeroshot` selects run 1 (the pre-trained model is "zero-shot"), Enter (after Esc closes the search) makes it model B.
        try ui.send("p")
        try ui.wait { $0.contains("Model B (Enter: pick, / find") }
        try ui.send("/")
        try ui.send("-l", "zeroshot")
        try ui.wait { $0.contains("find: zeroshot") }
        try ui.send("Escape")
        try ui.wait { !$0.contains("find: zeroshot") && $0.contains("Model B (Enter") }
        try ui.send("Enter")
        let picked = try ui.wait { $0.contains("Test groups: pre-trained vs run 1 (zeroshot)") }
        #expect(picked.contains("vs run 1 (zeroshot)"), "\(picked)")

        // A click on the row of run 2 in the list selects it; Enter picks it.
        try ui.send("p")
        let list = try ui.wait { $0.contains("Model B (Enter: pick") }
        let row = try #require(Self.lines(list).firstIndex { $0.contains("run 2") && $0.contains("orth-proj") })
        let column = try #require(Self.lines(list)[row].range(of: "run 2")).lowerBound
        try ui.click(x: Self.lines(list)[row].distance(from: Self.lines(list)[row].startIndex, to: column), y: row)
        // The picked row is drawn in the selection style, invisible in text: Enter proves which one it is.
        try ui.send("Enter")
        let clicked = try ui.wait { $0.contains("Test groups: pre-trained vs run 2 (orth-proj)") }
        #expect(clicked.contains("vs run 2 (orth-proj)"), "\(clicked)")

        // In the list: F1 shows the keys (the list stays open behind them), PgUp and PgDn jump.
        try ui.send("p")
        try ui.wait { $0.contains("Model B (Enter: pick") }
        try ui.send("F1")
        try ui.wait { $0.contains("any other key closes") }
        try ui.send("Escape")
        try ui.wait { !$0.contains("any other key closes") && $0.contains("Model B (Enter: pick") }
        try ui.send("PageUp", "Enter")
        #expect(try ui.wait { $0.contains("Test groups: pre-trained vs pre-trained") }.contains("vs pre-trained"))
    }

    /// At 60 × 20 and 50 × 15 lines keep whole phrases: the prediction names
    /// a whole class, the status bar keeps "engine: …" whole, the position
    /// counter does not overwrite the table header, the Groups table keeps
    /// whole group names (titles "A" and "B" instead of the models' names)
    /// and the browser's captions say "A →" rather than a cut model name.
    @Test func narrowTerminalsKeepWholePhrases() throws {
        let (ui, _) = try TerminalUITests.session("review-narrow", width: 50, height: 15)
        try ui.wait { $0.contains("Class landbird") }
        // A verdict adds the orth-proj line: 8 rows no longer fit and the table shows where it is.
        try ui.send("s")
        let attributes = try ui.wait { $0.contains("orth-proj (water)") && $0.contains(" of 8") }
        let header = try #require(Self.lines(attributes).first { $0.contains("attribute") && $0.contains("δ") })
        #expect(header.contains("without") && header.contains("verdict") && !header.contains(" of 8"), "\(attributes)")
        #expect(Self.lines(attributes).contains { $0.trimmingCharacters(in: .whitespaces) == "1–6 of 8" }, "\(attributes)")
        #expect(attributes.contains("engine: idle"), "\(attributes)")

        try ui.send("2")
        let narrow = try ui.wait { $0.contains("→ waterbird") || $0.contains("→ landbird") }
        #expect(Self.arrowsNameWholeClasses(narrow), "\(narrow)")
        try ui.resize(60, 20)
        let sixty = try ui.wait { $0.contains("s00") && ($0.contains("→ waterbird") || $0.contains("→ landbird")) && $0.contains(" Groups") }
        #expect(Self.arrowsNameWholeClasses(sixty), "\(sixty)")
        #expect(sixty.contains("engine: idle"), "\(sixty)")

        try ui.resize(50, 15)
        try ui.send("4")
        let groups = try ui.wait { $0.contains("Test groups:") && $0.contains("← worst") }
        for name in ["landbird, no water", "landbird, water", "waterbird, no water", "waterbird, water"] {
            #expect(groups.contains(name), "\(name)\n\(groups)")
        }
        #expect(!groups.contains("…"), "\(groups)")
        try ui.send("Enter")
        let browse = try ui.wait { $0.contains("test examples") && $0.contains("A →") }
        #expect(Self.arrowsNameWholeClasses(browse) && !browse.contains("pre-trai "), "\(browse)")
    }

    /// At 120 × 40 the Train screen's hint bar names every key it has (on two
    /// lines), "? keys  q quit" last.
    @Test func trainHintBarNamesEveryKey() throws {
        let (ui, _) = try TerminalUITests.session("review-hints")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        let train = try ui.wait { $0.contains("Method ours-ls") }
        let bar = Self.lines(train).suffix(4).joined(separator: "\n")
        for hint in ["Enter start", "m/M method", "a/A attribute", "+/- epochs", "e edit", "l/L lr", "b/B batch", "o optimizer",
                     "s sampler", "w/W decay", "f form"] {
            #expect(bar.contains(hint), "\(hint)\n\(bar)")
        }
        let last = try #require(Self.lines(train).last { $0.contains("q quit") })
        #expect(last.hasSuffix("? keys  q quit") && last.count <= 120, "\(bar)")
    }

    /// A bundle without spatial maps or masks: the previews say there is no
    /// Grad-CAM instead of drawing an empty map, `c` says why it does
    /// nothing, and the Groups browser works.
    /// Issue 24: a long error keeps its advice on screen: the banner wraps
    /// (here the orth-proj preview of a bundle that cannot encode its phrases, at 80 columns).
    @Test func longErrorsWrapWithTheirAdvice() throws {
        let bundle = try NonSquareBundle.write("ui-long-error", copies: 2) { c in c.manifest.textEncoder = "an-exported-model" }
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-long-error-ws-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let ui = try TmuxSession(arguments: ["ui", bundle, "--workspace", ws, "--min-support", "2"], width: 80, height: 24)
        try ui.wait { $0.contains("Class landbird") && $0.contains("water") }
        try ui.send("s")
        let screen = try ui.wait { $0.contains("orth-proj preview: ") && $0.contains("records one)") }
        let lines = Self.lines(screen)
        let first = try #require(lines.firstIndex { $0.contains("orth-proj preview: ") })
        let last = try #require(lines.firstIndex { $0.contains("records one)") })
        #expect(last > first && lines[first...last].allSatisfy { $0.count <= 80 }, "\(screen)")
        #expect(lines[first...last].map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ").contains("`spurscope import checkpoint` records one)"), "\(screen)")
    }

    /// Issue 24, item 2: without ground truth, screen 4 groups the test split
    /// as `eval` does (by the marked attribute's detections) and says so.
    @Test func groupsWithoutGroundTruthAreTheDetectedOnesEvalUses() throws {
        let bundle = try NonSquareBundle.write("ui-no-truth", copies: 4) { c in
            for i in c.examples.indices { c.examples[i].attributes = [:] }
            c.manifest.groups = nil
        }
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-no-truth-ws-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        #expect(try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "landbird", "--attribute", "water", "--verdict", "spurious"]).status == 0)
        let eval = try CLIRunner.run(["eval", bundle, "--zeroshot", "--workspace", ws, "--json"])
        #expect(eval.status == 0 && eval.stdout.contains("landbird, no water"), "\(eval.stdout)")
        let ui = try TmuxSession(arguments: ["ui", bundle, "--workspace", ws, "--min-support", "2"], width: 120, height: 30)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("4")
        let screen = try ui.wait { $0.contains("Test groups:") && $0.contains("detected groups by water") }
        for name in ["landbird, water", "landbird, no water", "waterbird, water", "waterbird, no water"] {
            #expect(screen.contains(name), "\(name): \(screen)")
        }
        #expect(!screen.contains("landbird, all"), "\(screen)")
    }

    @Test func aBundleWithoutSpatialMaps() throws {
        let bundle = try NonSquareBundle.write("ui-no-maps", copies: 12) { c in
            c.spatial = nil
            c.manifest.tensors.removeAll { $0 == "image_spatial" }
            for i in c.examples.indices { c.examples[i].mask = nil }
        }
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-no-maps-ws-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let ui = try TmuxSession(arguments: ["ui", bundle, "--workspace", ws], width: 80, height: 24)
        let start = try ui.wait { $0.contains("Class landbird") }
        #expect(start.contains("water"), "\(start)")
        try ui.send("2")
        let preview = try ui.wait { $0.contains("no Grad-CAM") }
        #expect(preview.contains("no Grad-CAM: the bundle has no spatial maps") && !preview.contains("c map class"), "\(preview)")
        try ui.send("c")
        #expect(try ui.wait { $0.contains("c: the bundle has no spatial maps") }.contains("no Grad-CAM to show"))
        try ui.send("4")
        try ui.wait { $0.contains("Test groups:") }
        try ui.send("Enter")
        let browse = try ui.wait { $0.contains("test examples") && $0.contains("no Grad-CAM") }
        #expect(browse.contains("A pre-trained →") || browse.contains("A →"), "\(browse)")
        #expect(!browse.contains("EXITED"), "\(browse)")
    }

    /// Resizing while previews render and keys arriving faster than frames:
    /// the UI stays up and ends on the state the keys asked for.
    @Test func resizingAndFastKeysDoNotCrash() throws {
        let (ui, _) = try TerminalUITests.session("review-resize")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        try ui.wait { $0.contains("→ predicted") }
        let sizes = [(50, 15), (120, 40), (61, 17), (80, 24), (30, 8), (200, 60), (55, 16)]
        for (i, size) in sizes.enumerated() {
            try ui.send("j", "j", "c", "v", "PageDown")
            try ui.resize(size.0, size.1)
            if i == 3 { try ui.send("4", "Enter", "j", "j", "r", "G", "g", "2") }
        }
        try ui.resize(120, 40)
        try ui.send("G")
        let end = try ui.wait { Self.selected($0)?.hasPrefix("▶−") == true && $0.contains("→ predicted") }
        #expect(!end.contains("EXITED") && Self.selected(end)?.hasPrefix("▶−") == true, "\(end)")
        // The same burst on the Groups browser.
        try ui.send("4")
        try ui.wait { $0.contains("Test groups:") }
        try ui.send("Enter")
        for size in sizes {
            try ui.send("j", "j", "j", "c", "G", "k")
            try ui.resize(size.0, size.1)
        }
        try ui.resize(120, 40)
        let groups = try ui.wait { $0.contains("test examples") && $0.contains("A pre-trained →") }
        #expect(!groups.contains("EXITED"), "\(groups)")
        try ui.send("q")
        #expect(try ui.wait(idle: false) { $0.contains("EXITED") }.contains("EXITED 0"))
    }

    /// The epoch table moves with the first ↑ or PgUp from the newest epoch
    /// (it used to need a table's height of presses); at 80 columns, where
    /// there is no table, the selected epoch is shown on its own line; at
    /// 60 × 20 the validation plot keeps rows between its 100% and 0% labels.
    @Test func epochTableMovesAtOnceAndNarrowTerminalsShowOneEpoch() throws {
        let (ui, ws) = try TerminalUITests.session("review-epochs")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        try ui.wait { $0.contains("Method ours-ls") }
        let r = try CLIRunner.run(["train", try SampleData.bundle(), "--workspace", ws, "--method", "erm", "--epochs", "40", "--batch-size", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        try ui.wait(timeout: 30) { $0.contains("Run 1 (erm): finished") && $0.contains("of 40  PgUp/PgDn g/G") }
        try ui.send("k")
        let up = try ui.wait { $0.contains("▶    39 ") }
        #expect(up.contains("▶    39 "), "\(up)")
        try ui.send("PageUp")
        let paged = try ui.wait { $0.contains("▶    29 ") }
        #expect(paged.contains("▶    29 "), "\(paged)")
        // A click on the row of another epoch selects it.
        let table = Self.lines(paged)
        let row = try #require(table.firstIndex { $0.range(of: #"  +25 +[0-9]+\.[0-9]{4} "#, options: .regularExpression) != nil })
        let column = table[row].distance(from: table[row].startIndex, to: try #require(table[row].range(of: "   25 ", options: .backwards)).lowerBound)
        try ui.click(x: column + 4, y: row)
        #expect(try ui.wait { $0.contains("▶    25 ") }.contains("▶    25 "))
        try ui.send("PageUp")
        try ui.wait { $0.contains("▶    15 ") }
        try ui.send("PageDown", "PageDown")
        try ui.wait { $0.contains("▶    35 ") }
        try ui.send("PageUp")
        try ui.wait { $0.contains("▶    25 ") }
        try ui.send("k", "k", "k", "k")
        try ui.resize(80, 24)
        let narrow = try ui.wait { $0.contains("epoch 21 of 40: loss ") }
        #expect(narrow.contains("epoch 21 of 40: loss "), "\(narrow)")
        try ui.send("g")
        #expect(try ui.wait { $0.contains("epoch 1 of 40: loss ") }.contains("epoch 1 of 40"))
        try ui.resize(60, 20)
        let small = try ui.wait { $0.contains("0%┤") && Self.lines($0).allSatisfy { $0.count <= 60 } }
        let rows = Self.lines(small)
        let top = try #require(rows.lastIndex { $0.contains("100%┤") }), bottom = try #require(rows.lastIndex { $0.contains(" 0%┤") })
        #expect(bottom - top >= 2, "\(small)")
    }

    /// At 80 × 24 the `?` overlay wraps a long reason under its key instead
    /// of cutting it ("no finished run to compa"), and still scrolls to its end.
    @Test func helpWrapsLongLinesAtEightyColumns() throws {
        let (ui, _) = try TerminalUITests.session("review-help", width: 80, height: 24)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("4")
        try ui.wait { $0.contains("← worst") }
        try ui.send("?")
        try ui.wait { $0.contains("any other key closes") }
        try ui.send("End")
        let end = try ui.wait { $0.contains("pick model A from a list") }
        // The overlay's text runs from column 4 to 75 (76 wide, centred): the screen under it shows at the edges.
        let text = Self.lines(end).map { String($0.dropFirst(4).prefix(72)).trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        #expect(text.contains("no finished run to compare with yet: start one on the Train screen (3))"), "\(end)")
        #expect(text.contains("click or Enter picks)"), "\(end)")
    }
}
