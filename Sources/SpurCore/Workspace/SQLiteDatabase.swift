import CSQLite
import Foundation

/// A thin, owned handle on one SQLite connection: prepared statements,
/// transactions, and errors that name the database file.
public final class SQLiteDatabase: @unchecked Sendable {
    // @unchecked: opened with SQLITE_OPEN_FULLMUTEX, so SQLite serialises use.
    public let path: String
    /// Opened read-only: the file or its directory cannot be written.
    public let readOnly: Bool
    /// Opened by a command that only reads (`decisions`, `detect`, …): it
    /// never takes the write lock, so a writer elsewhere does not hold it up.
    public let readingOnly: Bool
    private var handle: OpaquePointer?
    /// SQLite serialises single calls, not a BEGIN … COMMIT: threads sharing
    /// the connection (the UI and its training engine) take turns here.
    private let transactionLock = NSRecursiveLock()

    /// Opens read-write (creating the file), or read-only when the file or
    /// its directory is not writable (a read-only bundle with a workspace):
    /// reading still works, and a write says the workspace is read-only.
    public init(path: String, readingOnly: Bool = false) throws {
        self.path = path
        self.readingOnly = readingOnly
        let fm = FileManager.default
        let dir = (path as NSString).deletingLastPathComponent
        let exists = fm.fileExists(atPath: path)
        // SQLite's open of a FIFO waits for a writer forever; a directory or
        // device is no database either.
        if exists { close(try RegularFile.open(path, limit: Int.max).fd) }
        let writable = Self.canCreateFiles(in: dir.isEmpty ? "." : dir) && (!exists || Self.canOpenForWriting(path))
        readOnly = exists && !writable
        var db: OpaquePointer?
        var rc: Int32
        if readOnly {
            // WAL needs the -shm file; where it cannot be created and no
            // -wal is left to replay, the file is opened immutable (nothing
            // else can be changing it: the directory is read-only).
            let wal = fm.fileExists(atPath: path + "-wal") && ((try? fm.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0) > 0
            let uri = URL(fileURLWithPath: path).absoluteString + (wal ? "?mode=ro" : "?immutable=1")
            rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_FULLMUTEX, nil)
        } else if readingOnly && exists {
            // A read-only connection to a writable WAL database reads the
            // last commit while another connection writes.
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nil)
        } else {
            rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        }
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            let os = db.map { sqlite3_system_errno($0) } ?? 0
            sqlite3_close(db)
            throw Self.failure(path: path, what: "cannot open the workspace database", message: message, code: rc, systemErrno: os,
                               readOnly: readOnly, readingOnly: readingOnly)
        }
        handle = db
        // Another process may hold the write lock for a moment (the UI and a
        // CLI run in two terminals): wait instead of failing.
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit { sqlite3_close_v2(handle) }

    /// How long a statement waits for another connection's lock.
    public func setBusyTimeout(milliseconds: Int32) { sqlite3_busy_timeout(handle, milliseconds) }

    /// Whether a file can be created in `dir` (tried, not `access()`: root
    /// passes `access()` on a read-only file system).
    static func canCreateFiles(in dir: String) -> Bool {
        // Unique per call: two threads of one process may open workspaces at once.
        let probe = (dir as NSString).appendingPathComponent(".write-probe-\(getpid())-\(UUID().uuidString)")
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { return errno == EEXIST }
        close(fd)
        unlink(probe)
        return true
    }

    static func canOpenForWriting(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    func error(_ what: String) -> InputError {
        Self.failure(path: path, what: what, message: String(cString: sqlite3_errmsg(handle)), code: sqlite3_extended_errcode(handle),
                     systemErrno: sqlite3_system_errno(handle), readOnly: readOnly, readingOnly: readingOnly)
    }

    /// The error of a failed SQLite call in the user's terms: a full disk
    /// and a read-only workspace say so and what to do, naming the file.
    static func failure(path: String, what: String, message: String, code: Int32, systemErrno: Int32, readOnly: Bool,
                        readingOnly: Bool = false) -> InputError {
        let primary = code & 0xFF
        if primary == SQLITE_FULL || systemErrno == ENOSPC || systemErrno == EDQUOT {
            let dir = (path as NSString).deletingLastPathComponent
            return InputError(file: path, "the disk is full: cannot write the workspace database (or its -wal journal) in \(dir) (\(message)); free some space, or keep the workspace on another disk with --workspace DIR")
        }
        if readingOnly && (primary == SQLITE_READONLY || readOnly || systemErrno == EROFS) {
            // This command does not write: say what failed, not that it writes.
            return InputError(file: path, "the workspace is read-only and cannot be read here (\(message)): open it once where it can be written, or use another with --workspace DIR")
        }
        if primary == SQLITE_READONLY || readOnly || systemErrno == EROFS {
            return InputError(file: path, "the workspace is read-only (\(message)); this command writes to it: keep the workspace in a writable directory with --workspace DIR")
        }
        return InputError(file: path, "\(what): \(message)")
    }

    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            throw Self.failure(path: path, what: "SQL failed", message: text, code: sqlite3_extended_errcode(handle),
                               systemErrno: sqlite3_system_errno(handle), readOnly: readOnly, readingOnly: readingOnly)
        }
    }

    public func prepare(_ sql: String) throws -> Statement {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            throw error("cannot prepare statement")
        }
        return Statement(stmt, database: self)
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction: committed when it
    /// returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        transactionLock.lock()
        defer { transactionLock.unlock() }
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// One prepared statement; finalised when released.
    public final class Statement {
        private let stmt: OpaquePointer
        private let database: SQLiteDatabase

        init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
            self.stmt = stmt
            self.database = database
        }

        deinit { sqlite3_finalize(stmt) }

        public enum Value: Equatable, Sendable {
            case null, int(Int64), double(Double), text(String)
        }

        @discardableResult
        public func bind(_ values: [Value]) throws -> Statement {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
            for (i, v) in values.enumerated() {
                let index = Int32(i + 1)
                let rc: Int32
                switch v {
                case .null: rc = sqlite3_bind_null(stmt, index)
                case .int(let x): rc = sqlite3_bind_int64(stmt, index, x)
                case .double(let x): rc = sqlite3_bind_double(stmt, index, x)
                case .text(let s): rc = sqlite3_bind_text(stmt, index, s, -1, spur_sqlite_transient())
                }
                if rc != SQLITE_OK { throw database.error("cannot bind parameter \(i + 1)") }
            }
            return self
        }

        /// Runs a statement that returns no rows.
        public func run(_ values: [Value] = []) throws {
            try bind(values)
            let rc = sqlite3_step(stmt)
            guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw database.error("statement failed") }
            sqlite3_reset(stmt)
        }

        /// Every row, as arrays of values.
        public func rows(_ values: [Value] = []) throws -> [[Value]] {
            try bind(values)
            var out: [[Value]] = []
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_DONE { break }
                guard rc == SQLITE_ROW else { throw database.error("query failed") }
                out.append((0..<sqlite3_column_count(stmt)).map { column($0) })
            }
            sqlite3_reset(stmt)
            return out
        }

        private func column(_ i: Int32) -> Value {
            switch sqlite3_column_type(stmt, i) {
            case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
            case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
            case SQLITE_NULL: return .null
            default: return .text(String(cString: sqlite3_column_text(stmt, i)))
            }
        }
    }
}

extension SQLiteDatabase.Statement.Value {
    public var text: String? { if case .text(let s) = self { return s }; return nil }
    public var int: Int64? { if case .int(let x) = self { return x }; return nil }
    public var double: Double? {
        switch self { case .double(let x): return x; case .int(let x): return Double(x); default: return nil }
    }
}
