/// `exp` eight lanes at a time, for the activation and softmax loops that
/// would otherwise call libm once per value (a tenth of a ViT's forward
/// pass). Cephes' single-precision scheme: `x = n·ln2 + r` with ln2 split in
/// two for an exact reduction, a degree-6 polynomial for `eʳ` on |r| ≤ ½ln2,
/// and `2ⁿ` put straight into the exponent bits; within 2 ulp of `expf`.
/// Only operations baseline x86-64 (SSE2) has in vector form: `n` is
/// rounded by adding 1.5·2²³ (whose low mantissa bits then hold it), not by
/// `floor`, which would fall back to a libm call per lane. Inputs are
/// clamped to ±87, where float's normal range ends, so the result is never
/// infinite or denormal.
@inline(__always)
func vectorExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let x = pointwiseMin(pointwiseMax(x, SIMD8(repeating: -87)), SIMD8(repeating: 87))
    let magic: Float = 12_582_912  // 1.5·2²³
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = SIMD8<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let y = p * r * r + r + 1
    let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- magic.bitPattern.int32 &+ 127) &<< 23
    return y * unsafeBitCast(exponent, to: SIMD8<Float>.self)
}

private extension UInt32 {
    var int32: Int32 { Int32(bitPattern: self) }
}

/// Elementwise loops over floats, eight at a time with a scalar tail.
enum Lanes {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// `x[i] = exp(x[i] - shift)`, returning their sum (a softmax row).
    static func expSubtracting(_ shift: Float, _ x: UnsafeMutablePointer<Float>, count: Int) -> Float {
        var sum = SIMD8<Float>()
        var i = 0
        while i + 8 <= count {
            let e = vectorExp(load(x + i) - shift)
            store(e, x + i)
            sum += e
            i += 8
        }
        var total = sum.sum()
        while i < count {
            var tail = SIMD8<Float>(repeating: -.infinity)
            let n = min(8, count - i)
            for j in 0..<n { tail[j] = x[i + j] - shift }
            let e = vectorExp(tail)
            for j in 0..<n { x[i + j] = e[j]; total += e[j] }
            i += n
        }
        return total
    }
}
