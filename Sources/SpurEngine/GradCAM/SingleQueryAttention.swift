import SpurCore

/// Multi-head attention in which only the first row asks: a ViT's class
/// token reading the patches in its last block, or a ModifiedResNet's mean
/// token in its attention pool. Nothing after it reads the other rows'
/// outputs, so the tail needs this one query, and both passes are written
/// for it:
///
/// - keys enter only through `⟨q_h, W_k,h s_j + b_k,h⟩ = ⟨W_k,hᵀ q_h, s_j⟩ + c_h`,
///   so the keys are never formed: one `D`-vector `k̃_h` per head instead;
/// - values enter only through `Σ_j p_hj (W_v,h s_j + b_v,h) = W_v,h s̄_h + b_v,h`
///   with `s̄_h = Σ_j p_hj s_j`, so the values are never formed either.
///
/// The passes cost `O(T·D·H + D²)` instead of `O(T·D²)`. Scores are scaled
/// by `1/√d` as PyTorch's `MultiheadAttention` and CLIP's attention do.
struct SingleQueryAttention: Sendable {
    /// `[D, D]` each, applied as `W s + b`.
    let query: Matrix, queryBias: [Float]
    let key: Matrix, keyBias: [Float]
    let value: Matrix, valueBias: [Float]
    /// `[E, D]`: the output projection (`out_proj` / `c_proj`).
    let output: Matrix, outputBias: [Float]
    let heads: Int

    var width: Int { query.cols }
    var headWidth: Int { width / heads }
    var scale: Float { 1 / Float(headWidth).squareRoot() }

    struct Pass {
        /// The rows attended over, `[T, D]`; the query is row 0's.
        var sources: Matrix
        var q: [Float]
        /// `[H, D]`: `scale · W_k,hᵀ q_h`.
        var keyQueries: Matrix
        /// `[T, H]`: each head's attention over the rows.
        var probabilities: Matrix
        /// `[H, D]`: `s̄_h`.
        var mixed: Matrix
        /// `[E]`.
        var output: [Float]
    }

    func forward(_ s: Matrix) -> Pass {
        let d = width, hw = headWidth, t = s.rows, h = heads
        var q = queryBias
        var keyQueries = Matrix(rows: h, cols: d)
        var scores = Matrix(rows: t, cols: h)
        var mixed = Matrix(rows: h, cols: d)
        var o = valueBias
        var out = outputBias
        s.storage.withUnsafeBufferPointer { sp in
            query.storage.withUnsafeBufferPointer { wq in
                q.withUnsafeMutableBufferPointer { sgemm(false, true, m: 1, n: d, k: d, sp.baseAddress!, lda: d, wq.baseAddress!, ldb: d,
                                                         beta: 1, $0.baseAddress!, ldc: d) }
            }
            key.storage.withUnsafeBufferPointer { wk in
                q.withUnsafeBufferPointer { qp in
                    keyQueries.storage.withUnsafeMutableBufferPointer { kq in
                        for head in 0..<h {
                            // k̃_h = scale · q_hᵀ W_k,h (a [1, d] by [d, D] product).
                            sgemm(false, false, m: 1, n: d, k: hw, alpha: scale, qp.baseAddress! + head * hw, lda: hw,
                                  wk.baseAddress! + head * hw * d, ldb: d, kq.baseAddress! + head * d, ldc: d)
                        }
                    }
                }
            }
            keyQueries.storage.withUnsafeBufferPointer { kq in
                scores.storage.withUnsafeMutableBufferPointer { sc in
                    sgemm(false, true, m: t, n: h, k: d, sp.baseAddress!, lda: d, kq.baseAddress!, ldb: d, sc.baseAddress!, ldc: h)
                }
            }
        }
        // The key bias adds c_h = scale · ⟨q_h, b_k,h⟩ to every score of a
        // head: softmax does not see it, so it is left out.
        for head in 0..<h {
            var m = -Float.infinity
            for j in 0..<t { m = max(m, scores[j, head]) }
            var total: Float = 0
            for j in 0..<t { let e = expf(scores[j, head] - m); scores[j, head] = e; total += e }
            for j in 0..<t { scores[j, head] /= total }
        }
        s.storage.withUnsafeBufferPointer { sp in
            scores.storage.withUnsafeBufferPointer { p in
                mixed.storage.withUnsafeMutableBufferPointer { mp in
                    sgemm(true, false, m: h, n: d, k: t, p.baseAddress!, lda: h, sp.baseAddress!, ldb: d, mp.baseAddress!, ldc: d)
                }
            }
            value.storage.withUnsafeBufferPointer { wv in
                mixed.storage.withUnsafeBufferPointer { mp in
                    o.withUnsafeMutableBufferPointer { op in
                        for head in 0..<h {
                            // o_h = W_v,h s̄_h + b_v,h: rows h·d..<(h+1)·d of W_v against s̄_h.
                            sgemm(false, true, m: 1, n: hw, k: d, mp.baseAddress! + head * d, lda: d,
                                  wv.baseAddress! + head * hw * d, ldb: d, beta: 1, op.baseAddress! + head * hw, ldc: hw)
                        }
                    }
                }
            }
        }
        o.withUnsafeBufferPointer { op in
            output.storage.withUnsafeBufferPointer { wo in
                out.withUnsafeMutableBufferPointer { sgemm(false, true, m: 1, n: output.rows, k: d, op.baseAddress!, lda: d,
                                                           wo.baseAddress!, ldb: d, beta: 1, $0.baseAddress!, ldc: output.rows) }
            }
        }
        return Pass(sources: s, q: q, keyQueries: keyQueries, probabilities: scores, mixed: mixed, output: out)
    }

