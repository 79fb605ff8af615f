import Foundation

/// A person's verdict on one (class, attribute) pair.
public enum Verdict: String, CaseIterable, Sendable, Codable {
    case spurious, healthy, undecided
}

/// One recorded decision. Every change is a new row, so the history of a
/// pair is kept; the current decision is the latest row.
public struct Decision: Equatable, Sendable {
    public var id: Int64
    public var className: String
    public var attribute: String
    public var verdict: Verdict
    public var previousVerdict: Verdict?
    /// The phrases `L_ls` puts after the class name: "{class} {phrasePresent}".
    public var phrasePresent: String
    public var phraseAbsent: String
    public var note: String
    public var time: Date

    /// The attributes marked spurious among `decisions`, each once, oldest mark first.
    public static func spuriousAttributes(_ decisions: [Decision]) -> [String] {
        var seen = Set<String>()
        return decisions.filter { $0.verdict == .spurious }.sorted { $0.id < $1.id }
            .map(\.attribute).filter { seen.insert($0).inserted }
    }

    /// The key of a (class, attribute) pair in maps of decisions: one
    /// spelling everywhere (class names may contain spaces, not U+0001).
    public static func key(className: String, attribute: String) -> String { "\(className)\u{1}\(attribute)" }
    public var key: String { Self.key(className: className, attribute: attribute) }

    public static func defaultPhrases(_ attribute: String) -> (present: String, absent: String) {
        ("with \(attribute)", "without \(attribute)")
    }
}

/// The per-bundle store of decisions, runs and per-epoch metrics: SQLite in
/// WAL mode, so the UI in one terminal reads what the CLI in another writes,
/// and a writer killed with SIGKILL loses nothing it acknowledged.
public final class Workspace: @unchecked Sendable {
    // @unchecked: the connection is opened SQLITE_OPEN_FULLMUTEX (serialised),
    // and every multi-statement change runs in one transaction.
    public static let fileName = "workspace.sqlite"
    public static let schemaVersion = 3

    public let path: String
    let db: SQLiteDatabase

    /// `BUNDLE/.spurscope/workspace.sqlite`, or `directory/workspace.sqlite`
    /// when the bundle is read-only and the user points elsewhere.
    public static func location(bundle: String, directory: String?) -> String {
        let dir = directory ?? (bundle as NSString).appendingPathComponent(".spurscope")
        return (dir as NSString).appendingPathComponent(fileName)
    }

    public convenience init(bundle: String, directory: String? = nil, readingOnly: Bool = false) throws {
        try self.init(path: Self.location(bundle: bundle, directory: directory), readingOnly: readingOnly)
    }

