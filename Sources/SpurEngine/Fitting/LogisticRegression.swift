import Foundation
import SpurCore

/// Multinomial logistic regression, the linear probe behind `spurscope
/// probe` and the `dfr` method. It minimises
///
///     J(W, b) = Σ_i w_i·CE_i / Σ_i w_i + (λ₂/2)‖W‖² + λ₁‖W‖₁,
///     CE_i = log Σ_c exp(z_ic) − z_{i,y_i},   z_i = W x̃_i + b,
///
/// with `x̃` the features, standardised when asked (mean 0, standard
/// deviation 1 per column, measured on the fitting rows), `w_i` optional
/// sample weights and the bias unpenalised. The objective is convex and,
/// with λ₂ > 0, has one minimiser up to a common shift of the bias (which
/// the softmax ignores; the fit keeps the bias centred).
///
/// Solver: L-BFGS (10 pairs) with a backtracking Armijo line search; with
/// λ₁ > 0 it becomes OWL-QN (Andrew & Gao 2007): the pseudo-gradient of
/// the L1 term, directions and steps kept in the current orthant. The
/// forward and backward passes are two `sgemm`s each; sums of losses are
/// accumulated in Double.
public struct LogisticRegression: Sendable {
    public struct Options: Sendable, Equatable {
        public var l2: Double
        public var l1: Double
        public var standardize: Bool
        public var maxIterations: Int
        /// Stop when the largest entry of the (pseudo-)gradient is below this.
        public var gradientTolerance: Double

        public init(l2: Double = 1e-3, l1: Double = 0, standardize: Bool = true,
                    maxIterations: Int = 1000, gradientTolerance: Double = 1e-6) {
            self.l2 = l2; self.l1 = l1; self.standardize = standardize
            self.maxIterations = maxIterations; self.gradientTolerance = gradientTolerance
        }
    }

    /// How the optimisation ended.
    public struct Report: Sendable, Equatable {
        public var iterations: Int
        public var objective: Double
        /// Largest entry of the (pseudo-)gradient at the solution.
        public var gradientNorm: Double
    }

    /// `[C, D]`, acting on `(x − mean) / deviation`.
    public var weights: Matrix
    public var bias: [Float]
    /// Per-column mean of the fitting rows, and their standard deviation
    /// when standardising (1 without).
    public var mean: [Float]
    public var deviation: [Float]
    public var report: Report

    public var classCount: Int { weights.rows }

    /// The same classifier on raw features: `z = x W'ᵀ + b'` with
    /// `W'_cd = W_cd / σ_d` and `b' = b − W' μ`.
    public var rawLinear: (weights: Matrix, bias: [Float]) {
        var w = weights
        for c in 0..<w.rows { for d in 0..<w.cols { w[c, d] /= deviation[d] } }
        let shift = Matrix.product(Matrix(rows: 1, cols: mean.count, storage: mean), w, transposeB: true)
        return (w, zip(bias, shift.storage).map { $0 - $1 })
    }

    /// Logits `[N, C]` of raw features.
    public func logits(_ x: Matrix) -> Matrix {
        let (w, b) = rawLinear
        var z = Matrix.product(x, w, transposeB: true)
        for i in 0..<z.rows { for c in 0..<z.cols { z[i, c] += b[c] } }
        return z
    }

    public func predict(_ x: Matrix) -> [Int] { logits(x).argmaxRows() }

