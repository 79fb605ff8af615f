import Foundation
import Testing
import SpurCore

func temporaryWorkspace(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ws-train-\(name)-\(getpid())").path
    try? FileManager.default.removeItem(atPath: dir)
    return dir
}

func jsonLines(_ text: String) -> [[String: Any]] {
    text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
}

struct TrainCommandTests {
    /// Every method trains from the CLI on the default bundle and reports
    /// per-epoch JSON and a summary with the best epoch.
    @Test(arguments: ["zeroshot", "clip-ft", "erm", "groupdro", "ours-ls", "ours-vs", "sfr", "starft"])
    func methodTrains(_ method: String) throws {
        let ws = temporaryWorkspace(method)
        let r = try CLIRunner.run(["train", try SampleData.bundle(), "--method", method, "--attribute", "water",
                                   "--epochs", "2", "--workspace", ws, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = jsonLines(r.stdout)
        let epochs = lines.filter { $0["event"] as? String == "epoch" }
        #expect(epochs.count == (method == "zeroshot" ? 1 : 2))
        let summary = try #require(lines.last)
        #expect(summary["event"] as? String == "summary" && summary["status"] as? String == "finished")
        let best = try #require(summary["best_epoch"] as? Int)
        let validation = try #require(summary["validation"] as? [String: Double])
        let bestLine = try #require(epochs.first { $0["epoch"] as? Int == best })
        #expect(bestLine["val_worst_group"] as? Double == validation["worst_group"])
        #expect(FileManager.default.fileExists(atPath: ws + "/runs/1/best.safetensors"))
        // The epochs are in the workspace for other processes.
        #expect(try Workspace(path: ws + "/workspace.sqlite").epochs(run: 1).count == epochs.count)
    }

    @Test func sameSeedSameRunDifferentSeedDifferentRun() throws {
        let ws = temporaryWorkspace("seed")
        let bundle = try SampleData.bundle()
        func run(_ seed: String) throws -> Double {
            let r = try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "2", "--seed", seed, "--lr", "0.01",
                                       "--workspace", ws, "--json"])
            return try #require(jsonLines(r.stdout).last?["validation"] as? [String: Double])["average"]!
        }
        let a = try run("1"), b = try run("1"), c = try run("2")
        #expect(a == b)
        let wa = try SafetensorsFile(path: ws + "/runs/1/best.safetensors").floats("W_v")
        let wb = try SafetensorsFile(path: ws + "/runs/2/best.safetensors").floats("W_v")
        let wc = try SafetensorsFile(path: ws + "/runs/3/best.safetensors").floats("W_v")
        #expect(wa == wb && wa != wc)
        _ = c
    }

