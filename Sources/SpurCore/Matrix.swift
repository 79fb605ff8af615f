import CBLAS

/// A dense row-major matrix of `Float`, the unit every numerical routine in
/// spurscope works on. Storage is one contiguous array, so it goes straight
/// to BLAS; as a value type it copies on write.
public struct Matrix: Equatable, Sendable {
    public let rows: Int
    public let cols: Int
    public var storage: [Float]

    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        precondition(rows >= 0 && cols >= 0, "negative matrix shape")
        self.rows = rows
        self.cols = cols
        self.storage = [Float](repeating: value, count: rows * cols)
    }

    public init(rows: Int, cols: Int, storage: [Float]) {
        precondition(storage.count == rows * cols,
                     "storage of \(storage.count) floats for a \(rows)×\(cols) matrix")
        self.rows = rows
        self.cols = cols
        self.storage = storage
    }

    /// Builds a matrix from nested rows; convenient in tests and examples.
    public init(_ nested: [[Float]]) {
        let cols = nested.first?.count ?? 0
        precondition(nested.allSatisfy { $0.count == cols }, "ragged rows")
        self.init(rows: nested.count, cols: cols, storage: nested.flatMap { $0 })
    }

    public subscript(row: Int, col: Int) -> Float {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }

    public func row(_ index: Int) -> ArraySlice<Float> {
        storage[index * cols ..< (index + 1) * cols]
    }

    /// Rows `range` as a new matrix.
    public func rows(_ range: Range<Int>) -> Matrix {
        Matrix(rows: range.count, cols: cols,
               storage: Array(storage[range.lowerBound * cols ..< range.upperBound * cols]))
    }

    /// The given rows, in that order (repeats allowed): batches, splits.
    public func gatherRows(_ indices: [Int]) -> Matrix {
        var out = Matrix(rows: indices.count, cols: cols)
        for (i, r) in indices.enumerated() {
            out.storage.replaceSubrange(i * cols ..< (i + 1) * cols, with: storage[r * cols ..< (r + 1) * cols])
        }
        return out
    }

    public var transposed: Matrix {
        var out = Matrix(rows: cols, cols: rows)
        for r in 0..<rows {
            for c in 0..<cols { out.storage[c * rows + r] = storage[r * cols + c] }
        }
        return out
    }

    /// Stacks matrices with the same number of columns on top of each other.
    public static func vstack(_ parts: [Matrix]) -> Matrix {
        let cols = parts.first?.cols ?? 0
        precondition(parts.allSatisfy { $0.cols == cols }, "vstack of different widths")
        var storage: [Float] = []
        storage.reserveCapacity(parts.reduce(0) { $0 + $1.storage.count })
        for p in parts { storage.append(contentsOf: p.storage) }
        return Matrix(rows: storage.count / max(cols, 1), cols: cols, storage: storage)
    }

    public func sum() -> Float { storage.reduce(0, +) }

    /// Largest absolute entry; used to compare matrices in tests and checks.
    public func maxAbs() -> Float { storage.reduce(0) { max($0, abs($1)) } }

    public var isFinite: Bool { storage.allSatisfy { $0.isFinite } }
}

// MARK: - GEMM

extension Matrix {
    /// `c ← alpha · op(a) · op(b) + beta · c` through `cblas_sgemm`.
    public static func gemm(_ a: Matrix, transposeA: Bool = false,
                            _ b: Matrix, transposeB: Bool = false,
                            alpha: Float = 1, beta: Float = 0, into c: inout Matrix) {
        let m = transposeA ? a.cols : a.rows
        let k = transposeA ? a.rows : a.cols
        let kb = transposeB ? b.cols : b.rows
        let n = transposeB ? b.rows : b.cols
        precondition(k == kb, "gemm inner dimensions \(k) and \(kb) differ")
        precondition(c.rows == m && c.cols == n,
                     "gemm output is \(c.rows)×\(c.cols), expected \(m)×\(n)")
        if m == 0 || n == 0 { return }
        if k == 0 {
            // BLAS leaves C untouched when k = 0 only if beta = 1; make it explicit.
            for i in c.storage.indices { c.storage[i] *= beta }
            return
        }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                c.storage.withUnsafeMutableBufferPointer { pc in
                    cblas_sgemm(CblasRowMajor,
                                transposeA ? CblasTrans : CblasNoTrans,
                                transposeB ? CblasTrans : CblasNoTrans,
                                blasint(m), blasint(n), blasint(k),
                                alpha, pa.baseAddress, blasint(a.cols),
                                pb.baseAddress, blasint(b.cols),
                                beta, pc.baseAddress, blasint(n))
                }
            }
        }
    }

    /// `op(a) · op(b)` as a new matrix.
    public static func product(_ a: Matrix, transposeA: Bool = false,
                               _ b: Matrix, transposeB: Bool = false,
                               alpha: Float = 1) -> Matrix {
        var c = Matrix(rows: transposeA ? a.cols : a.rows, cols: transposeB ? b.rows : b.cols)
        gemm(a, transposeA: transposeA, b, transposeB: transposeB, alpha: alpha, into: &c)
        return c
    }

    /// `self ← self + alpha · other` (BLAS saxpy).
    public mutating func add(_ other: Matrix, scaledBy alpha: Float = 1) {
        precondition(rows == other.rows && cols == other.cols, "add of different shapes")
        let n = storage.count
        if n == 0 { return }
        other.storage.withUnsafeBufferPointer { px in
            storage.withUnsafeMutableBufferPointer { py in
                cblas_saxpy(blasint(n), alpha, px.baseAddress, 1, py.baseAddress, 1)
            }
        }
    }

    /// `self ← alpha · self` (BLAS sscal).
    public mutating func scale(by alpha: Float) {
        let n = storage.count
        if n == 0 { return }
        storage.withUnsafeMutableBufferPointer { p in
            cblas_sscal(blasint(n), alpha, p.baseAddress, 1)
        }
    }

    /// Frobenius inner product `Σ self_ij · other_ij` (BLAS sdot).
    public func dot(_ other: Matrix) -> Float {
        precondition(storage.count == other.storage.count, "dot of different sizes")
        if storage.isEmpty { return 0 }
        return storage.withUnsafeBufferPointer { px in
            other.storage.withUnsafeBufferPointer { py in
                cblas_sdot(blasint(px.count), px.baseAddress, 1, py.baseAddress, 1)
            }
        }
    }
}