    /// Fits the model to the rows of `x` with labels in `0..<classCount`.
    public static func fit(_ x: Matrix, labels: [Int], classCount: Int, sampleWeights: [Float]? = nil,
                           options: Options = Options()) -> LogisticRegression {
        precondition(x.rows == labels.count && x.rows > 0, "logistic regression needs one label per row and at least one row")
        precondition(classCount >= 2 && labels.allSatisfy { $0 >= 0 && $0 < classCount }, "labels outside 0..<\(classCount)")
        precondition(options.l2 >= 0 && options.l1 >= 0, "negative regularisation")
        let n = x.rows, d = x.cols
        let raw = sampleWeights ?? [Float](repeating: 1, count: n)
        precondition(raw.count == n && raw.allSatisfy { $0 >= 0 }, "one non-negative weight per row")
        let total = raw.reduce(0.0) { $0 + Double($1) }
        precondition(total > 0, "sample weights sum to zero")
        let w = raw.map { Float(Double($0) / total) }

        // Columns are always centred: the unpenalised bias absorbs the shift,
        // so the minimiser is the same, but the bias no longer trades off
        // against the weights of columns far from 0 (an ill-conditioned
        // direction that single precision resolves poorly).
        var mean = [Float](repeating: 0, count: d), deviation = [Float](repeating: 1, count: d)
        var features = x
        for c in 0..<d {
            var s = 0.0, s2 = 0.0
            for i in 0..<n { let v = Double(x[i, c]); s += v; s2 += v * v }
            let m = s / Double(n)
            let sd = (max(s2 / Double(n) - m * m, 0)).squareRoot()
            mean[c] = Float(m)
            // A constant column carries nothing; dividing by 1 keeps it at 0.
            if options.standardize { deviation[c] = sd > 1e-12 ? Float(sd) : 1 }
            for i in 0..<n { features[i, c] = (x[i, c] - mean[c]) / deviation[c] }
        }
        let problem = Problem(x: features, labels: labels, weights: w, classCount: classCount, l2: options.l2)
        let (theta, report) = minimize(problem, l1: options.l1, options: options)
        var weights = Matrix(rows: classCount, cols: d, storage: theta[0 ..< classCount * d].map { Float($0) })
        var bias = theta[classCount * d ..< theta.count].map { Float($0) }
        let centre = bias.reduce(0, +) / Float(classCount)
        bias = bias.map { $0 - centre }
        if !weights.isFinite { weights = Matrix(rows: classCount, cols: d) }
        return LogisticRegression(weights: weights, bias: bias, mean: mean, deviation: deviation, report: report)
    }

    // MARK: the smooth part

    /// The data term plus the L2 penalty, with its gradient.
    struct Problem {
        var x: Matrix
        var labels: [Int]
        var weights: [Float]
        var classCount: Int
        var l2: Double

        var parameterCount: Int { classCount * (x.cols + 1) }
        /// Entries `0 ..< C·D` are `W` (row-major); the last `C` are the bias.
        var penalisedCount: Int { classCount * x.cols }

        func evaluate(_ theta: [Double]) -> (value: Double, gradient: [Double]) {
            let c = classCount, d = x.cols, n = x.rows
            let w = Matrix(rows: c, cols: d, storage: theta[0 ..< c * d].map { Float($0) })
            var z = Matrix.product(x, w, transposeB: true)   // [N, C]
            var value = 0.0
            var biasGradient = [Double](repeating: 0, count: c)
            // z becomes the residual w̃_i (p_i − e_{y_i}) in place.
            for i in 0..<n {
                var m = -Double.infinity
                for k in 0..<c { m = max(m, Double(z[i, k]) + theta[c * d + k]) }
                var s = 0.0
                var p = [Double](repeating: 0, count: c)
                for k in 0..<c { p[k] = exp(Double(z[i, k]) + theta[c * d + k] - m); s += p[k] }
                let y = labels[i]
                let wi = Double(weights[i])
                value += wi * ((m + log(s)) - (Double(z[i, y]) + theta[c * d + y]))
                for k in 0..<c {
                    let r = wi * (p[k] / s - (k == y ? 1 : 0))
                    z[i, k] = Float(r)
                    biasGradient[k] += r
                }
            }
            let gw = Matrix.product(z, transposeA: true, x)   // [C, D]
            var gradient = [Double](repeating: 0, count: parameterCount)
            var penalty = 0.0
            for j in 0..<(c * d) {
                gradient[j] = Double(gw.storage[j]) + l2 * theta[j]
                penalty += theta[j] * theta[j]
            }
            for k in 0..<c { gradient[c * d + k] = biasGradient[k] }
            return (value + 0.5 * l2 * penalty, gradient)
        }
    }

    // MARK: L-BFGS / OWL-QN

