import CBLAS

/// `y = x · Wᵀ + b` with `W` stored `[out, in]`, as PyTorch's `nn.Linear`
/// and both CLIP layouts keep it. One sgemm per call; rows of `x` and `y`
/// may be strided, so a layer can write into a column block of a wider
/// buffer (q, k and v side by side).
struct Linear: Sendable {
    let weight: Weight
    let bias: Weight?
    var outFeatures: Int { weight.shape[0] }
    var inFeatures: Int { weight.shape[1] }

    init(weight: Weight, bias: Weight?) {
        precondition(weight.shape.count == 2 && (bias == nil || bias!.shape == [weight.shape[0]]))
        self.weight = weight
        self.bias = bias
    }

    func apply(_ x: UnsafePointer<Float>, rows: Int, ldx: Int,
               into y: UnsafeMutablePointer<Float>, ldy: Int) {
        guard rows > 0 else { return }
        let n = outFeatures, k = inFeatures
        if let bias {
            bias.withFloats { b in
                for r in 0..<rows { (y + r * ldy).update(from: b, count: n) }
            }
        }
        weight.withFloats { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        blasint(rows), blasint(n), blasint(k),
                        1, x, blasint(ldx), w, blasint(k),
                        bias == nil ? 0 : 1, y, blasint(ldy))
        }
    }
}

/// LayerNorm over the last axis (`eps` inside the square root, biased
/// variance), as `torch.nn.LayerNorm`.
struct LayerNorm: Sendable {
    let gamma: Weight
    let beta: Weight
    let eps: Float

    func apply(_ x: UnsafePointer<Float>, rows: Int, width: Int, into y: UnsafeMutablePointer<Float>) {
        gamma.withFloats { g in
            beta.withFloats { b in
                // Eight lanes at a time: a float sum does not vectorise by
                // itself, since it would reorder the additions.
                let body = width - width % 8
                for r in 0..<rows {
                    let xr = x + r * width, yr = y + r * width
                    var lanes = SIMD8<Float>()
                    for i in stride(from: 0, to: body, by: 8) { lanes += Lanes.load(xr + i) }
                    var mean = lanes.sum()
                    for i in body..<width { mean += xr[i] }
                    mean /= Float(width)
                    lanes = SIMD8<Float>()
                    for i in stride(from: 0, to: body, by: 8) { let d = Lanes.load(xr + i) - mean; lanes += d * d }
                    var variance = lanes.sum()
                    for i in body..<width { let d = xr[i] - mean; variance += d * d }
                    let inv = 1 / (variance / Float(width) + eps).squareRoot()
                    for i in stride(from: 0, to: body, by: 8) {
                        Lanes.store((Lanes.load(xr + i) - mean) * inv * Lanes.load(g + i) + Lanes.load(b + i), yr + i)
                    }
                    for i in body..<width { yr[i] = (xr[i] - mean) * inv * g[i] + b[i] }
                }
            }
        }
    }
}

/// The MLP's non-linearity. OpenAI's CLIP uses quick-GELU
/// (`x·σ(1.702x)`); configurations that say `gelu` use the exact, erf-based
/// one (`torch.nn.GELU()`).
public enum Activation: String, Sendable, Codable {
    case quickGELU = "quick_gelu"
    case gelu

    func apply(_ x: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .quickGELU:
            var i = 0
            while i + 8 <= count {
                let v = Lanes.load(x + i)
                Lanes.store(v / (1 + vectorExp(-1.702 * v)), x + i)
                i += 8
            }
            for j in i..<count { let v = x[j]; x[j] = v / (1 + expf(-1.702 * v)) }
        case .gelu:
            for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erff(v * 0.70710678118654752)) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