// MARK: - Row-wise operations

/// The result of normalising every row to unit length, kept together with the
/// norms that the backward pass needs.
public struct NormalizedRows: Sendable {
    public var output: Matrix
    public var norms: [Float]
}

extension Matrix {
    /// Smallest norm a row is divided by: an all-zero row maps to zero
    /// instead of NaN (the same guard as `torch.nn.functional.normalize`).
    public static let normEpsilon: Float = 1e-12

    /// `y_i = x_i / max(‖x_i‖, ε)`.
    public func normalizedRows() -> NormalizedRows {
        var out = self
        var norms = [Float](repeating: 0, count: rows)
        let n = cols
        out.storage.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let row = p.baseAddress! + r * n
                let norm = max(cblas_snrm2(blasint(n), row, 1), Matrix.normEpsilon)
                norms[r] = norm
                cblas_sscal(blasint(n), 1 / norm, row, 1)
            }
        }
        return NormalizedRows(output: out, norms: norms)
    }

    /// Backward of `normalizedRows`: `dx_i = (dy_i − y_i ⟨y_i, dy_i⟩) / ‖x_i‖`.
    public static func normalizeRowsBackward(_ forward: NormalizedRows, gradient dy: Matrix) -> Matrix {
        let y = forward.output
        precondition(dy.rows == y.rows && dy.cols == y.cols, "gradient shape differs")
        var dx = dy
        let n = y.cols
        y.storage.withUnsafeBufferPointer { py in
            dx.storage.withUnsafeMutableBufferPointer { pdx in
                for r in 0..<y.rows {
                    let yr = py.baseAddress! + r * n
                    let dr = pdx.baseAddress! + r * n
                    let proj = cblas_sdot(blasint(n), yr, 1, dr, 1)
                    cblas_saxpy(blasint(n), -proj, yr, 1, dr, 1)
                    cblas_sscal(blasint(n), 1 / forward.norms[r], dr, 1)
                }
            }
        }
        return dx
    }

    /// Row-wise `log softmax`, computed with the max subtracted for stability.
    public func logSoftmaxRows() -> Matrix {
        var out = self
        for r in 0..<rows {
            let base = r * cols
            var m = -Float.infinity
            for c in 0..<cols { m = max(m, storage[base + c]) }
            var s: Float = 0
            for c in 0..<cols { s += expf(storage[base + c] - m) }
            // (x − m) − log s, not x − (m + log s): exact when x is large.
            let logSum = logf(s)
            for c in 0..<cols { out.storage[base + c] = (storage[base + c] - m) - logSum }
        }
        return out
    }

    /// Mean of each consecutive block of `blockSize` rows: `[n·k, d] → [n, d]`.
    public func meanOfRowBlocks(_ blockSize: Int) -> Matrix {
        precondition(blockSize > 0 && rows % blockSize == 0, "rows not divisible into blocks")
        var out = Matrix(rows: rows / blockSize, cols: cols)
        let inv = 1 / Float(blockSize)
        for b in 0..<out.rows {
            for k in 0..<blockSize {
                let src = (b * blockSize + k) * cols
                for c in 0..<cols { out.storage[b * cols + c] += storage[src + c] * inv }
            }
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Matrix {
    /// The column of each row's largest entry, the first on ties; NaN
    /// entries are passed over, and a row with nothing above −∞ (all NaN,
    /// or no columns) gives 0. Every classifier predicts with this, so one
    /// rule decides ties everywhere.
    public func argmaxRows() -> [Int] {
        (0..<rows).map { r in
            var best = 0, top = -Float.infinity
            for (c, x) in storage[r * cols ..< (r + 1) * cols].enumerated() where x > top { best = c; top = x }
            return best
        }
    }
}
