import Foundation
import SpurCore

/// `--shard N/M`: worker N of M extracts a contiguous slice of the examples
/// and of the prompt table; the shards are merged back in order. The same
/// slices as `tools/extract`, so either extractor's shards merge with
/// either merger.
public struct ExtractionShard: Equatable, Sendable {
    /// 1-based.
    public var index: Int
    public var count: Int

    public static let whole = ExtractionShard(index: 1, count: 1)

    public init(index: Int, count: Int) { self.index = index; self.count = count }

    /// `N/M` with 1 ≤ N ≤ M, or `auto`: N and M from the scheduler that
    /// started the process (Slurm's `SLURM_PROCID` / `SLURM_NTASKS`,
    /// torchrun's `RANK` / `WORLD_SIZE`; 0-based ranks).
    public static func parse(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ExtractionShard {
        if text == "auto" {
            for (rank, size) in [("SLURM_PROCID", "SLURM_NTASKS"), ("RANK", "WORLD_SIZE")] {
                guard let r = environment[rank], let s = environment[size] else { continue }
                guard let ri = Int(r), let si = Int(s), si >= 1, (0..<si).contains(ri) else {
                    throw SettingError("shard", "auto: \(rank)=\(r) and \(size)=\(s) are not a rank below a size")
                }
                return ExtractionShard(index: ri + 1, count: si)
            }
            throw SettingError("shard", "auto needs SLURM_PROCID and SLURM_NTASKS (Slurm) or RANK and WORLD_SIZE (torchrun) in the environment; neither pair is set")
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let n = Int(parts[0]), let m = Int(parts[1]) else {
            throw SettingError("shard", "'\(text)' is not N/M (e.g. 2/3: the second of three workers) or auto")
        }
        guard 1 <= n && n <= m else { throw SettingError("shard", "'\(text)' needs 1 ≤ N ≤ M") }
        return ExtractionShard(index: n, count: m)
    }

    /// This worker's rows of `total`: contiguous, sizes differing by at most one.
    public func rows(of total: Int) -> Range<Int> {
        (index - 1) * total / count ..< index * total / count
    }

    public var description: String { "\(index)/\(count)" }
}
