import Foundation
import Testing
@testable import SpurCore

struct MatrixTests {
    let a = Matrix([[1, 2, 3], [4, 5, 6]])          // 2×3
    let b = Matrix([[7, 8], [9, 10], [11, 12]])     // 3×2

    @Test func productMatchesHandComputation() {
        // [1 2 3; 4 5 6]·[7 8; 9 10; 11 12] = [58 64; 139 154]
        #expect(Matrix.product(a, b) == Matrix([[58, 64], [139, 154]]))
        // aᵀ·aᵀᵀ = aᵀa
        #expect(Matrix.product(a, transposeA: true, a) == Matrix([[17, 22, 27], [22, 29, 36], [27, 36, 45]]))
        // a·bᵀᵀ via transposeB on bᵀ
        #expect(Matrix.product(a, b.transposed, transposeB: true) == Matrix([[58, 64], [139, 154]]))
        #expect(Matrix.product(a, b, alpha: 0.5) == Matrix([[29, 32], [69.5, 77]]))
    }

    @Test func gemmAccumulatesWithBeta() {
        var c = Matrix([[1, 1], [1, 1]])
        Matrix.gemm(a, b, alpha: 1, beta: 2, into: &c)
        #expect(c == Matrix([[60, 66], [141, 156]]))
    }

    @Test func gemmWithEmptyInnerDimensionScalesByBeta() {
        var c = Matrix([[3, 4]])
        Matrix.gemm(Matrix(rows: 1, cols: 0), Matrix(rows: 0, cols: 2), beta: 0, into: &c)
        #expect(c == Matrix([[0, 0]]))
    }

    @Test func levelOneOperations() {
        var m = Matrix([[1, -2], [3, 4]])
        m.add(Matrix([[1, 1], [1, 1]]), scaledBy: 2)
        #expect(m == Matrix([[3, 0], [5, 6]]))
        m.scale(by: -1)
        #expect(m == Matrix([[-3, 0], [-5, -6]]))
        #expect(m.dot(Matrix([[1, 1], [1, 0]])) == -8)
        #expect(m.maxAbs() == 6)
        #expect(m.sum() == -14)
    }

    @Test func normalizedRowsHaveUnitLengthAndKeepNorms() {
        let n = Matrix([[3, 4], [0, 0], [0, -2]]).normalizedRows()
        #expect(n.output == Matrix([[0.6, 0.8], [0, 0], [0, -1]]))
        #expect(n.norms == [5, Matrix.normEpsilon, 2])
    }

    /// f(x) = ⟨w, normalize(x)⟩ per row; the backward pass against central
    /// differences computed in Double from the definition.
    @Test func normalizeBackwardMatchesFiniteDifferences() {
        let x: [[Double]] = [[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]]
        let w: [[Double]] = [[0.5, 0.25, -1.0], [-0.3, 0.8, 0.6]]
        func f(_ row: [Double], _ wr: [Double]) -> Double {
            let n = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            return zip(row, wr).map { $0 / n * $1 }.reduce(0, +)
        }
        let xm = Matrix(x.map { $0.map(Float.init) })
        let forward = xm.normalizedRows()
        let dx = Matrix.normalizeRowsBackward(forward, gradient: Matrix(w.map { $0.map(Float.init) }))
        let h = 1e-6
        for r in 0..<2 {
            for c in 0..<3 {
                var up = x[r], down = x[r]
                up[c] += h; down[c] -= h
                let numeric = (f(up, w[r]) - f(down, w[r])) / (2 * h)
                #expect(abs(Double(dx[r, c]) - numeric) < 1e-5, "row \(r) col \(c): \(dx[r, c]) vs \(numeric)")
            }
        }
    }

    @Test func logSoftmaxIsStableAndExact() {
        let l = Matrix([[0, Float(log(3.0))], [1000, 1000]]).logSoftmaxRows()
        #expect(abs(l[0, 0] - Float(-log(4.0))) < 1e-6)
        #expect(abs(l[0, 1] - Float(log(3.0) - log(4.0))) < 1e-6)
        #expect(abs(l[1, 0] - Float(-log(2.0))) < 1e-6)
        #expect(l.isFinite)
    }

    @Test func meanOfRowBlocksAveragesConsecutiveRows() {
        let m = Matrix([[1, 2], [3, 4], [10, 20], [30, 40]]).meanOfRowBlocks(2)
        #expect(m == Matrix([[2, 3], [20, 30]]))
    }

