import Foundation
import Testing
import SpurCore

/// Issue 13's bugs and issue 12's clean exits, each seen in a real terminal.
@Suite(.serialized)
struct UIIssue13Tests {
    static func lines(_ screen: String) -> [Substring] { screen.split(separator: "\n", omittingEmptySubsequences: false) }


    /// Bug 1: on the Preview screen at 80 × 24 the last example is reachable
    /// and shown; on screen 4, 141 × j keeps the selected example (▶) in the list.
    @Test func listsFollowTheCursor() throws {
        let (ui, _) = try TerminalUITests.session("follow-cursor", width: 80, height: 24)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        let first = try ui.wait { $0.contains("→ predicted") }
        let count = try #require(first.firstMatch(of: /and without \((\d+)\)/)).1
        #expect(Int(count)! > 20)
        try ui.send("G")
        let last = try ui.wait { screen in
            // The caption names the example shown: the selected row, which is the last row of the list.
            guard let id = screen.firstMatch(of: /(s\d{5}): \w+ → predicted/)?.1 else { return false }
            let listRows = Self.lines(screen).filter { $0.range(of: #"^.[+−] s\d{5}"#, options: .regularExpression) != nil }
            return listRows.last?.hasPrefix("▶") == true && listRows.last?.contains(id) == true
        }
        let rows = Self.lines(last).filter { $0.range(of: #"^.[+−] s\d{5}"#, options: .regularExpression) != nil }
        // 24 rows less the tabs, the screen's title, the column heads, the two-line hint bar and the status line.
        #expect(rows.last?.hasPrefix("▶− ") == true && rows.count == 24 - 6, "\(last)")

        let (groups, _) = try TerminalUITests.session("follow-cursor-4")
        try groups.wait { $0.contains("Class landbird") }
        try groups.send("4")
        try groups.wait { $0.contains("← worst") }
        try groups.send("Enter")
        let top = try groups.wait { $0.contains("test examples") && $0.contains("A pre-trained →") }
        let firstID = try #require(top.firstMatch(of: /\n▶(s\d{5}) +[✓✗]/)?.1)
        for _ in 0..<141 { try groups.send("j") }
        let moved = try groups.wait(timeout: 30) { screen in
            screen.firstMatch(of: /\n▶(s\d{5}) +[✓✗]/).map { $0.1 != firstID } ?? false
        }
        let listed = Self.lines(moved).filter { $0.range(of: #"^.s\d{5} +[✓✗]"#, options: .regularExpression) != nil }
        #expect(listed.contains { $0.hasPrefix("▶") }, "\(moved)")
        #expect(!moved.contains(" \(firstID) "), "the list scrolled past its first row\n\(moved)")
    }

    /// Bugs 2 and 3: a run started with `spurscope train` is followed to its
    /// end with every epoch and the same best epoch; the clock stops when it
    /// finishes, and "best epoch" is printed once.
    @Test func aCLIRunIsFollowedToItsEndAndTheClockStops() throws {
        let (ui, ws) = try TerminalUITests.session("follow-all")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        try ui.wait { $0.contains("Method ours-ls") }
        let r = try CLIRunner.run(["train", try SampleData.bundle(), "--workspace", ws, "--method", "erm", "--epochs", "30", "--batch-size", "64"])
        #expect(r.status == 0, "\(r.stderr)")
        let run = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
        let best = try #require(run.bestEpoch)
        let done = try ui.wait(timeout: 30) { $0.contains("Run 1 (erm): finished") }
        #expect(done.contains("best epoch \(best):"), "\(done)")
        #expect(done.components(separatedBy: "best epoch").count == 2, "\(done)")
        // The table ends at epoch 30 (the newest rows are shown), the best row marked.
        #expect(done.range(of: #"\n.* 30 +[0-9]+\.[0-9]{4} "#, options: .regularExpression) != nil, "\(done)")
        let elapsed = { (s: String) in s.firstMatch(of: /elapsed (\d+)s/).map { Int($0.1)! } }
        let before = try #require(elapsed(done))
        Thread.sleep(forTimeInterval: 2.5)
        try ui.send("1")
        try ui.send("3")
        let later = try ui.wait { $0.contains("Run 1 (erm): finished") }
        #expect(elapsed(later) == before, "\(later)")
    }

    /// Bug 4: `r` while browsing a group re-sorts the examples by the newly
    /// compared run and names it. Screen 4 compares any two models: model A
    /// and model B are each picked from a list (p, P) that marks cancelled runs.
    @Test func nextRunWhileBrowsingChangesTheScreen() throws {
        let (ui, ws) = try TerminalUITests.session("browse-r")
        for method in ["zeroshot", "orth-proj"] {
            let r = try CLIRunner.run(["train", try SampleData.bundle(), "--workspace", ws, "--method", method, "--attribute", "water"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        // Run 1 as a run cancelled after its checkpoint was written.
        try Workspace(path: ws + "/workspace.sqlite").updateRun(1, status: .cancelled, message: "cancelled by the test")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("4")
        try ui.wait { $0.contains("Test groups: pre-trained vs run 2 (orth-proj)") }
        try ui.send("Enter")
        let first = try ui.wait { $0.contains("A pre-trained →") && $0.contains("B run 2 →") }
        #expect(first.contains("300 test examples, misclassified: A ") && first.contains("(A pre-trained, B run 2 (orth-proj))"), "\(first)")
        try ui.send("r")
        let second = try ui.wait { $0.contains("B run 1 →") }
        #expect(second.contains("test examples") && second.contains("(A pre-trained, B run 1 (zeroshot, cancelled))"), "\(second)")
        // Model A from the list: run 2 against run 1, neither of them the pre-trained model.
        try ui.send("Escape", "P")
        let picker = try ui.wait { $0.contains("Model A (Enter: pick") }
        let pickerLines = Self.lines(picker)
        #expect(pickerLines.contains { $0.contains("A  pre-trained (zero-shot)") }, "\(picker)")
        #expect(pickerLines.contains { $0.contains(" B run 1") && $0.contains("zeroshot") && $0.contains("✗ cancelled") }, "\(picker)")
        #expect(pickerLines.contains { $0.contains("run 2") && $0.contains("orth-proj") && $0.contains("finished") }, "\(picker)")
        try ui.send("Down", "Down", "Enter")
        let both = try ui.wait { $0.contains("Test groups: run 2 (orth-proj) vs run 1 (zeroshot, cancelled)") }
        let header = try #require(Self.lines(both).first { $0.contains("group ") && $0.contains("A run 2") })
        #expect(header.contains("B run 1") && header.contains("B−A"), "\(both)")
        #expect(both.contains("A run 2 (orth-proj): average") && both.contains("B run 1 (zeroshot, cancelled): average"), "\(both)")
        // And the pre-trained model as B.
        try ui.send("p", "g", "Enter")
        #expect(try ui.wait { $0.contains("Test groups: run 2 (orth-proj) vs pre-trained") }.contains("vs pre-trained"))
    }

    /// Bug 5: the first `c` shows another class's map.
    @Test func firstCShowsTheOtherClassMap() throws {
        let (ui, _) = try TerminalUITests.session("first-c")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        let before = try ui.wait { $0.contains("map of landbird") }
        #expect(before.contains(": landbird → predicted"))
        try ui.send("c")
        #expect(try ui.wait { $0.contains("map of waterbird") }.contains("map of waterbird"))
        try ui.send("c")
        #expect(try ui.wait { $0.contains("map of landbird") }.contains("map of landbird"))
    }

    /// Bug 6: at 80 × 24 the `?` overlay scrolls to its last line; +/- is one entry.
    @Test func helpOverlayScrollsAtEightyByTwentyFour() throws {
        let (ui, _) = try TerminalUITests.session("help", width: 80, height: 24)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("?")
        let top = try ui.wait { $0.contains("any other key closes") }
        #expect(top.contains("Everywhere") && !top.contains("pick model A from a list"), "\(top)")
        try ui.send("End")
        let end = try ui.wait { $0.contains("pick model A from a list") }
        #expect(end.contains("pick model A from a list"), "\(end)")
        for _ in 0..<40 { try ui.send("k") }
        let all = try ui.wait { $0.contains("Everywhere") }
        #expect(all.contains("Everywhere"))
        // One line for + and -, none for "-" alone.
        try ui.send("PageDown", "PageDown")
        let middle = try ui.wait { $0.contains("more or fewer epochs") }
        #expect(middle.contains("+/-") && !middle.contains("fewer epochs  ") && !Self.lines(middle).contains { $0.contains(" -       ") })
        try ui.send("x")
        #expect(!(try ui.wait { !$0.contains("any other key closes") }).contains("any other key closes"))
    }

    /// Bug 7: at 60 × 20 the verdict column stays and no name is cut to a
    /// stub; at 50 × 15 every tab is there; at 120 columns the hint bar ends
    /// with whole hints, "? keys  q quit" last.
    @Test func columnsShrinkByPriority() throws {
        let (ui, _) = try TerminalUITests.session("columns", width: 60, height: 20)
        let small = try ui.wait { $0.contains("Class landbird") }
        #expect(small.contains("verdict") && small.contains("undecided"), "\(small)")
        #expect(!small.contains("wate ") && !small.contains(" wate\n"), "\(small)")
        let confused = small.contains("confused")
        #expect(!confused || small.contains("waterbird"), "a confused column is whole or absent\n\(small)")
        try ui.resize(50, 15)
        let tiny = try ui.wait { $0.split(separator: "\n").count <= 15 && $0.contains("4 Grou") }
        #expect(tiny.contains("1 Attr") && tiny.contains("4 Grou") && tiny.contains("verdict"), "\(tiny)")
        try ui.resize(120, 40)
        let wide = try ui.wait { $0.contains("95% CI") && $0.contains("spurscope ") }
        let hints = try #require(Self.lines(wide).first { $0.contains("s spurious") })
        #expect(hints.hasSuffix("? keys  q quit"), "\(hints)")
        for k in ["3", "4", "2"] {
            try ui.send(k)
            let s = try ui.wait { $0.contains("q quit") }
            let bar = try #require(Self.lines(s).first { $0.hasSuffix("q quit") })
            #expect(bar.count <= 120, "\(bar)")
        }
    }

    /// The mouse in a real terminal: a click selects a table row and a tab,
    /// the wheel scrolls three rows, a click picks a group on screen 4.
    @Test func mouseClicksRowsAndTabsAndTheWheelScrolls() throws {
        let (ui, _) = try TerminalUITests.session("mouse")
        let start = try ui.wait { $0.contains("Class landbird") && $0.contains("\n ▶ ") }
        let lines = Self.lines(start)
        let table = lines.indices.filter { lines[$0].range(of: #"^ [ ▶] [a-z]+ +[-+][0-9]"#, options: .regularExpression) != nil }
        #expect(table.count >= 6, "\(start)")
        let third = table[2], name = lines[third].split(separator: " ").first { $0 != "▶" }.map(String.init) ?? ""
        try ui.click(x: 10, y: third)
        let clicked = try ui.wait { Self.lines($0)[third].hasPrefix(" ▶ \(name) ") }
        #expect(Self.lines(clicked)[third].hasPrefix(" ▶ \(name) ") && clicked.contains("\n \(name) present: "), "\(clicked)")
        // One notch down: three rows further.
        try ui.wheel(down: true, x: 10, y: third)
        let scrolled = try ui.wait { Self.lines($0)[table[5]].hasPrefix(" ▶ ") }
        #expect(Self.lines(scrolled)[table[5]].hasPrefix(" ▶ ") && !Self.lines(scrolled)[third].hasPrefix(" ▶ "), "\(scrolled)")
        try ui.wheel(down: false, x: 10, y: third)
        #expect(try ui.wait { Self.lines($0)[third].hasPrefix(" ▶ ") }.contains(" ▶ \(name) "))
        // The Groups tab, then a click on the row of a minority group, then Enter browses it.
        let tabs = String(Self.lines(scrolled)[0])
        let tab = try #require(tabs.range(of: "4 Groups"))
        try ui.click(x: tabs.distance(from: tabs.startIndex, to: tab.lowerBound) + 2, y: 0)
        let groups = try ui.wait { $0.contains("Test groups:") && $0.contains("← worst") }
        let row = try #require(Self.lines(groups).firstIndex { $0.contains("waterbird, no water") })
        #expect(!Self.lines(groups)[row].hasPrefix(" ▶"), "\(groups)")
        try ui.click(x: 5, y: row)
        #expect(try ui.wait { Self.lines($0)[row].hasPrefix(" ▶ waterbird, no water") }.contains("▶ waterbird, no water"))
        try ui.send("Enter")
        let browse = try ui.wait { $0.contains("waterbird, no water: 300 test examples") && $0.contains("A pre-trained →") }
        #expect(browse.contains("waterbird, no water: 300 test examples"), "\(browse)")
        // A click on the fourth example of the list selects it (its picture follows).
        let listed = Self.lines(browse).indices.filter { Self.lines(browse)[$0].range(of: #"^.s\d{5} +[✓✗]"#, options: .regularExpression) != nil }
        let target = listed[3], id = String(Self.lines(browse)[target].dropFirst().prefix(6))
        try ui.click(x: 3, y: target)
        let picked = try ui.wait { Self.lines($0)[target].hasPrefix("▶\(id)") }
        #expect(Self.lines(picked)[target].hasPrefix("▶\(id)"), "\(picked)")
    }

    /// Issue 12 item 11: while a run trains, q q and Ctrl-C end the process
    /// within a second, 5 times of 5, the run recorded as cancelled and the
    /// terminal restored.
    @Test func quittingDuringARunExitsWithinASecond() throws {
        var times: [Double] = []
        for attempt in 0..<5 {
            let (ui, ws) = try TerminalUITests.session("exit-\(attempt)")
            try ui.wait { $0.contains("Class landbird") }
            try ui.send("3")
            try ui.wait { $0.contains("Method ours-ls") }
            try ui.send("e")
            try ui.wait { $0.contains("Next run's settings") }
            try ui.send("C-u")
            try ui.send("1000", "Enter")
            try ui.wait { $0.contains("epochs 1000 ") }
            try ui.send("Enter")
            try ui.wait(timeout: 60, idle: false) { $0.range(of: #"\n.* 2 +[0-9]+\.[0-9]{4} "#, options: .regularExpression) != nil }
            let started = Date()
            if attempt % 2 == 0 { try ui.send("q"); try ui.send("q") } else { try ui.send("C-c") }
            let end = try ui.wait(timeout: 10, idle: false) { $0.contains("EXITED") }
            times.append(Date().timeIntervalSince(started))
            #expect(end.contains("EXITED 0") && !end.contains("1 Attributes"), "\(end)")
            let run = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
            #expect(run.status == .cancelled, "attempt \(attempt): \(run.status)")
        }
        // Polling the screen adds up to 0.1 s to each measurement.
        #expect(times.allSatisfy { $0 < 1 }, "\(times)")
        print("exit times during a run (s): \(times.map { String(format: "%.2f", $0) }.joined(separator: ", "))")
    }

    /// Issue 12 item 12: a run whose process was killed shows as interrupted
    /// (not followed as live), and R resumes it to the end.
    @Test func aKilledRunShowsAsInterruptedAndResumes() throws {
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-killed-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let p = Process()
        p.executableURL = CLIRunner.executable
        p.arguments = ["train", try SampleData.bundle(), "--workspace", ws, "--method", "erm", "--epochs", "60", "--batch-size", "8", "--json"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // Kill it after its first epoch.
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("\"event\":\"epoch\"") {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen += chunk
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let before = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
        #expect(before.status == .running && before.isInterrupted)
        let ui = try TmuxSession(arguments: ["ui", try SampleData.bundle(), "--workspace", ws])
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        let shown = try ui.wait { $0.contains("Run 1 (erm): interrupted") }
        #expect(shown.contains("interrupted: its process is gone (R resumes)"), "\(shown)")
        try ui.send("R")
        let done = try ui.wait(timeout: 120) { $0.contains("Run 1") && $0.contains(": finished") }
        #expect(done.contains("Run 1 (erm): finished") || done.contains("Run 1: finished"), "\(done)")
        let after = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
        #expect(after.status == .finished && !after.isInterrupted)
        #expect(try Workspace(path: ws + "/workspace.sqlite").epochs(run: 1).count == 60)
    }
}
