import CBLAS

extension Matrix {
    /// The solution `X` of `A X = B` for a symmetric positive definite `A`
    /// (`[n, n]`) and `B` (`[n, m]`), by Cholesky factorisation in double
    /// precision (LAPACK `dpotrf` / `dpotrs` from OpenBLAS).
    ///
    /// Returns nil when `A` is not positive definite, or so close to
    /// singular that some pivot `L_ii²` is below `relativePivot` times the
    /// largest diagonal entry: for a Gram matrix, vectors that are (nearly)
    /// linearly dependent, where rounding alone decides whether LAPACK
    /// sees a positive pivot.
    public static func solvePositiveDefinite(_ a: Matrix, _ b: Matrix, relativePivot: Double = 1e-10) -> Matrix? {
        precondition(a.rows == a.cols && b.rows == a.rows, "solve needs a square A and B with as many rows")
        let n = a.rows, m = b.cols
        if n == 0 || m == 0 { return Matrix(rows: n, cols: m) }
        // A is symmetric, so row-major A is its own column-major form; B is
        // handed over column-major (its transpose's storage).
        var factor = a.storage.map { Double($0) }
        var rhs = b.transposed.storage.map { Double($0) }
        let largest = (0..<n).map { factor[$0 * n + $0] }.max() ?? 0
        var info: Int32 = 0
        var nn = Int32(n), mm = Int32(m), ld = Int32(n)
        let upper: CChar = 85   // "U"
        withUnsafePointer(to: upper) { uplo in dpotrf_(uplo, &nn, &factor, &ld, &info, 1) }
        guard info == 0, largest > 0 else { return nil }
        for i in 0..<n where factor[i * n + i] * factor[i * n + i] < relativePivot * largest { return nil }
        withUnsafePointer(to: upper) { uplo in dpotrs_(uplo, &nn, &mm, factor, &ld, &rhs, &ld, &info, 1) }
        guard info == 0 else { return nil }
        return Matrix(rows: m, cols: n, storage: rhs.map { Float($0) }).transposed
    }
}
