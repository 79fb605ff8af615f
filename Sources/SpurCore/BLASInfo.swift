import CBLAS

/// What OpenBLAS runs with. Every speed figure is reported with these: the
/// preset `OPENBLAS_CORETYPE` on these machines halves sgemm speed, so a
/// number without its kernel means little (DESIGN.md, "Benchmarks").
public enum BLASInfo {
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    public static var threads: Int { Int(openblas_get_num_threads()) }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