    @Test func stackingAndSlicing() {
        let s = Matrix.vstack([a, Matrix([[7, 8, 9]])])
        #expect(s.rows == 3 && s.row(2) == [7, 8, 9])
        #expect(s.rows(1..<3) == Matrix([[4, 5, 6], [7, 8, 9]]))
        #expect(a.transposed == Matrix([[1, 4], [2, 5], [3, 6]]))
    }

    @Test func seededGeneratorIsDeterministicPerPurpose() {
        var g1 = SeededGenerator(seed: 42, purpose: "data")
        var g2 = SeededGenerator(seed: 42, purpose: "data")
        var g3 = SeededGenerator(seed: 42, purpose: "batching")
        let s1 = (0..<5).map { _ in g1.next() }
        #expect(s1 == (0..<5).map { _ in g2.next() })
        #expect(s1 != (0..<5).map { _ in g3.next() })
        var g = SeededGenerator(seed: 3)
        let xs = (0..<20000).map { _ in Double(g.nextGaussian()) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}

struct GatherRowsTests {
    @Test func rowsInTheGivenOrderWithRepeats() {
        let m = Matrix([[1, 2], [3, 4], [5, 6]])
        #expect(m.gatherRows([2, 0, 2]) == Matrix([[5, 6], [1, 2], [5, 6]]))
        #expect(m.gatherRows([]).rows == 0)
    }
}

struct PositiveDefiniteSolveTests {
    /// [[4, 2], [2, 3]] X = [[2, 8], [1, 7]]: det 8, inverse [[3, −2], [−2, 4]]/8,
    /// X = [[(6 − 2)/8, (24 − 14)/8], [(−4 + 4)/8, (−16 + 28)/8]] = [[0.5, 1.25], [0, 1.5]].
    @Test func twoByTwoByHand() throws {
        let x = try #require(Matrix.solvePositiveDefinite(Matrix([[4, 2], [2, 3]]), Matrix([[2, 8], [1, 7]])))
        #expect(x.rows == 2 && x.cols == 2)
        for (got, want) in zip(x.storage, [Float(0.5), 1.25, 0, 1.5]) { #expect(abs(got - want) < 1e-6) }
    }

    /// A random Gram matrix: the residual A X − B vanishes.
    @Test func gramSystemResidualIsZero() throws {
        var rng = SeededGenerator(seed: 8)
        let g = rng.gaussianMatrix(rows: 5, cols: 9)
        let a = Matrix.product(g, g, transposeB: true)
        let b = rng.gaussianMatrix(rows: 5, cols: 3)
        let x = try #require(Matrix.solvePositiveDefinite(a, b))
        var residual = Matrix.product(a, x)
        residual.add(b, scaledBy: -1)
        #expect(residual.maxAbs() < 1e-4 * max(1, b.maxAbs()))
    }

    /// Linearly dependent rows make a singular Gram matrix: no solution is claimed.
    @Test func singularIsRefused() {
        let g = Matrix([[1, 2, 3], [2, 4, 6]])
        #expect(Matrix.solvePositiveDefinite(Matrix.product(g, g, transposeB: true), Matrix([[1], [1]])) == nil)
    }
}

/// The one argmax every classifier predicts with (issue 12).
struct ArgmaxRowsTests {
    @Test func firstLargestWinsAndNaNNeverDoes() {
        let z = Matrix([[0.1, 0.7, 0.2], [0.5, 0.5, 0.1], [-3, -1, -2], [.nan, 2, 1], [.nan, .nan, .nan], [1, .nan, 3]])
        #expect(z.argmaxRows() == [1, 0, 1, 1, 0, 2])
        #expect(Matrix(rows: 2, cols: 0).argmaxRows() == [0, 0])
        #expect(Matrix(rows: 0, cols: 3).argmaxRows() == [])
    }
}

/// `BLASInfo.singleThreaded`: OpenBLAS runs on one thread inside, also after
/// an inner section closes or throws (a plain save-and-restore in each
/// section would switch threads back on in the middle of the outer one).
struct SingleThreadedSectionTests {
    struct Stop: Error {}

    @Test func innerSectionsDoNotEndTheOuterOne() {
        BLASInfo.singleThreaded {
            #expect(BLASInfo.threads == 1)
            BLASInfo.singleThreaded { #expect(BLASInfo.threads == 1) }
            #expect(BLASInfo.threads == 1)
            #expect(throws: Stop.self) { try BLASInfo.singleThreaded { throw Stop() } }
            #expect(BLASInfo.threads == 1)
            // Sections open and close on other threads meanwhile.
            DispatchQueue.concurrentPerform(iterations: 8) { _ in BLASInfo.singleThreaded { _ = BLASInfo.threads } }
            #expect(BLASInfo.threads == 1)
        }
    }
}
