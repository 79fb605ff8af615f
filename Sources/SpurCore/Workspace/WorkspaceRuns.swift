import Foundation

/// A training run as the workspace records it.
public struct RunRecord: Equatable, Sendable {
    public var id: Int64
    public var method: String
    /// The run's configuration as JSON (the engine's `TrainingConfig`).
    public var config: String
    public var status: RunStatus
    public var createdAt: Date
    public var updatedAt: Date
    public var bestEpoch: Int?
    public var bestCheckpoint: String?
    public var message: String
    public var pid: Int?
    /// When the owning process started (clock ticks since boot, from
    /// `/proc/PID/stat`): with `pid`, identifies the owner even after pid reuse.
    public var ownerStarted: Int64?

    /// A `running` run whose owning process is gone (killed, crashed, or
    /// quit without recording the end): it is interrupted, and can be resumed.
    public var isInterrupted: Bool {
        guard status == .running else { return false }
        guard let pid else { return true }
        return !ProcessIdentity.isAlive(pid: pid, started: ownerStarted)
    }
}

/// Which process owns something, and whether it still runs.
public enum ProcessIdentity {
    /// The start time of a process in clock ticks since boot (field 22 of
    /// `/proc/PID/stat`), nil when there is no such process.
    public static func startTime(pid: Int) -> Int64? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces) start at field 3.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? Int64(fields[19]) : nil
    }

    /// True while the process runs and, when `started` is known, is the same process.
    public static func isAlive(pid: Int, started: Int64?) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid_t(pid), 0) != 0 && errno != EPERM { return false }
        guard let started else { return true }
        return startTime(pid: pid) == started
    }
}

public enum RunStatus: String, Sendable, CaseIterable {
    case running, finished, cancelled, failed
}

/// One evaluation of a run: the training loss and the validation metrics (JSON).
public struct EpochRecord: Equatable, Sendable {
    public var runID: Int64
    public var epoch: Int
    public var step: Int
    public var trainLoss: Double
    public var metrics: String
    public var time: Date
}

extension Workspace {
    /// Where a run keeps its checkpoints: next to the database.
    public func runDirectory(_ id: Int64) -> String {
        ((path as NSString).deletingLastPathComponent as NSString).appendingPathComponent("runs/\(id)")
    }

    public func createRun(method: String, config: String, pid: Int? = nil) throws -> Int64 {
        try db.transaction {
            let now = Self.timestamp(Date())
            try db.prepare("INSERT INTO runs (method, config, status, created_at, updated_at, pid, owner_started) VALUES (?, ?, 'running', ?, ?, ?, ?)")
                .run([.text(method), .text(config), .text(now), .text(now), pid.map { .int(Int64($0)) } ?? .null,
                      pid.flatMap { ProcessIdentity.startTime(pid: $0) }.map { .int($0) } ?? .null])
            return db.lastInsertRowID
        }
    }

    public func updateRun(_ id: Int64, status: RunStatus? = nil, bestEpoch: Int? = nil, bestCheckpoint: String? = nil,
                          message: String? = nil, pid: Int? = nil) throws {
        try db.transaction {
            var sets = ["updated_at = ?"]
            var values: [SQLiteDatabase.Statement.Value] = [.text(Self.timestamp(Date()))]
            if let status { sets.append("status = ?"); values.append(.text(status.rawValue)) }
            if let bestEpoch { sets.append("best_epoch = ?"); values.append(.int(Int64(bestEpoch))) }
            if let bestCheckpoint { sets.append("best_checkpoint = ?"); values.append(.text(bestCheckpoint)) }
            if let message { sets.append("message = ?"); values.append(.text(message)) }
            if let pid {
                sets.append("pid = ?"); values.append(.int(Int64(pid)))
                sets.append("owner_started = ?"); values.append(ProcessIdentity.startTime(pid: pid).map { .int($0) } ?? .null)
            }
            values.append(.int(id))
            try db.prepare("UPDATE runs SET \(sets.joined(separator: ", ")) WHERE id = ?").run(values)
        }
    }

    /// Records (or, after a resume, re-records) one evaluation.
    public func recordEpoch(run: Int64, epoch: Int, step: Int, trainLoss: Double, metrics: String) throws {
        try db.transaction {
            try db.prepare("INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, step, train_loss, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?)")
                .run([.int(run), .int(Int64(epoch)), .int(Int64(step)), .double(trainLoss), .text(metrics), .text(Self.timestamp(Date()))])
        }
    }

    static let runColumns = "id, method, config, status, created_at, updated_at, best_epoch, best_checkpoint, message, pid, owner_started"

    func runRecord(_ r: [SQLiteDatabase.Statement.Value]) -> RunRecord {
        RunRecord(id: r[0].int ?? 0, method: r[1].text ?? "", config: r[2].text ?? "{}",
                  status: RunStatus(rawValue: r[3].text ?? "") ?? .failed,
                  createdAt: r[4].text.flatMap(Self.date) ?? Date(timeIntervalSince1970: 0),
                  updatedAt: r[5].text.flatMap(Self.date) ?? Date(timeIntervalSince1970: 0),
                  bestEpoch: r[6].int.map(Int.init), bestCheckpoint: r[7].text, message: r[8].text ?? "",
                  pid: r[9].int.map(Int.init), ownerStarted: r[10].int)
    }

    public func runs() throws -> [RunRecord] {
        try db.prepare("SELECT \(Self.runColumns) FROM runs ORDER BY id").rows().map(runRecord)
    }

    public func run(_ id: Int64) throws -> RunRecord? {
        try db.prepare("SELECT \(Self.runColumns) FROM runs WHERE id = ?").rows([.int(id)]).first.map(runRecord)
    }

    public func epochs(run: Int64) throws -> [EpochRecord] {
        try db.prepare("SELECT run_id, epoch, step, train_loss, metrics, created_at FROM epoch_metrics WHERE run_id = ? ORDER BY epoch")
            .rows([.int(run)]).map { r in
                EpochRecord(runID: r[0].int ?? 0, epoch: Int(r[1].int ?? 0), step: Int(r[2].int ?? 0),
                            trainLoss: r[3].double ?? 0, metrics: r[4].text ?? "{}",
                            time: r[5].text.flatMap(Self.date) ?? Date(timeIntervalSince1970: 0))
            }
    }
}
