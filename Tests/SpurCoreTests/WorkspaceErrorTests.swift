import Foundation
import Testing
@testable import SpurCore

/// Issue 12, items 7 and 8: a full disk and a read-only workspace are said
/// in those words, naming the file, instead of "SQL failed: disk I/O error".
struct WorkspaceErrorTests {
    static func directory(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wserr-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// SQLITE_FULL for real: the database may not grow past its current
    /// pages (`max_page_count`), as when the disk has no free block left.
    @Test func aFullDatabaseSaysTheDiskIsFull() throws {
        let ws = try Workspace(path: Self.directory("full") + "/" + Workspace.fileName)
        let pages = try #require(try ws.db.prepare("PRAGMA page_count").rows().first?.first?.int)
        try ws.db.execute("PRAGMA max_page_count = \(pages)")
        var failure: String?
        for i in 0..<50 {
            do { _ = try ws.record(className: "landbird", attribute: "water", verdict: .spurious, note: String(repeating: "x", count: 4000 + i)) }
            catch { failure = "\(error)"; break }
        }
        let message = try #require(failure, "the database grew past max_page_count")
        #expect(message.hasPrefix(ws.path + ": the disk is full"), "\(message)")
        #expect(!message.contains("SQL failed"))
    }

    /// An I/O error whose system cause is ENOSPC (what a full disk gives in WAL mode).
    @Test func anIOErrorFromENOSPCSaysTheDiskIsFull() {
        let e = SQLiteDatabase.failure(path: "/d/workspace.sqlite", what: "SQL failed", message: "disk I/O error",
                                       code: 10 | (4 << 8) /* SQLITE_IOERR_WRITE */, systemErrno: ENOSPC, readOnly: false)
        #expect(e.file == "/d/workspace.sqlite" && e.problem.hasPrefix("the disk is full") && e.problem.contains("--workspace DIR"))
        let other = SQLiteDatabase.failure(path: "/d/w", what: "SQL failed", message: "disk I/O error", code: 10, systemErrno: EIO, readOnly: false)
        #expect(other.problem == "SQL failed: disk I/O error")
        let ro = SQLiteDatabase.failure(path: "/d/w", what: "SQL failed", message: "attempt to write a readonly database",
                                        code: 8, systemErrno: 0, readOnly: false)
        #expect(ro.problem.contains("read-only") && ro.problem.contains("--workspace DIR"))
    }

    @Test func checkpointWritesSayTheDiskIsFull() {
        #expect(AtomicFile.describe(errno: ENOSPC).hasPrefix("the disk is full"))
        #expect(AtomicFile.describe(errno: EIO) == String(cString: strerror(EIO)))
    }
}
