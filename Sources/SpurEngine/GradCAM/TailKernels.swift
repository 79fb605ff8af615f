import CBLAS
import SpurCore

/// `C = alpha · op(A) · op(B) + beta · C` on raw row-major blocks with
/// leading dimensions, for the per-head slices the tails work on (a head
/// is a column block of a `[rows, D]` matrix, which `Matrix` cannot view).
///
/// A tail multiplies a row or a few (one example's query, the gradients of
/// the classes asked for) by whole weight matrices: there sgemm spends its
/// time packing `B`, which a matrix-vector product per row never does, so
/// up to `fewRows` rows go through sgemv (measured: a ViT-B/32 map 3× faster).
@inline(__always)
func sgemm(_ transA: Bool, _ transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
           _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, _ c: UnsafeMutablePointer<Float>, ldc: Int) {
    guard m > 0, n > 0 else { return }
    if !transA && m <= fewRows {
        for i in 0..<m {
            // Row i of C is alpha · A_i · op(B): op(B)ᵀ times A_iᵀ.
            cblas_sgemv(CblasRowMajor, transB ? CblasNoTrans : CblasTrans, blasint(transB ? n : k), blasint(transB ? k : n),
                        alpha, b, blasint(ldb), a + i * lda, 1, beta, c + i * ldc, 1)
        }
        return
    }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
}

let fewRows = 8

/// `a · op(b)` through `sgemm` above.
func product(_ a: Matrix, _ b: Matrix, transposeB: Bool = false) -> Matrix {
    let n = transposeB ? b.rows : b.cols
    var c = Matrix(rows: a.rows, cols: n)
    a.storage.withUnsafeBufferPointer { ap in
        b.storage.withUnsafeBufferPointer { bp in
            c.storage.withUnsafeMutableBufferPointer { cp in
                sgemm(false, transposeB, m: a.rows, n: n, k: a.cols, ap.baseAddress!, lda: a.cols, bp.baseAddress!, ldb: b.cols,
                      cp.baseAddress!, ldc: n)
            }
        }
    }
    return c
}

/// A LayerNorm over one row at a time, with the backward pass of the rows
/// the tail differentiates (the gradient of several class scores at once).
struct TailLayerNorm: Sendable {
    let gamma: [Float]
    let beta: [Float]
    let eps: Float

    /// What the backward pass needs of one row's forward.
    struct Row { var output: [Float]; var normalized: [Float]; var inverseStd: Float }

    func forward(_ x: ArraySlice<Float>) -> Row {
        let n = Float(x.count)
        let mean = x.reduce(0, +) / n
        var variance: Float = 0
        for v in x { variance += (v - mean) * (v - mean) }
        let inv = 1 / (variance / n + eps).squareRoot()
        let normalized = x.map { ($0 - mean) * inv }
        return Row(output: zip(normalized, zip(gamma, beta)).map { $0 * $1.0 + $1.1 }, normalized: normalized, inverseStd: inv)
    }

    /// Every row of `x` normalised.
    func forward(rows x: Matrix) -> Matrix {
        var out = Matrix(rows: x.rows, cols: x.cols)
        for r in 0..<x.rows {
            out.storage.replaceSubrange(r * x.cols ..< (r + 1) * x.cols, with: forward(x.row(r)).output)
        }
        return out
    }

    /// `∂/∂x` for each row of `dy` (`[K, D]`), all at the same forward row:
    /// `dx = σ⁻¹ (ĝ − mean(ĝ) − x̂ · mean(ĝ ⊙ x̂))` with `ĝ = dy ⊙ γ`.
    func backward(_ row: Row, gradient dy: Matrix) -> Matrix {
        var dx = dy
        let d = dy.cols, n = Float(d)
        for k in 0..<dy.rows {
            let base = k * d
            var mean: Float = 0, projected: Float = 0
            for j in 0..<d {
                let g = dy.storage[base + j] * gamma[j]
                dx.storage[base + j] = g
                mean += g; projected += g * row.normalized[j]
            }
            mean /= n; projected /= n
            for j in 0..<d {
                dx.storage[base + j] = row.inverseStd * (dx.storage[base + j] - mean - row.normalized[j] * projected)
            }
        }
        return dx
    }
}

/// The MLP activations CLIP towers use, with their derivatives.
enum TailActivation: String, Sendable {
    case quickGELU = "quick_gelu"
    case gelu

    func value(_ u: Float) -> Float {
        switch self {
        case .quickGELU: return u / (1 + expf(-1.702 * u))
        case .gelu: return 0.5 * u * (1 + erff(u * 0.70710678118654752))
        }
    }

    func derivative(_ u: Float) -> Float {
        switch self {
        case .quickGELU:
            let s = 1 / (1 + expf(-1.702 * u))
            return s + 1.702 * u * s * (1 - s)
        case .gelu:
            return 0.5 * (1 + erff(u * 0.70710678118654752)) + u * expf(-0.5 * u * u) * 0.39894228040143268
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
