import Foundation
import Testing
import SpurCore

struct DetectCommandTests {
    static func detect(_ extra: [String]) throws -> [String: [String: Any]] {
        let r = try CLIRunner.run(["detect", try SampleData.bundle(), "--json", "--top", "0"] + extra)
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        var byClass: [String: [String: Any]] = [:]
        for c in o["classes"] as! [[String: Any]] { byClass[c["class"] as! String] = c }
        return byClass
    }

    static func attributes(_ c: [String: Any]) -> [(name: String, delta: Double)] {
        (c["attributes"] as! [[String: Any]]).map { ($0["attribute"] as! String, $0["delta"] as! Double) }
    }

    /// On the synthetic default the background is what the pre-trained model
    /// leans on: it tops every class's ranking, far ahead of the sky. Clouds
    /// and sun appear at the same rate for every class and background, so
    /// whatever δ they have is the model's own (it takes white blobs in the
    /// sky as a little watery), not the data's; it stays a small fraction of
    /// the background's.
    @Test func backgroundRanksFirstFarAheadOfTheSky() throws {
        let byClass = try Self.detect([])
        for name in ["landbird", "waterbird"] {
            let rows = Self.attributes(byClass[name]!)
            #expect(Set(rows.prefix(2).map(\.name)) == ["water", "land"], "\(name): \(rows)")
            #expect(abs(rows[0].delta) > 0.2)
            for sky in ["cloud", "sun"] {
                let row = try #require(rows.first { $0.name == sky })
                #expect(abs(row.delta) < abs(rows[1].delta) / 3, "\(name) \(sky) δ \(row.delta) vs \(rows[1])")
            }
        }
        // Ordered by harm (smallest δ first): land for waterbirds, water for landbirds.
        let harm = try Self.detect(["--sort", "harm"])
        #expect(Self.attributes(harm["waterbird"]!).first?.name == "land")
        #expect(Self.attributes(harm["landbird"]!).first?.name == "water")
        #expect(Self.attributes(harm["waterbird"]!).first!.delta < -0.3)
    }

    @Test func badOptionsAreNamed() throws {
        let dir = try SampleData.bundle()
        let r = try CLIRunner.run(["detect", dir, "--class", "heron"])
        #expect(r.status == 2 && r.stderr == "error: --class: 'heron' is not a class of \(dir) (classes: landbird, waterbird)\n")
        let s = try CLIRunner.run(["detect", dir, "--split", "holdout"])
        #expect(s.status == 2 && s.stderr.contains("'holdout' is not train, val, test or all"))
    }
}

struct DecisionCommandTests {
    static func workspace(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ws-cli-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    @Test func aVerdictWrittenByOneProcessIsReadByAnother() throws {
        let bundle = try SampleData.bundle(), ws = Self.workspace("mark")
        let m = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "waterbird", "--attribute", "land",
                                   "--verdict", "spurious", "--note", "background, not the bird"])
        #expect(m.status == 0 && m.stdout == "waterbird / land: undecided → spurious\n", "\(m.stderr)")
        let d = try CLIRunner.run(["decisions", bundle, "--workspace", ws, "--json"])
        let o = try #require(JSONSerialization.jsonObject(with: Data(d.stdout.utf8)) as? [String: Any])
        let decisions = o["decisions"] as! [[String: Any]]
        #expect(decisions.count == 1)
        #expect(decisions[0]["verdict"] as? String == "spurious" && decisions[0]["note"] as? String == "background, not the bird")
        #expect(decisions[0]["phrase_present"] as? String == "with land")
        // The detect table shows it.
        let t = try CLIRunner.run(["detect", bundle, "--workspace", ws, "--class", "waterbird", "--csv"])
        #expect(t.stdout.split(separator: "\n").contains { $0.hasPrefix("waterbird,land,") && $0.hasSuffix(",spurious") })
        // Bad verdicts and unknown attributes are refused, and nothing is written.
        let bad = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "waterbird", "--attribute", "kayak", "--verdict", "spurious"])
        #expect(bad.status == 2 && bad.stderr.contains("'kayak' is not in the attribute vocabulary"))
        let badVerdict = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "waterbird", "--attribute", "land", "--verdict", "maybe"])
        #expect(badVerdict.status == 2)
        #expect(try Workspace(path: ws + "/workspace.sqlite").history().count == 1)
    }

    /// SIGKILL in the middle of a burst of writes: every verdict the writer
    /// acknowledged is there afterwards, and the database is sound.
    @Test func killedWriterLosesNothingItAcknowledged() throws {
        let ws = Self.workspace("kill")
        try FileManager.default.createDirectory(atPath: ws, withIntermediateDirectories: true)
        let db = ws + "/workspace.sqlite"
        _ = try Workspace(path: db)
        let p = Process()
        p.executableURL = CLIRunner.executable
        p.arguments = ["bench-probe", "mark-burst", db]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        var text = ""
        var acked = -1
        while acked < 300 {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let last = text.split(separator: "\n").last(where: { $0.hasPrefix("ack ") }).flatMap({ Int($0.dropFirst(4)) }) {
                acked = last
            }
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)
        // Only whole lines are acknowledgements.
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        let lastAck = lines.compactMap { $0.hasPrefix("ack ") ? Int($0.dropFirst(4)) : nil }.max() ?? -1
        #expect(lastAck >= 300)
        let history = try Workspace(path: db).history()
        #expect(history.count >= lastAck + 1)
        let notes = Set(history.map(\.note))
        for i in 0...lastAck { #expect(notes.contains("burst \(i)"), "acknowledged verdict \(i) is missing") }
        let check = try SQLiteDatabase(path: db).prepare("PRAGMA integrity_check").rows()
        #expect(check.first?.first?.text == "ok")
    }
}
