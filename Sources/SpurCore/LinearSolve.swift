import CBLAS

extension Matrix {
    /// The solution `X` of `A X = B` for a symmetric positive definite `A`
    /// (`[n, n]`) and `B` (`[n, m]`), by Cholesky factorisation in double
    /// precision (LAPACK `dposv` from OpenBLAS). Returns nil when `A` is not
    /// positive definite (for a Gram matrix: linearly dependent vectors).
    public static func solvePositiveDefinite(_ a: Matrix, _ b: Matrix) -> Matrix? {
        precondition(a.rows == a.cols && b.rows == a.rows, "solve needs a square A and B with as many rows")
        let n = a.rows, m = b.cols
        if n == 0 || m == 0 { return Matrix(rows: n, cols: m) }
        // A is symmetric, so row-major A is its own column-major form; B is
        // handed over column-major (its transpose's storage).
        var lhs = a.storage.map { Double($0) }
        var rhs = b.transposed.storage.map { Double($0) }
        var info: Int32 = 0
        var nn = Int32(n), mm = Int32(m), lda = Int32(n), ldb = Int32(n)
        let upper: CChar = 85   // "U"
        withUnsafePointer(to: upper) { uplo in
            dposv_(uplo, &nn, &mm, &lhs, &lda, &rhs, &ldb, &info, 1)
        }
        guard info == 0 else { return nil }
        return Matrix(rows: m, cols: n, storage: rhs.map { Float($0) }).transposed
    }
}
