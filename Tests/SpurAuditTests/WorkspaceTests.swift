import Foundation
import Testing
import SpurCore

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
        #expect(throws: InputError(file: ws.path, "schema version 99 is newer than this spurscope understands (2); update spurscope")) {
            try Workspace(path: ws.path)
        }
    }
}