    @Test func badOptionsAreNamed() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("bad")
        let m = try CLIRunner.run(["train", bundle, "--method", "magic", "--workspace", ws])
        #expect(m.status == 2 && m.stderr.contains("The value 'magic' is invalid for '--method <method>'") && m.stderr.contains("orth-proj"))
        // No attribute marked or given: the engine's default, the bundle's benchmark groups, with a note.
        let a = try CLIRunner.run(["train", bundle, "--method", "ours-ls", "--epochs", "1", "--workspace", ws, "--json"])
        #expect(a.status == 0 && a.stderr.contains("no attribute is marked spurious; ours-ls uses the bundle's benchmark groups (water)"), "\(a.stderr)")
        let wrong = try CLIRunner.run(["train", bundle, "--method", "ours-ls", "--attribute", "unicorn", "--workspace", ws])
        #expect(wrong.status == 2 && wrong.stderr.contains("--attribute: 'unicorn' is not in the attribute vocabulary"), "\(wrong.stderr)")
        let e = try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "0", "--workspace", ws])
        #expect(e.status == 2 && e.stderr.contains("--epochs: is 0"))
    }

    /// A run killed with SIGKILL mid-training resumes from its last
    /// checkpoint and ends with the same best checkpoint as a run that was
    /// never interrupted.
    @Test func killedRunResumesToTheSameBestCheckpoint() throws {
        let bundle = try SampleData.bundle()
        let args = ["--method", "groupdro", "--attribute", "water", "--epochs", "8", "--batch-size", "4", "--lr", "0.01", "--json"]
        let whole = temporaryWorkspace("whole"), killed = temporaryWorkspace("killed")
        let reference = try CLIRunner.run(["train", bundle, "--workspace", whole] + args)
        #expect(reference.status == 0)

        let p = Process()
        p.executableURL = CLIRunner.executable
        p.arguments = ["train", bundle, "--workspace", killed] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var text = ""
        while jsonLines(text).filter({ $0["event"] as? String == "epoch" }).count < 3 {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let record = try #require(try Workspace(path: killed + "/workspace.sqlite").run(1))
        #expect(record.status == .running, "the run was killed before it finished")
        // Its best checkpoint so far can be evaluated, with a note that it never finished.
        let early = try CLIRunner.run(["eval", bundle, "--run", "1", "--workspace", killed, "--no-aiou"])
        #expect(early.status == 0 && early.stderr.contains("note: run 1 never finished (interrupted?)"), "\(early.stderr)")

        let resumed = try CLIRunner.run(["train", bundle, "--workspace", killed, "--resume", "1", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let epochs = jsonLines(resumed.stdout).filter { $0["event"] as? String == "epoch" }.compactMap { $0["epoch"] as? Int }
        #expect((epochs.first ?? 0) >= 4 && epochs.last == 8, "resumed epochs \(epochs)")
        let a = jsonLines(reference.stdout).last!, b = jsonLines(resumed.stdout).last!
        #expect(a["best_epoch"] as? Int == b["best_epoch"] as? Int)
        #expect(a["validation"] as? [String: Double] == b["validation"] as? [String: Double])
        for name in ["W_v", "W_t", "logit_scale"] {
            #expect(try SafetensorsFile(path: whole + "/runs/1/best.safetensors").floats(name)
                    == SafetensorsFile(path: killed + "/runs/1/best.safetensors").floats(name), "\(name) differs")
        }
        let again = try CLIRunner.run(["train", bundle, "--workspace", killed, "--resume", "1"])
        #expect(again.status == 2 && again.stderr.contains("run 1 has already finished"))
    }
}

struct EvalCompareCamTests {
    @Test func evalPrintsTheGroupTableOfARun() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("eval")
        #expect(try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "1", "--workspace", ws]).status == 0)
        let r = try CLIRunner.run(["eval", bundle, "--run", "1", "--workspace", ws, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(o["attributes"] as? [String] == ["water"] && o["groups_from"] as? String == "ground truth")
        let groups = try #require(o["groups"] as? [[String: Any]])
        #expect(groups.map { $0["group"] as! String } == ["landbird, no water", "landbird, water", "waterbird, no water", "waterbird, water"])
        #expect(groups.allSatisfy { $0["n"] as? Int == 300 })
        let worst = groups.map { $0["accuracy"] as! Double }.min()!
        #expect(o["worst_group"] as? Double == worst)
        #expect((o["aiou_average"] as? Double).map { $0 > 0 && $0 < 1 } == true)
        let z = try CLIRunner.run(["eval", bundle, "--zeroshot", "--split", "val", "--no-aiou"])
        #expect(z.status == 0 && z.stdout.contains("pre-trained (zero-shot) on val: groups by water (ground truth)"))
        let both = try CLIRunner.run(["eval", bundle, "--zeroshot", "--run", "1", "--workspace", ws])
        #expect(both.status == 2 && both.stderr.contains("exactly one of --run RUN and --zeroshot"))
    }

    @Test func compareReusesRunsAndPrintsMarkdown() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("compare")
        let args = ["compare", bundle, "--workspace", ws, "--methods", "zeroshot,erm", "--epochs", "1", "--attribute", "water"]
        let first = try CLIRunner.run(args)
        #expect(first.status == 0, "\(first.stderr)")
        let lines = first.stdout.split(separator: "\n")
        #expect(lines[0] == "| Method | Run | Avg. acc. (adjusted) | Worst-group acc. | Avg. AIoU | Worst-group AIoU |")
        #expect(lines.count == 4 && lines[2].hasPrefix("| zeroshot | 1 |") && lines[3].hasPrefix("| erm | 2 |"))
        let second = try CLIRunner.run(args)
        #expect(second.stdout == first.stdout && second.stderr.contains("erm: reusing run 2"))
    }

    @Test func camDrawsHalfBlocksOrASCII() throws {
        let bundle = try SampleData.bundle()
        let colour = try CLIRunner.run(["cam", bundle, "--example", "s00007", "--width", "16"])
        #expect(colour.status == 0, "\(colour.stderr)")
        let rows = colour.stdout.split(separator: "\n")
        #expect(rows[0].hasPrefix("s00007: landbird"))
        #expect(rows.count == 1 + 8 && rows[1].contains("▀") && rows[1].contains("\u{1B}[38;5;"))
        let truecolor = try CLIRunner.run(["cam", bundle, "--example", "s00007", "--width", "16"], environment: ["COLORTERM": "truecolor"])
        #expect(truecolor.stdout.split(separator: "\n")[1].contains("\u{1B}[38;2;"))
        for run in [try CLIRunner.run(["cam", bundle, "--example", "s00007", "--width", "16", "--ascii"]),
                    try CLIRunner.run(["cam", bundle, "--example", "s00007", "--width", "16"], environment: ["NO_COLOR": "1"])] {
            let art = run.stdout.split(separator: "\n").dropFirst()
            #expect(art.count == 8 && art.allSatisfy { $0.count == 34 && !$0.contains("\u{1B}") })
        }
        let missing = try CLIRunner.run(["cam", bundle, "--example", "nope"])
        #expect(missing.status == 2 && missing.stderr.contains("'nope' is not an example id"))
    }
}

/// Issue 24: what can be checked before training is refused before a run is
/// recorded. orth-proj's phrases are encoded when the run is prepared: a
/// bundle whose prompt table lacks them (and records no checkpoint to encode
/// them with) gets the error and no failed run.
@Test func aPhraseNoEncoderCanGiveLeavesNoFailedRun() throws {
    let bundle = try NonSquareBundle.write("no-phrase") { c in c.manifest.textEncoder = "an-exported-model" }
    let ws = FileManager.default.temporaryDirectory.appendingPathComponent("no-phrase-ws-\(getpid())").path
    try? FileManager.default.removeItem(atPath: ws)
    let mark = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "landbird", "--attribute", "water",
                                  "--verdict", "spurious", "--phrase-present", "on a misty lake"])
    #expect(mark.status == 0, "\(mark.stderr)")
    for method in ["orth-proj", "ours-ls"] {
        let r = try CLIRunner.run(["train", bundle, "--workspace", ws, "--method", method, "--epochs", "1"])
        #expect(r.status == 2, "\(method): \(r.stdout)")
        #expect(r.stderr.contains("on a misty lake"), "\(method): \(r.stderr)")
    }
    #expect(try Workspace(path: ws + "/workspace.sqlite").runs().isEmpty)
}