    static func minimize(_ problem: Problem, l1: Double, options: Options) -> ([Double], Report) {
        let count = problem.parameterCount, penalised = problem.penalisedCount
        let memory = 10
        func l1Norm(_ t: [Double]) -> Double { l1 == 0 ? 0 : l1 * t[0..<penalised].reduce(0) { $0 + abs($1) } }
        /// The steepest-descent direction's negative: the gradient of the smooth
        /// part plus the L1 subgradient of least magnitude.
        func pseudoGradient(_ t: [Double], _ g: [Double]) -> [Double] {
            guard l1 > 0 else { return g }
            var pg = g
            for j in 0..<penalised {
                if t[j] > 0 { pg[j] = g[j] + l1 }
                else if t[j] < 0 { pg[j] = g[j] - l1 }
                else if g[j] + l1 < 0 { pg[j] = g[j] + l1 }
                else if g[j] - l1 > 0 { pg[j] = g[j] - l1 }
                else { pg[j] = 0 }
            }
            return pg
        }
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

        var theta = [Double](repeating: 0, count: count)
        var (f, g) = problem.evaluate(theta)
        var objective = f + l1Norm(theta)
        var pairs: [(s: [Double], y: [Double], rho: Double)] = []
        var iterations = 0
        var stalled = 0
        var pg = pseudoGradient(theta, g)
        while iterations < options.maxIterations {
            let gradientNorm = pg.reduce(0) { max($0, abs($1)) }
            if gradientNorm <= options.gradientTolerance { break }
            // Two-loop recursion: direction = −H·pg.
            var q = pg
            var alphas = [Double](repeating: 0, count: pairs.count)
            for k in stride(from: pairs.count - 1, through: 0, by: -1) {
                alphas[k] = pairs[k].rho * dot(pairs[k].s, q)
                for j in 0..<count { q[j] -= alphas[k] * pairs[k].y[j] }
            }
            if let last = pairs.last {
                let gamma = dot(last.s, last.y) / dot(last.y, last.y)
                for j in 0..<count { q[j] *= gamma }
            } else {
                // First step: a unit-length move in the steepest direction at most.
                let norm = dot(pg, pg).squareRoot()
                for j in 0..<count { q[j] /= max(1, norm) }
            }
            for k in 0..<pairs.count {
                let beta = pairs[k].rho * dot(pairs[k].y, q)
                for j in 0..<count { q[j] += pairs[k].s[j] * (alphas[k] - beta) }
            }
            var direction = q.map { -$0 }
            if l1 > 0 {
                // OWL-QN: keep only components that agree with steepest descent.
                for j in 0..<penalised where direction[j] * pg[j] >= 0 { direction[j] = 0 }
            }
            if dot(direction, pg) >= 0 {
                // Not a descent direction (curvature pairs gone stale): restart.
                pairs.removeAll()
                direction = pg.map { -$0 / max(1, dot(pg, pg).squareRoot()) }
            }
            let orthant: [Double] = l1 > 0
                ? (0..<penalised).map { j in theta[j] != 0 ? (theta[j] > 0 ? 1 : -1) : (pg[j] < 0 ? 1 : -1) } : []
            var step = 1.0
            var accepted: (theta: [Double], f: Double, g: [Double], objective: Double)?
            for _ in 0..<50 {
                var candidate = theta
                for j in 0..<count { candidate[j] += step * direction[j] }
                if l1 > 0 { for j in 0..<penalised where candidate[j] * orthant[j] <= 0 { candidate[j] = 0 } }
                let (fc, gc) = problem.evaluate(candidate)
                let oc = fc + l1Norm(candidate)
                var predicted = 0.0
                for j in 0..<count { predicted += pg[j] * (candidate[j] - theta[j]) }
                if oc.isFinite && oc <= objective + 1e-4 * predicted {
                    accepted = (candidate, fc, gc, oc)
                    break
                }
                step *= 0.5
            }
            iterations += 1
            // No step decreases the objective: the minimum is reached to the
            // precision of the single-precision products.
            guard let next = accepted else { break }
            let s = zip(next.theta, theta).map { $0 - $1 }
            let y = zip(next.g, g).map { $0 - $1 }
            let sy = dot(s, y)
            if sy > 1e-12 * max(dot(y, y), 1e-300) {
                pairs.append((s, y, 1 / sy))
                if pairs.count > memory { pairs.removeFirst() }
            }
            stalled = objective - next.objective <= 1e-12 * max(1, abs(objective)) ? stalled + 1 : 0
            theta = next.theta; f = next.f; g = next.g; objective = next.objective
            pg = pseudoGradient(theta, g)
            if stalled >= 5 { break }
        }
        _ = f
        return (theta, Report(iterations: iterations, objective: objective, gradientNorm: pg.reduce(0) { max($0, abs($1)) }))
    }
}
