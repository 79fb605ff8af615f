import Foundation
import SpurCore

/// `sfr`: cross-entropy with instance weights from the disagreement between
/// the zero-shot model and a short ERM reference, and feature dropout (our
/// reading of SFR).
public struct SFRMethod: MethodDefinition {
    public var summary: String { "cross-entropy with disagreement weights and feature dropout (our reading of SFR)" }
    public var terms: [LossTerm] { [.ce] }

    public func check(_ c: TrainingConfig) throws {
        guard c.sfrDropout >= 0 && c.sfrDropout < 1 else {
            throw SettingError("sfrDropout", "is \(c.sfrDropout), expected 0 ≤ p < 1")
        }
        guard c.sfrGamma.isFinite else { throw SettingError("sfrGamma", "is \(c.sfrGamma), expected a finite number") }
        guard c.sfrReferenceEpochs >= 1 && c.sfrReferenceEpochs <= 1000 else {
            throw SettingError("sfrReferenceEpochs", "is \(c.sfrReferenceEpochs), expected 1...1000")
        }
    }

    public func hooks(_ run: TrainingRunContext) -> any TrainingHooks { SFRHooks(run) }

    /// `1/(d + ε)` or `exp(γ d)`, normalised to mean 1.
    public static func weights(disagreement d: [Float], weighting: TrainingConfig.SFRWeighting, gamma: Float) -> [Float] {
        let raw = d.map { weighting == .inverse ? 1 / ($0 + 1e-3) : expf(gamma * $0) }
        let mean = raw.reduce(0, +) / Float(d.count)
        return raw.map { $0 / mean }
    }

    /// Disagreements between the zero-shot model and a short ERM reference,
    /// `d_i = ½ Σ_y |p_zs − p_ref|`, over the training split, and their weights.
    static func disagreement(config: TrainingConfig, data: TrainingData) -> (disagreement: [Float], weights: [Float]) {
        var reference = data.pretrained
        var sgd = SGD(learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
        let n = data.train.rows.count
        for epoch in 0..<config.sfrReferenceEpochs {
            var rng = SeededGenerator(seed: config.seed, purpose: "sfr-reference-\(epoch)")
            var order = Array(0..<n)
            order.shuffle(using: &rng)
            for s in stride(from: 0, to: n, by: config.batchSize) {
                let idx = Array(order[s..<min(n, s + config.batchSize)])
                let batch = LossBatch(images: data.train.images.gatherRows(idx), labels: idx.map { data.train.labels[$0] },
                                      attributes: idx.map { _ in -1 }, captions: Matrix(rows: idx.count, cols: data.classTemplates.cols),
                                      classTemplates: data.classTemplates, groupTemplates: data.groupTemplates,
                                      classCount: data.classes.count, templateCount: data.templateCount)
                sgd.step(&reference, gradients: Objective(terms: [.ce]).evaluate(reference, on: batch).gradients)
            }
        }
        func probabilities(_ h: ProjectionHeads) -> Matrix {
            let logits = HeadClassifier(heads: h, classTemplates: data.classTemplates, templateCount: data.templateCount)
                .logits(data.train.images).logSoftmaxRows()
            return Matrix(rows: logits.rows, cols: logits.cols, storage: logits.storage.map(expf))
        }
        let p0 = probabilities(data.pretrained), p1 = probabilities(reference)
        let d = (0..<n).map { i in 0.5 * (0..<p0.cols).reduce(Float(0)) { $0 + abs(p0[i, $1] - p1[i, $1]) } }
        return (d, weights(disagreement: d, weighting: config.sfrWeight, gamma: config.sfrGamma))
    }
}

/// How SFR's disagreements and weights spread over the training set: a
/// reference that barely moved makes every `d ≈ 0` and every weight ≈ 1.
public struct SFRWeightSummary: Codable, Equatable, Sendable {
    public var weighting: TrainingConfig.SFRWeighting
    /// Quantiles 0, 0.1, 0.5, 0.9, 1 of `d`.
    public var disagreement: [Float]
    public var weightMin: Float
    public var weightMax: Float

    public init(disagreement d: [Float], weights: [Float], weighting: TrainingConfig.SFRWeighting) {
        let sorted = d.sorted()
        disagreement = [0, 0.1, 0.5, 0.9, 1].map { sorted[Int((Double(sorted.count - 1) * $0).rounded())] }
        weightMin = weights.min() ?? 0
        weightMax = weights.max() ?? 0
        self.weighting = weighting
    }

    public var description: String {
        let q = disagreement.map { String(format: "%.3f", $0) }
        return "SFR disagreement d: min \(q[0]), 10% \(q[1]), median \(q[2]), 90% \(q[3]), max \(q[4]); "
            + String(format: "weights (%@) %.3f…%.3f", weighting.rawValue, weightMin, weightMax)
    }
}

final class SFRHooks: TrainingHooks {
    private let run: TrainingRunContext
    private var exampleWeights: [Float] = []

    init(_ run: TrainingRunContext) { self.run = run }

    func begin(emit: (TrainingEvent) -> Void) {
        let (d, w) = SFRMethod.disagreement(config: run.config, data: run.data)
        exampleWeights = w
        emit(.sfrWeights(SFRWeightSummary(disagreement: d, weights: w, weighting: run.config.sfrWeight)))
    }

    /// Inverted dropout on the pooled feature before W_v.
    func perturbImages(_ images: inout Matrix, rng: inout SeededGenerator) {
        guard run.config.sfrDropout > 0 else { return }
        let keep = 1 - run.config.sfrDropout
        for i in images.storage.indices {
            images.storage[i] = Double(rng.next() >> 11) * 0x1p-53 < Double(keep) ? images.storage[i] / keep : 0
        }
    }

    func weigh(_ objective: inout Objective, batch: LossBatch, indices: [Int], heads: ProjectionHeads, epoch: Int) {
        objective.exampleWeights = indices.map { exampleWeights[$0] }
    }
}
