import CBLAS
import Foundation

/// What OpenBLAS runs with. Every speed figure is reported with these: the
/// preset `OPENBLAS_CORETYPE` on these machines halves sgemm speed, so a
/// number without its kernel means little (DESIGN.md, "Benchmarks").
public enum BLASInfo {
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Private: the count changes only through `singleThreaded`, whose
    /// sections would otherwise be undone behind their back.
    private static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// Runs `body` with OpenBLAS single-threaded, then restores the thread
    /// count once no such section is running any more.
    ///
    /// For work that spreads batches over the cores itself, and for results
    /// that must not depend on the core count: some products (K = 150 in the
    /// synthetic encoder's stem) give other last bits on two threads than on
    /// one. The thread count is global, so sections that overlap (tests run
    /// in parallel) share one count of how many are open; a plain save and
    /// restore in each would let one section switch threads back on in the
    /// middle of another.
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        section.withLock { state in
            if state.open == 0 { state.saved = threads; setThreads(1) }
            state.open += 1
        }
        defer {
            section.withLock { state in
                state.open -= 1
                if state.open == 0 { setThreads(state.saved) }
            }
        }
        return try body()
    }

    private struct Section { var open = 0, saved = 1 }
    private static let section = LockedValue(Section())
}

/// A value behind a mutex.
private final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        mutex.lock()
        defer { mutex.unlock() }
        return try body(&value)
    }
}
