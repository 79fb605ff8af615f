import Foundation
import Testing
import SpurCore

/// The real binary in a real terminal: tmux runs it, keys are sent, the
/// screen is captured and read as a person would read it.
final class TmuxSession {
    let socket = "spurscope-test-\(getpid())-\(UUID().uuidString.prefix(8))"

    init(arguments: [String], width: Int = 120, height: Int = 40, environment: [String: String] = [:]) throws {
        let env = environment.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let command = "env -u NO_COLOR -u COLORTERM -u LINES -u COLUMNS \(env) \(CLIRunner.executable.path) \(arguments.map { "'\($0)'" }.joined(separator: " ")); echo EXITED $?; sleep 60"
        // The server this starts inherits our file descriptors: give it none to hold open.
        try tmux(["-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", "\(width)", "-y", "\(height)", command], capture: false)
    }

    deinit { _ = try? tmux(["kill-server"], capture: false) }

    /// Runs tmux with posix_spawn: the server it may start must not inherit
    /// any descriptor of ours (Foundation's Process watches a pipe the
    /// daemonised server would keep open forever), so every descriptor above
    /// 2 is marked close-on-exec first and output goes through a file.
    @discardableResult
    func tmux(_ args: [String], capture: Bool = true) throws -> String {
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            for fd in fds.compactMap({ Int32($0) }) where fd > 2 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        }
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID().uuidString)").path
        defer { unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, capture ? outPath : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = (["tmux", "-L", socket] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The test runner's blocked signals would be inherited by the server
        // and everything it starts: spawn with an empty mask and default handlers.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/usr/bin/tmux", &actions, &attributes, argv, environ)
        guard rc == 0 else { throw InputError(file: "/usr/bin/tmux", "cannot start: \(String(cString: strerror(rc)))") }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return capture ? ((try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "") : ""
    }

    func send(_ keys: String...) throws { try tmux(["send-keys", "-t", "ui"] + keys) }
    func capture() throws -> String { try tmux(["capture-pane", "-p", "-t", "ui"]) }

    /// A mouse event as an xterm sends it in X10 mode (what ncurses reads
    /// with TERM=tmux-256color): ESC [ M, then the button, column and row,
    /// each plus 32 (cells counted from 1). tmux passes `-l` text through as typed.
    static func mouseEvent(button: Int, x: Int, y: Int) -> String {
        "\u{1B}[M" + String([32 + button, 33 + x, 33 + y].map { Character(Unicode.Scalar(UInt8($0))) })
    }

    /// A left click on the cell at column `x`, row `y` (from 0): press and
    /// release arrive together, as from a terminal.
    func click(x: Int, y: Int) throws {
        try tmux(["send-keys", "-t", "ui", "-l", Self.mouseEvent(button: 0, x: x, y: y) + Self.mouseEvent(button: 3, x: x, y: y)])
    }

    /// One notch of the wheel over a cell.
    func wheel(down: Bool, x: Int, y: Int) throws {
        try tmux(["send-keys", "-t", "ui", "-l", Self.mouseEvent(button: down ? 65 : 64, x: x, y: y)])
    }
    func resize(_ w: Int, _ h: Int) throws { try tmux(["resize-window", "-t", "ui", "-x", "\(w)", "-y", "\(h)"]) }

    /// Polls the screen until `condition` holds (and the UI says it is
    /// idle, unless `idle` is false). A step that waits for a screen and
    /// never sees it must fail where it waited, not let the test go on to
    /// assert on whatever was there: on timeout this throws with the last
    /// screen and the line of the wait.
    @discardableResult
    func wait(timeout: Double = 20, idle: Bool = true, sourceLocation: SourceLocation = #_sourceLocation,
              _ condition: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var screen = ""
        while Date() < deadline {
            screen = try capture()
            if condition(screen) && (!idle || screen.contains("ready")) { return screen }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw ScreenWaitTimedOut(seconds: timeout, idle: idle, sourceLocation: sourceLocation, screen: screen)
    }
}

/// The screen a `TmuxSession.wait` waited for never came.
struct ScreenWaitTimedOut: Error, CustomStringConvertible {
    var seconds: Double
    var idle: Bool
    var sourceLocation: SourceLocation
    var screen: String
    var description: String {
        "\(sourceLocation.fileName):\(sourceLocation.line): the screen waited for did not appear\(idle ? " with the UI ready" : "") within \(seconds) s; the last screen:\n\(screen)"
    }
}

@Suite(.serialized)
struct TerminalUITests {
    static func session(_ name: String, width: Int = 120, height: Int = 40, environment: [String: String] = [:]) throws -> (TmuxSession, String) {
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let s = try TmuxSession(arguments: ["ui", try SampleData.bundle(), "--workspace", ws], width: width, height: height,
                                environment: environment)
        return (s, ws)
    }

    /// Issue 19: the expert's own words on screen 1. A verdict brings the
    /// orth-proj preview with the default phrases; editing the present phrase
    /// in the `n` form brings a preview for the new words.
    @Test func editedPhrasesReachTheOrthProjPreview() throws {
        let (ui, _) = try Self.session("phrases", width: 200)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("s")
        let marked = try ui.wait { $0.contains("orth-proj preview (") && $0.contains("“with ") }
        let line = try #require(marked.split(separator: "\n").first { $0.contains("orth-proj preview (") })
        let attribute = String(try #require(line.split(separator: "(").dropFirst().first?.split(separator: ")").first))
        #expect(line.contains("“with \(attribute)”") && !line.contains("misty"), "\(line)")
        try ui.send("n")
        try ui.wait { $0.contains("phrase present") }
        try ui.send("Tab")
        for _ in 0..<"with \(attribute)".count { try ui.send("BSpace") }
        try ui.send("-l", "on a misty lake")
        try ui.send("Enter")
        let edited = try ui.wait(timeout: 30) { $0.contains("“on a misty lake”") && !$0.contains("updating…") }
        let after = try #require(edited.split(separator: "\n").first { $0.contains("orth-proj preview (") })
        #expect(after.contains("“on a misty lake”") && after.contains("test worst group"), "\(after)")
    }

    @Test func rankedTableAndAVerdictStoredWithS() throws {
        let (ui, ws) = try Self.session("verdict")
        let screen = try ui.wait { $0.contains("Class landbird") }
        #expect(screen.contains("1 Attributes") && screen.contains("attribute") && screen.contains("95% CI"))
        let rows = screen.split(separator: "\n").filter { $0.hasPrefix("   ") || $0.hasPrefix(" ▶ ") }.filter { $0.contains("%") && !$0.contains("95% CI") }
        #expect(rows.count == 8, "\(screen)")
        #expect(rows.prefix(2).allSatisfy { $0.contains("water") || $0.contains("land") })
        try ui.send("s")
        let after = try ui.wait { $0.contains("(saved)") }
        let first = try #require(after.split(separator: "\n").first { $0.hasPrefix(" ▶ ") })
        #expect(first.contains("spurious"))
        let d = try Workspace(path: ws + "/workspace.sqlite").currentDecisions()
        #expect(d.count == 1 && d[0].className == "landbird" && d[0].verdict == .spurious)
        #expect(["water", "land"].contains(d[0].attribute))
        // Tab moves to the other class; a verdict made by another process appears.
        try ui.send("Tab")
        #expect(try ui.wait { $0.contains("Class waterbird") }.contains("Class waterbird"))
        try Workspace(path: ws + "/workspace.sqlite").record(className: "waterbird", attribute: "cloud", verdict: .healthy)
        let cloud = try ui.wait { $0.split(separator: "\n").contains { $0.contains("cloud") && $0.contains("healthy") } }
        #expect(cloud.split(separator: "\n").contains { $0.contains("cloud") && $0.contains("healthy") })
    }

    @Test func previewDrawsHalfBlocksAndASCIIWithNoColor() throws {
        let (ui, _) = try Self.session("preview")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        let colour = try ui.wait { $0.contains("predicted") }
        #expect(colour.split(separator: "\n").filter { $0.contains("▀▀▀▀▀▀▀▀") }.count >= 10)
        let (plain, _) = try Self.session("ascii", environment: ["NO_COLOR": "1"])
        try plain.wait { $0.contains("Class landbird") }
        try plain.send("2")
        let ascii = try plain.wait { $0.contains("predicted") }
        #expect(!ascii.contains("▀"))
        let artRows = ascii.split(separator: "\n").filter { $0.range(of: #"[.:=+*#%@-]{12,}"#, options: .regularExpression) != nil }
        #expect(artRows.count >= 10, "\(ascii)")
    }

    /// Issue 12: a non-square image once crashed the Preview screen. The
    /// picture (the overlay, by default) now fits a 32 × 16 box keeping the
    /// aspect ratio: 4:3 images (500 × 375, 64 × 48; the landbirds) are 32
    /// columns by 12 rows, 3:4 ones (375 × 500; the waterbirds) 24 by 16.
    @Test func previewKeepsTheAspectOfNonSquareImages() throws {
        let bundle = try NonSquareBundle.write("ui", copies: 10)
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-nonsquare-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let ui = try TmuxSession(arguments: ["ui", bundle, "--workspace", ws])
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        var seen = Set<String>()
        for className in ["landbird", "waterbird"] {
            if className == "waterbird" { try ui.send("Tab") }
            // Examples with water come first, then those without: every one is listed.
            let header = try ui.wait { $0.contains("\(className) with 'water' (") }
            let counts = try #require(header.firstMatch(of: /with 'water' \((\d+)\) and without \((\d+)\)/))
            let total = Int(counts.1)! + Int(counts.2)!
            for step in 0..<total {
                let screen = try ui.wait { $0.contains(": \(className) → predicted") }
                let lines = screen.split(separator: "\n")
                let caption = try #require(lines.first { $0.contains("→ predicted") })
                // The caption's id, not the example list's (which has no colon).
                let size = try #require(caption.firstMatch(of: /(png|jpg)-(\d+)x(\d+)-val(-\d+)?:/))
                let (w, h) = (Int(size.2)!, Int(size.3)!)
                let (columns, rows) = w > h ? (32, 12) : (24, 16)
                let art = lines.filter { $0.contains("▀") }
                #expect(art.count == rows, "\(caption)\n\(screen)")
                #expect(art.allSatisfy { $0.filter { $0 == "▀" }.count == columns }, "\(caption)\n\(screen)")
                seen.insert("\(size.1)-\(w)x\(h)")
                if step == total - 1 { break }
                try ui.send("j")
                _ = try ui.wait { !$0.contains(String(caption)) }
            }
        }
        #expect(seen == ["png-500x375", "jpg-500x375", "png-64x48", "jpg-64x48", "png-375x500", "jpg-375x500"], "\(seen)")
        try ui.send("q")
        #expect(try ui.wait(idle: false) { $0.contains("EXITED 0") }.contains("EXITED 0"))
    }

    /// Issue 22 item 6 in a real terminal: stepping through the Preview,
    /// every screen that says `ready` captions the example selected in the
    /// list (▶), under a whole picture.
    @Test func steppingThroughPreviewsKeepsCaptionPictureAndSelectionTogether() throws {
        let (ui, _) = try Self.session("preview-steps")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        var previous = ""
        for step in 0..<15 {
            let screen = try ui.wait { $0.contains("→ predicted") && !$0.contains(previous) }
            let lines = screen.split(separator: "\n")
            let caption = try #require(lines.first { $0.contains("→ predicted") })
            let id = try #require(caption.firstMatch(of: /(s\d{5}): \w+ → predicted/)?.1)
            let selected = try #require(lines.first { $0.hasPrefix("▶") })
            #expect(selected.contains(" \(id) "), "step \(step): caption \(id), list selection \(selected)\n\(screen)")
            // The sample's images are square: 16 rows of 32 half blocks.
            let art = lines.filter { $0.contains("▀") }
            #expect(art.count == 16 && art.allSatisfy { $0.filter { $0 == "▀" }.count == 32 }, "step \(step)\n\(screen)")
            previous = "\(id): "
            try ui.send("j")
        }
    }

    @Test func trainingFromTheTrainScreenAdvancesAndEndsWithABestEpoch() throws {
        let (ui, ws) = try Self.session("train")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        try ui.wait { $0.contains("Method ours-ls") }
        for _ in 0..<7 { try ui.send("-") }   // 10 → 3 epochs
        let ready = try ui.wait { $0.contains("epochs 3 ") }
        #expect(ready.contains("epochs 3 "))
        try ui.send("Enter")
        let done = try ui.wait(timeout: 60) { $0.contains("finished   elapsed") }
        #expect(done.contains("finished   elapsed") && done.contains("best epoch"), "\(done)")
        let epochRows = done.split(separator: "\n").filter { $0.range(of: #"\s[123] \d+\.\d{4}"#, options: .regularExpression) != nil }
        #expect(epochRows.count == 3, "\(done)")
        let run = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
        #expect(run.status == .finished && run.method == "ours-ls" && run.bestEpoch != nil)
    }

    /// Issue 22 item 1: `f` then Enter on screen 3 starts an official-form
    /// run (it failed for want of an absent word, with a command-line hint).
    @Test func theOfficialFormTrainsFromTheTrainScreen() throws {
        let (ui, ws) = try Self.session("train-official")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        try ui.wait { $0.contains("Method ours-ls") }
        for _ in 0..<9 { try ui.send("-") }   // 10 → 1 epoch
        try ui.send("f")
        let settings = try ui.wait { $0.contains("form official (f)") && $0.contains("epochs 1 ") }
        #expect(settings.contains("absent water: 'without water' (e)") && settings.contains("as the authors' code has them"), "\(settings)")
        try ui.send("Enter")
        let done = try ui.wait(timeout: 60) { $0.contains("finished   elapsed") }
        #expect(!done.contains("absentWords") && !done.contains("=WORD"), "\(done)")
        let run = try #require(try Workspace(path: ws + "/workspace.sqlite").run(1))
        #expect(run.status == .finished && run.method == "ours-ls")
        #expect(run.config.contains("\"lossForm\":\"official\"") && run.config.contains("without water"), "\(run.config)")
    }

    @Test func aRunStartedFromTheCLIIsFollowedLive() throws {
        let (ui, ws) = try Self.session("follow")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("3")
        try ui.wait { $0.contains("Method ours-ls") }
        let p = Process()
        p.executableURL = CLIRunner.executable
        p.arguments = ["train", try SampleData.bundle(), "--workspace", ws, "--method", "erm", "--epochs", "300", "--batch-size", "8", "--json"]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        // SIGKILL: the test runner's blocked signals are inherited, SIGTERM may not stop it.
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) }; p.waitUntilExit() }
        let epochRow = #"\s+[0-9]+ +[0-9]+\.[0-9]{4} +[0-9.]+%"#
        let live = try ui.wait(timeout: 30, idle: false) {
            $0.contains("following run 1 (erm) from another process") && $0.range(of: epochRow, options: .regularExpression) != nil
        }
        #expect(live.contains("following run 1 (erm)") && live.range(of: epochRow, options: .regularExpression) != nil, "\(live)")
    }

    @Test func groupsScreenNamesTheWorstGroup() throws {
        let (ui, _) = try Self.session("groups")
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("4")
        let screen = try ui.wait { $0.contains("← worst") }
        let worst = try #require(screen.split(separator: "\n").first { $0.contains("← worst") })
        // The pre-trained model's worst group is a minority group: a bird on the other class's background.
        #expect(worst.contains("landbird, water") || worst.contains("waterbird, no water"), "\(screen)")
        try ui.send("Down", "Down", "Enter")
        let browse = try ui.wait { $0.contains("misclassified: A ") && $0.contains("A pre-trained →") }
        #expect(browse.contains("waterbird, no water: 300 test examples"), "\(browse)")
    }

    @Test func resizeKeepsASaneScreenAndQRestoresTheTerminal() throws {
        let (ui, _) = try Self.session("resize")
        try ui.wait { $0.contains("Class landbird") }
        try ui.resize(60, 20)
        let small = try ui.wait { $0.contains("1 Attributes") && $0.split(separator: "\n").count <= 20 }
        #expect(small.contains("Class landbird") && small.contains("ready"), "\(small)")
        try ui.resize(40, 12)
        #expect(try ui.wait(idle: false) { $0.contains("Terminal too small") }.contains("needs at least 50×15"))
        try ui.resize(120, 40)
        #expect(try ui.wait { $0.contains("95% CI") }.contains("4 Groups"))
        try ui.send("?")
        #expect(try ui.wait { $0.contains("any other key closes") }.contains("mark the attribute spurious for this class"))
        try ui.send("Escape", "q")
        let end = try ui.wait(idle: false) { $0.contains("EXITED") }
        #expect(end.contains("EXITED 0") && !end.contains("1 Attributes"))
    }
}

struct UIOptionTests {
    @Test func badThemeIsNamedBeforeTheTerminalIsTouched() throws {
        let bundle = try SampleData.bundle()
        let r = try CLIRunner.run(["ui", bundle, "--theme", "nope"])
        #expect(r.status == 2 && r.stderr.contains("--theme: 'nope' is not a theme"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bad-\(getpid()).toml").path
        try "[roles]\ntext = { fg = \"red\" }\n".write(toFile: file, atomically: true, encoding: .utf8)
        let bad = try CLIRunner.run(["ui", bundle, "--theme", file])
        #expect(bad.status == 2 && bad.stderr == "error: \(file): roles.text.fg: 'red' is not a colour (expected \"default\" or \"#rrggbb\")\n")
        // Without a terminal the UI refuses cleanly instead of drawing garbage.
        let noTTY = try CLIRunner.run(["ui", bundle, "--theme", "light"])
        #expect(noTTY.status == 2 && noTTY.stderr.contains("needs an interactive terminal"))
    }

    @Test func lightThemeRunsInTmux() throws {
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-light-\(getpid())").path
        let ui = try TmuxSession(arguments: ["ui", try SampleData.bundle(), "--workspace", ws, "--theme", "high-contrast"])
        #expect(try ui.wait { $0.contains("Class landbird") }.contains("1 Attributes"))
    }
}
