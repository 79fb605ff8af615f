import CBLAS

/// One pre-LN residual block of CLIP's transformers (text and ViT alike):
/// `x += attn(ln_1(x))`, then `x += mlp(ln_2(x))`.
///
/// Sequences are packed row after row with no padding: attention is the only
/// step that mixes rows, and it runs per sequence, so each sequence costs its
/// own length and nothing more (the causal mask makes tokens after a text's
/// end irrelevant anyway). Under the causal mask a row depends only on the
/// rows before it, so sequences that start alike (80 templates around one
/// phrase) share the rows of their common prefix: each is computed once.
struct TransformerBlock: Sendable {
    let norm1: LayerNorm
    /// The input projection as it is stored: one fused `[3W, W]` layer
    /// (OpenAI) or three `[W, W]` ones (Hugging Face), writing q, k, v side
    /// by side into one `[rows, 3W]` buffer either way.
    let qkv: [Linear]
    let out: Linear
    let norm2: LayerNorm
    let fc: Linear
    let proj: Linear
    let heads: Int
    let activation: Activation

    var width: Int { out.outFeatures }

    /// The packed sequences of `x` (`[rows, W]`), updated in place.
    func forward(_ x: inout [Float], sequences: [PackedSequence], causal: Bool, scratch: inout BlockScratch) {
        precondition(causal || sequences.allSatisfy { $0.prefix.isEmpty }, "only a causal mask lets sequences share rows")
        let rows = x.count / width
        let w = width, d = width / heads, hidden = fc.outFeatures
        scratch.reserve(rows: rows, width: w, hidden: hidden, longest: sequences.map(\.length).max() ?? 0)
        x.withUnsafeMutableBufferPointer { xp in
            let x = xp.baseAddress!
            scratch.withBuffers { normed, qkvBuffer, attended, hiddenBuffer, scores, pathKV in
                norm1.apply(x, rows: rows, width: w, into: normed)
                var column = 0
                for layer in qkv {
                    layer.apply(normed, rows: rows, ldx: w, into: qkvBuffer + column, ldy: 3 * w)
                    column += layer.outFeatures
                }
                let scale = 1 / Float(d).squareRoot()
                for s in sequences where !s.rows.isEmpty {
                    let n = s.rows.count, total = s.length
                    // Keys and values of the whole path: in place when the
                    // sequence shares nothing, else gathered (shared rows,
                    // then its own) into one [total, 2W] block.
                    let kv: UnsafeMutablePointer<Float>, ldkv: Int
                    if s.prefix.isEmpty {
                        kv = qkvBuffer + s.rows.lowerBound * 3 * w + w; ldkv = 3 * w
                    } else {
                        for (p, r) in (s.prefix + Array(s.rows)).enumerated() {
                            (pathKV + p * 2 * w).update(from: qkvBuffer + r * 3 * w + w, count: 2 * w)
                        }
                        kv = pathKV; ldkv = 2 * w
                    }
                    for h in 0..<heads {
                        let q = qkvBuffer + s.rows.lowerBound * 3 * w + h * d
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(total), blasint(d),
                                    scale, q, blasint(3 * w), kv + h * d, blasint(ldkv), 0, scores, blasint(total))
                        softmaxRows(scores, rows: n, columns: total, causal: causal)
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(n), blasint(d), blasint(total),
                                    1, scores, blasint(total), kv + w + h * d, blasint(ldkv),
                                    0, attended + s.rows.lowerBound * w + h * d, blasint(w))
                    }
                }
                // x += out(attended): the residual rides in as C with beta = 1.
                addLinear(out, attended, rows: rows, ldx: w, to: x)
                norm2.apply(x, rows: rows, width: w, into: normed)
                fc.apply(normed, rows: rows, ldx: w, into: hiddenBuffer, ldy: hidden)
                activation.apply(hiddenBuffer, count: rows * hidden)
                addLinear(proj, hiddenBuffer, rows: rows, ldx: hidden, to: x)
            }
        }
    }

    /// `y += x · Wᵀ + b`.
    private func addLinear(_ layer: Linear, _ x: UnsafePointer<Float>, rows: Int, ldx: Int, to y: UnsafeMutablePointer<Float>) {
        let n = layer.outFeatures
        if let bias = layer.bias {
            bias.withFloats { b in
                for r in 0..<rows { cblas_saxpy(blasint(n), 1, b, 1, y + r * n, 1) }
            }
        }
        layer.weight.withFloats { wp in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(n), blasint(layer.inFeatures),
                        1, x, blasint(ldx), wp, blasint(layer.inFeatures), 1, y, blasint(n))
        }
    }

    /// Row-wise softmax of a `rows × columns` score block whose rows are the
    /// last `rows` positions of the sequence; with `causal`, row `i` sees
    /// columns up to its own position and the rest become exact zeros.
    private func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, columns: Int, causal: Bool) {
        let offset = columns - rows
        for i in 0..<rows {
            let row = s + i * columns
            let seen = causal ? offset + i + 1 : columns
            var m = -Float.infinity
            for j in 0..<seen { m = max(m, row[j]) }
            let inv = 1 / Lanes.expSubtracting(m, row, count: seen)
            for j in 0..<seen { row[j] *= inv }
            for j in seen..<columns { row[j] = 0 }
        }
    }
}

/// One sequence of a packed batch: the rows it adds, after the rows of a
/// prefix it shares with sequences before it.
struct PackedSequence: Sendable, Equatable {
    /// Its own rows, contiguous, in position order.
    var rows: Range<Int>
    /// The shared prefix's rows, in position order (empty: nothing shared).
    var prefix: [Int] = []

    var length: Int { prefix.count + rows.count }
}

/// Work buffers of a block's forward pass, kept across blocks and batches so
/// a tower allocates them once per call, not once per layer.
struct BlockScratch {
    private var normed: [Float] = []
    private var qkv: [Float] = []
    private var attended: [Float] = []
    private var hidden: [Float] = []
    private var scores: [Float] = []
    private var pathKV: [Float] = []

    mutating func reserve(rows: Int, width: Int, hidden h: Int, longest: Int) {
        func grow(_ a: inout [Float], _ n: Int) { if a.count < n { a = [Float](repeating: 0, count: n) } }
        grow(&normed, rows * width)
        grow(&qkv, rows * 3 * width)
        grow(&attended, rows * width)
        grow(&hidden, rows * h)
        grow(&scores, longest * longest)
        grow(&pathKV, longest * 2 * width)
    }

    mutating func withBuffers(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
                                       UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        normed.withUnsafeMutableBufferPointer { a in
            qkv.withUnsafeMutableBufferPointer { b in
                attended.withUnsafeMutableBufferPointer { c in
                    hidden.withUnsafeMutableBufferPointer { d in
                        scores.withUnsafeMutableBufferPointer { e in
                            pathKV.withUnsafeMutableBufferPointer { f in
                                body(a.baseAddress!, b.baseAddress!, c.baseAddress!, d.baseAddress!, e.baseAddress!, f.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