    /// `readingOnly`: for commands that only read (`decisions`, `detect`,
    /// `eval`, `cam`): an existing workspace of the current schema is
    /// opened read-only, with no write, pragma change or migration, so it is
    /// read while another process holds a write transaction. Only an
    /// out-of-date schema is migrated first (once, with the write lock).
    public init(path: String, readingOnly: Bool = false) throws {
        self.path = path
        if readingOnly && FileManager.default.fileExists(atPath: path) {
            let reader = try SQLiteDatabase(path: path, readingOnly: true)
            let version = Int(try reader.prepare("PRAGMA user_version").rows().first?.first?.int ?? 0)
            if version == Self.migrations.count || reader.readOnly {
                db = reader
                guard version == Self.migrations.count else { throw Self.outOfDate(path, version) }
                return
            }
            if version < 0 {
                throw InputError(file: path, "schema version \(version) is not one spurscope writes (0...\(Self.migrations.count)): the file is damaged, or not a spurscope workspace")
            }
            if version > Self.migrations.count {
                throw InputError(file: path, "schema version \(version) is newer than this spurscope understands (\(Self.migrations.count)); update spurscope")
            }
        }
        let dir = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: dir, "cannot create the workspace directory (for a read-only bundle, pass --workspace DIR)")
        }
        db = try SQLiteDatabase(path: path)
        if db.readOnly {
            // Reading works as is; a write fails naming the read-only file.
            let version = Int(try db.prepare("PRAGMA user_version").rows().first?.first?.int ?? 0)
            guard version == Self.migrations.count else { throw Self.outOfDate(path, version) }
            return
        }
        // A reading command upgrading an old schema waits briefly, not the
        // writers' 10 s: it only wanted to read.
        if readingOnly { db.setBusyTimeout(milliseconds: 1000) }
        do {
            try db.execute("PRAGMA journal_mode = WAL")
            // FULL: a commit is on disk before it is acknowledged.
            try db.execute("PRAGMA synchronous = FULL")
            try db.execute("PRAGMA foreign_keys = ON")
            try migrate()
        } catch let e as InputError where readingOnly && e.problem.contains("locked") {
            throw InputError(file: path, "has an older schema that must be upgraded before it is read, and another process is writing to it (\(e.problem)): run this again when it is done")
        }
        if readingOnly { db.setBusyTimeout(milliseconds: 10_000) }
    }

    static func outOfDate(_ path: String, _ version: Int) -> InputError {
        InputError(file: path, "the workspace is read-only and has schema version \(version), this spurscope needs \(migrations.count): open it once where it can be written, or start a new one with --workspace DIR")
    }

    /// Opened read-only: the bundle's directory cannot be written.
    public var isReadOnly: Bool { db.readOnly }

    // MARK: schema

    /// Each migration brings the schema from version `index` to `index + 1`.
    static let migrations: [String] = [
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            class TEXT NOT NULL,
            attribute TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('spurious', 'healthy', 'undecided')),
            previous_verdict TEXT,
            phrase_present TEXT NOT NULL,
            phrase_absent TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        );
        CREATE INDEX decisions_by_pair ON decisions (class, attribute, id);
        """,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            method TEXT NOT NULL,
            config TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            best_epoch INTEGER,
            best_checkpoint TEXT,
            message TEXT NOT NULL DEFAULT '',
            pid INTEGER
        );
        CREATE TABLE epoch_metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            epoch INTEGER NOT NULL,
            step INTEGER NOT NULL,
            train_loss REAL NOT NULL,
            metrics TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, epoch)
        );
        """,
        // The owner's start time tells a live owner from a reused pid.
        "ALTER TABLE runs ADD COLUMN owner_started INTEGER;",
    ]

    func migrate() throws {
        try db.transaction {
            let version = Int(try db.prepare("PRAGMA user_version").rows().first?.first?.int ?? 0)
            guard version <= Self.migrations.count else {
                throw InputError(file: path, "schema version \(version) is newer than this spurscope understands (\(Self.migrations.count)); update spurscope")
            }
            // PRAGMA user_version is any 32-bit integer; spurscope never writes a negative one.
            guard version >= 0 else {
                throw InputError(file: path, "schema version \(version) is not one spurscope writes (0...\(Self.migrations.count)): the file is damaged, or not a spurscope workspace")
            }
            for v in version..<Self.migrations.count {
                try db.execute(Self.migrations[v])
                try db.execute("PRAGMA user_version = \(v + 1)")
            }
        }
    }

    public var version: Int {
        (try? db.prepare("PRAGMA user_version").rows().first?.first?.int).flatMap { $0.map(Int.init) } ?? 0
    }

    // MARK: decisions

    static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func timestamp(_ d: Date) -> String { timeFormat.format(d) }
    public static func date(_ s: String) -> Date? { try? Date(s, strategy: timeFormat) }

    /// Records a verdict. Phrases and note not given carry over from the
    /// pair's previous decision (or default to "with/without {attribute}").
    @discardableResult
    public func record(className: String, attribute: String, verdict: Verdict, note: String? = nil,
                       phrasePresent: String? = nil, phraseAbsent: String? = nil, time: Date = Date()) throws -> Decision {
        // What is stored is printed later, to terminals: nothing that acts on one.
        for (text, setting) in [(className, "className"), (attribute, "attribute"), (note ?? "", "note"),
                                (phrasePresent ?? "", "phrasePresent"), (phraseAbsent ?? "", "phraseAbsent")] {
            try TerminalText.check(text, setting: setting)
        }
        return try db.transaction {
            let previous = try current(className: className, attribute: attribute)
            let defaults = Decision.defaultPhrases(attribute)
            var d = Decision(id: 0, className: className, attribute: attribute, verdict: verdict,
                             previousVerdict: previous?.verdict,
                             phrasePresent: phrasePresent ?? previous?.phrasePresent ?? defaults.present,
                             phraseAbsent: phraseAbsent ?? previous?.phraseAbsent ?? defaults.absent,
                             note: note ?? previous?.note ?? "", time: time)
            try db.prepare("""
                INSERT INTO decisions (class, attribute, verdict, previous_verdict, phrase_present, phrase_absent, note, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """).run([.text(className), .text(attribute), .text(verdict.rawValue),
                          d.previousVerdict.map { .text($0.rawValue) } ?? .null,
                          .text(d.phrasePresent), .text(d.phraseAbsent), .text(d.note),
                          .text(Self.timestamp(time))])
            d.id = db.lastInsertRowID
            return d
        }
    }

    static let decisionColumns = "id, class, attribute, verdict, previous_verdict, phrase_present, phrase_absent, note, created_at"

    func decision(_ row: [SQLiteDatabase.Statement.Value]) -> Decision {
        Decision(id: row[0].int ?? 0, className: row[1].text ?? "", attribute: row[2].text ?? "",
                 verdict: Verdict(rawValue: row[3].text ?? "") ?? .undecided,
                 previousVerdict: row[4].text.flatMap(Verdict.init(rawValue:)),
                 phrasePresent: row[5].text ?? "", phraseAbsent: row[6].text ?? "", note: row[7].text ?? "",
                 time: row[8].text.flatMap(Self.date) ?? Date(timeIntervalSince1970: 0))
    }

    public func current(className: String, attribute: String) throws -> Decision? {
        try db.prepare("SELECT \(Self.decisionColumns) FROM decisions WHERE class = ? AND attribute = ? ORDER BY id DESC LIMIT 1")
            .rows([.text(className), .text(attribute)]).first.map(decision)
    }

    /// The latest decision of every pair, ordered by class then attribute.
    public func currentDecisions() throws -> [Decision] {
        try db.prepare("""
            SELECT \(Self.decisionColumns) FROM decisions d
            WHERE id = (SELECT MAX(id) FROM decisions WHERE class = d.class AND attribute = d.attribute)
            ORDER BY class, attribute
            """).rows().map(decision)
    }

    /// The attributes currently marked spurious for any class, each once, in
    /// the order they were first marked: a run's default spurious attributes.
    public func spuriousAttributes() throws -> [String] {
        Decision.spuriousAttributes(try currentDecisions())
    }

    /// Every decision ever recorded, oldest first.
    public func history() throws -> [Decision] {
        try db.prepare("SELECT \(Self.decisionColumns) FROM decisions ORDER BY id").rows().map(decision)
    }
}
