import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// The lane-wise exp the activations and softmax use, against libm.
struct VectorExpTests {
    @Test func matchesExpfWithinAFewUlp() {
        var rng = SeededGenerator(seed: 3)
        var worst: Float = 0
        for k in 0..<20_000 {
            var x = SIMD8<Float>()
            // Within the clamp (±87): a grid across it, then typical arguments.
            for j in 0..<8 { x[j] = k < 10 ? Float(k * 8 + j - 40) * 2.1 : 10 * rng.nextGaussian() }
            let e = vectorExp(x)
            for j in 0..<8 {
                let ref = expf(x[j])
                worst = max(worst, abs(e[j] - ref) / ref)
            }
        }
        #expect(worst < 4 * Float.ulpOfOne, "worst relative error \(worst)")
    }

    @Test func clampsInsteadOfOverflowing() {
        let e = vectorExp(SIMD8(-.infinity, -1000, -87, 0, 87, 1000, .infinity, 1))
        #expect(e[3] == 1 && abs(e[7] - expf(1)) <= 2 * Float.ulpOfOne * expf(1))
        #expect((0..<8).allSatisfy { e[$0].isFinite && e[$0] > 0 })
        #expect(e[0] == e[1] && e[1] == e[2] && e[2].isNormal && e[4] == e[5] && e[5] == e[6])
    }

    @Test func softmaxRowSumsItsExponentials() {
        var row: [Float] = (0..<13).map { Float($0) * 0.37 - 2 }
        let reference = row.map { expf($0 - 1.5) }
        let total = row.withUnsafeMutableBufferPointer { Lanes.expSubtracting(1.5, $0.baseAddress!, count: 13) }
        #expect(zip(row, reference).allSatisfy { abs($0 - $1) <= 4 * Float.ulpOfOne * $1 })
        #expect(abs(total - reference.reduce(0, +)) < 1e-5)
    }
}
