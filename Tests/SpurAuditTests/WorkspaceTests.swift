import Foundation
import Testing
@testable import SpurCore

struct WorkspaceTests {
    static func fresh(_ name: String) throws -> Workspace {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ws-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        return try Workspace(path: dir + "/" + Workspace.fileName)
    }

    @Test func verdictsKeepHistoryAndCarryPhrasesOver() throws {
        let ws = try Self.fresh("history")
        #expect(ws.version == Workspace.schemaVersion)
        let first = try ws.record(className: "waterbird", attribute: "land", verdict: .spurious, note: "background")
        #expect(first.previousVerdict == nil && first.phrasePresent == "with land" && first.phraseAbsent == "without land")
        let second = try ws.record(className: "waterbird", attribute: "land", verdict: .healthy, phrasePresent: "on land")
        #expect(second.previousVerdict == .spurious)
        #expect(second.note == "background" && second.phrasePresent == "on land" && second.phraseAbsent == "without land")
        try ws.record(className: "landbird", attribute: "water", verdict: .undecided)
        let current = try ws.currentDecisions()
        #expect(current.map { "\($0.className)/\($0.attribute)/\($0.verdict)" } == ["landbird/water/undecided", "waterbird/land/healthy"])
        #expect(try ws.history().map(\.verdict) == [.spurious, .healthy, .undecided])
        #expect(try ws.current(className: "waterbird", attribute: "sky") == nil)
    }

    @Test func reopeningKeepsDataAndSchema() throws {
        let ws = try Self.fresh("reopen")
        try ws.record(className: "a", attribute: "b", verdict: .spurious, note: "it's \"quoted\", with commas")
        let again = try Workspace(path: ws.path)
        #expect(again.version == Workspace.schemaVersion)
        #expect(try again.currentDecisions().first?.note == "it's \"quoted\", with commas")
    }

    @Test func newerSchemaIsRefused() throws {
        let ws = try Self.fresh("future")
        try SQLiteDatabase(path: ws.path).execute("PRAGMA user_version = 99")
        #expect(throws: InputError(file: ws.path, "schema version 99 is newer than this spurscope understands (3); update spurscope")) {
            try Workspace(path: ws.path)
        }
    }

    /// A run remembers its owner (pid and start time): a live owner keeps it
    /// running, a dead one or a reused pid makes it interrupted.
    @Test func runsOwnedByAGoneProcessAreInterrupted() throws {
        let ws = try Self.fresh("owner")
        let mine = try ws.createRun(method: "erm", config: "{}", pid: Int(getpid()))
        let record = try #require(try ws.run(mine))
        #expect(record.ownerStarted == ProcessIdentity.startTime(pid: Int(getpid())) && record.ownerStarted != nil)
        #expect(!record.isInterrupted)
        // A child that has exited: its pid names no process.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = try ws.createRun(method: "erm", config: "{}", pid: Int(child.processIdentifier))
        #expect(try #require(try ws.run(dead)).isInterrupted)
        // Our pid with another start time: the pid was reused by someone else.
        var reused = record
        reused.ownerStarted = (record.ownerStarted ?? 0) + 1
        #expect(reused.isInterrupted)
        // Finished runs are never interrupted.
        try ws.updateRun(dead, status: .finished)
        #expect(!(try #require(try ws.run(dead)).isInterrupted))
    }

    /// A version-2 workspace (before owner start times) opens and gains the column.
    @Test func versionTwoWorkspaceMigrates() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ws-v2-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/" + Workspace.fileName
        let db = try SQLiteDatabase(path: path)
        for m in Workspace.migrations.prefix(2) { try db.execute(m) }
        try db.execute("PRAGMA user_version = 2")
        try db.execute("INSERT INTO runs (method, config, status, created_at, updated_at, pid) VALUES ('erm', '{}', 'running', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 1)")
        let ws = try Workspace(path: path)
        #expect(ws.version == 3)
        let run = try #require(try ws.run(1))
        #expect(run.pid == 1 && run.ownerStarted == nil)
    }

    /// The UI records verdicts while its engine thread records epochs on the
    /// same connection: concurrent transactions must not nest.
    @Test func transactionsFromTwoThreadsTakeTurns() throws {
        let ws = try Self.fresh("threads")
        let run = try ws.createRun(method: "erm", config: "{}")
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 2) { k in
            for i in 0..<200 {
                do {
                    if k == 0 { try ws.record(className: "c", attribute: "a\(i)", verdict: .spurious) }
                    else { try ws.recordEpoch(run: run, epoch: i, step: i, trainLoss: 1, metrics: "{}") }
                } catch { failures.add("\(error)") }
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all.prefix(3))")
        #expect(try ws.currentDecisions().count == 200 && ws.epochs(run: run).count == 200)
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [String] = []
    func add(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return list }
}