    /// `∂/∂s` (`[T, D]` each) of the `K` functions whose gradients at the
    /// output are the rows of `dOut` (`[K, E]`).
    func backward(_ pass: Pass, outputGradient dOut: Matrix) -> [Matrix] {
        let d = width, hw = headWidth, t = pass.sources.rows, h = heads, k = dOut.rows
        // Through the output projection: ∂/∂o = dOut · W_out.
        let dO = product(dOut, output)
        // ∂/∂s̄_h = W_v,hᵀ ∂/∂o_h, rows k·H + h.
        var dMixed = Matrix(rows: k * h, cols: d)
        // ∂/∂p_hj = ⟨∂/∂s̄_h, s_j⟩ + ⟨∂/∂o_h, b_v,h⟩, rows k·H + h, columns j.
        var dP = Matrix(rows: k * h, cols: t)
        dO.storage.withUnsafeBufferPointer { g in
            value.storage.withUnsafeBufferPointer { wv in
                dMixed.storage.withUnsafeMutableBufferPointer { dm in
                    for head in 0..<h {
                        sgemm(false, false, m: k, n: d, k: hw, g.baseAddress! + head * hw, lda: d,
                              wv.baseAddress! + head * hw * d, ldb: d, dm.baseAddress! + head * d, ldc: h * d)
                    }
                }
            }
        }
        dMixed.storage.withUnsafeBufferPointer { dm in
            pass.sources.storage.withUnsafeBufferPointer { sp in
                dP.storage.withUnsafeMutableBufferPointer { sgemm(false, true, m: k * h, n: t, k: d, dm.baseAddress!, lda: d,
                                                                  sp.baseAddress!, ldb: d, $0.baseAddress!, ldc: t) }
            }
        }
        // Softmax backward: ∂/∂score_hj = p_hj (∂/∂p_hj − Σ_j' p_hj' ∂/∂p_hj').
        // The value bias adds the same ⟨∂/∂o_h, b_v,h⟩ to every j, which this
        // removes again, so it is left out above.
        var dScores = dP
        for r in 0..<(k * h) {
            let head = r % h
            var expected: Float = 0
            for j in 0..<t { expected += pass.probabilities[j, head] * dP[r, j] }
            for j in 0..<t { dScores[r, j] = pass.probabilities[j, head] * (dP[r, j] - expected) }
        }
        // The query's gradient: ∂/∂q_h = scale · W_k,h Σ_j ∂/∂score_hj s_j
        // (the key bias drops out: the score gradients of a head sum to 0).
        var weightedSources = Matrix(rows: k * h, cols: d)
        var dQ = Matrix(rows: k, cols: d)
        dScores.storage.withUnsafeBufferPointer { ds in
            pass.sources.storage.withUnsafeBufferPointer { sp in
                weightedSources.storage.withUnsafeMutableBufferPointer { sgemm(false, false, m: k * h, n: d, k: t, ds.baseAddress!, lda: t,
                                                                               sp.baseAddress!, ldb: d, $0.baseAddress!, ldc: d) }
            }
        }
        weightedSources.storage.withUnsafeBufferPointer { ws in
            key.storage.withUnsafeBufferPointer { wk in
                dQ.storage.withUnsafeMutableBufferPointer { dq in
                    for head in 0..<h {
                        sgemm(false, true, m: k, n: hw, k: d, alpha: scale, ws.baseAddress! + head * d, lda: h * d,
                              wk.baseAddress! + head * hw * d, ldb: d, dq.baseAddress! + head * hw, ldc: d)
                    }
                }
            }
        }
        let dQuerySource = product(dQ, query)
        var out: [Matrix] = []
        out.reserveCapacity(k)
        for c in 0..<k {
            var ds = Matrix(rows: t, cols: d)
            pass.probabilities.storage.withUnsafeBufferPointer { p in
                dMixed.storage.withUnsafeBufferPointer { dm in
                    dScores.storage.withUnsafeBufferPointer { dsc in
                        pass.keyQueries.storage.withUnsafeBufferPointer { kq in
                            ds.storage.withUnsafeMutableBufferPointer { o in
                                // Values: ∂/∂s_j += Σ_h p_hj ∂/∂s̄_h.
                                sgemm(false, false, m: t, n: d, k: h, p.baseAddress!, lda: h,
                                      dm.baseAddress! + c * h * d, ldb: d, o.baseAddress!, ldc: d)
                                // Keys: ∂/∂s_j += Σ_h ∂/∂score_hj k̃_h.
                                sgemm(true, false, m: t, n: d, k: h, dsc.baseAddress! + c * h * t, lda: t,
                                      kq.baseAddress!, ldb: d, beta: 1, o.baseAddress!, ldc: d)
                            }
                        }
                    }
                }
            }
            for j in 0..<d { ds.storage[j] += dQuerySource[c, j] }
            out.append(ds)
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
