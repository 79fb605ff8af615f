import Foundation
import Testing
import SpurCore
@testable import SpurEngine

struct LogisticRegressionTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            var name: String
            var l2: Double
            var l1: Double
            var standardize: Bool
            var weighted: Bool
            var weights: [Double]
            var bias: [Double]
            var objective: Double
        }
        var classes: Int
        var rows: Int
        var cols: Int
        var features: [Double]
        var labels: [Int]
        var sample_weights: [Double]
        var cases: [Case]
    }

    /// The minimiser of the regularised objective against
    /// `Fixtures/make_logistic_reference.py`: float64 Newton (L2) and
    /// L-BFGS-B on the positive/negative split (L1), standardised or raw
    /// features, with and without sample weights.
    @Test func minimiserMatchesFloat64Reference() throws {
        let url = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/logistic_reference.json")
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
        let x = Matrix(rows: ref.rows, cols: ref.cols, storage: ref.features.map { Float($0) })
        #expect(ref.cases.count == 3)
        for c in ref.cases {
            let options = LogisticRegression.Options(l2: c.l2, l1: c.l1, standardize: c.standardize,
                                                     maxIterations: 5000, gradientTolerance: 1e-7)
            let fit = LogisticRegression.fit(x, labels: ref.labels, classCount: ref.classes,
                                             sampleWeights: c.weighted ? ref.sample_weights.map { Float($0) } : nil,
                                             options: options)
            // Without standardisation the reference is in raw feature space.
            let (weights, bias) = c.standardize ? (fit.weights, fit.bias) : fit.rawLinear
            let scale = max(c.weights.map(abs).max()!, 1)
            for (i, (got, want)) in zip(weights.storage, c.weights).enumerated() {
                #expect(abs(Double(got) - want) < 2e-3 * scale, "\(c.name): W[\(i)] = \(got), reference \(want)")
                // L1 sets coefficients exactly to zero, as the reference does.
                if c.l1 > 0 && want == 0 { #expect(got == 0, "\(c.name): W[\(i)] = \(got), reference exactly 0") }
            }
            for (k, (got, want)) in zip(bias, c.bias).enumerated() {
                #expect(abs(Double(got) - want) < 2e-3 * scale, "\(c.name): b[\(k)] = \(got), reference \(want)")
            }
            #expect(abs(fit.report.objective - c.objective) < 1e-5, "\(c.name): objective \(fit.report.objective) vs \(c.objective)")
        }
    }

    /// Folding the standardisation into the weights gives the same logits.
    @Test func rawLinearEqualsStandardisedModel() {
        var rng = SeededGenerator(seed: 3)
        var x = rng.gaussianMatrix(rows: 40, cols: 3)
        for i in 0..<40 { x[i, 0] = x[i, 0] * 10 + 4 }
        let labels = (0..<40).map { x[$0, 1] + 0.1 * x[$0, 0] > 0.4 ? 1 : 0 }
        let fit = LogisticRegression.fit(x, labels: labels, classCount: 2)
        let z = fit.logits(x)
        for i in 0..<40 {
            var manual = [Float](repeating: 0, count: 2)
            for c in 0..<2 {
                manual[c] = fit.bias[c]
                for d in 0..<3 { manual[c] += fit.weights[c, d] * (x[i, d] - fit.mean[d]) / fit.deviation[d] }
                #expect(abs(manual[c] - z[i, c]) < 1e-4)
            }
        }
    }

    /// Three classes in three separated clusters (margin 4 standard
    /// deviations): a linear probe must get every held-out point right.
    @Test func separableClassesAreFoundExactly() {
        var rng = SeededGenerator(seed: 11)
        let centres: [[Float]] = [[6, 0], [-3, 5], [-3, -5]]
        func sample(_ n: Int) -> (Matrix, [Int]) {
            var x = Matrix(rows: n, cols: 4)
            var y: [Int] = []
            for i in 0..<n {
                let c = i % 3
                y.append(c)
                x[i, 0] = centres[c][0] + 0.5 * rng.nextGaussian()
                x[i, 1] = centres[c][1] + 0.5 * rng.nextGaussian()
                // Two noise columns the probe must learn to ignore.
                x[i, 2] = rng.nextGaussian() * 3
                x[i, 3] = rng.nextGaussian()
            }
            return (x, y)
        }
        let (train, yTrain) = sample(150), (test, yTest) = sample(300)
        let fit = LogisticRegression.fit(train, labels: yTrain, classCount: 3, options: .init(l2: 1e-3))
        #expect(fit.predict(train) == yTrain)
        #expect(fit.predict(test) == yTest)
        #expect(fit.report.gradientNorm < 1e-4)
    }

    /// Labels drawn independently of the features: nothing to find, so a
    /// held-out set is labelled at chance (±5 points is 4.5 standard errors).
    @Test func independentLabelsStayAtChance() {
        var rng = SeededGenerator(seed: 12)
        func sample(_ n: Int) -> (Matrix, [Int]) {
            (rng.gaussianMatrix(rows: n, cols: 20), (0..<n).map { _ in Int(rng.next() % 2) })
        }
        let (train, yTrain) = sample(2000), (test, yTest) = sample(2000)
        let fit = LogisticRegression.fit(train, labels: yTrain, classCount: 2, options: .init(l2: 1e-3))
        let correct = zip(fit.predict(test), yTest).filter { $0 == $1 }.count
        #expect(abs(Double(correct) / 2000 - 0.5) < 0.05, "held-out accuracy \(Double(correct) / 2000)")
    }

    /// Sample weights act as repeated rows: weight 2 equals the row twice.
    @Test func weightsEqualRepetition() {
        var rng = SeededGenerator(seed: 13)
        let x = rng.gaussianMatrix(rows: 30, cols: 2)
        let y = (0..<30).map { x[$0, 0] + 0.7 * rng.nextGaussian() > 0 ? 1 : 0 }
        let w = (0..<30).map { Float($0 % 3 == 0 ? 2 : 1) }
        let repeated = (0..<30).flatMap { $0 % 3 == 0 ? [$0, $0] : [$0] }
        let options = LogisticRegression.Options(l2: 0.01, standardize: false, gradientTolerance: 1e-7)
        let a = LogisticRegression.fit(x, labels: y, classCount: 2, sampleWeights: w, options: options)
        let b = LogisticRegression.fit(x.gatherRows(repeated), labels: repeated.map { y[$0] }, classCount: 2, options: options)
        // Compared in raw feature space: the centring (an unweighted mean) differs.
        let (wa, ba) = a.rawLinear, (wb, bb) = b.rawLinear
        for (p, q) in zip(wa.storage + ba, wb.storage + bb) { #expect(abs(p - q) < 1e-3, "\(p) vs \(q)") }
    }
}
