import Foundation
import SpurCore

/// Deep Feature Reweighting (Kirichenko, Izmailov & Wilson, ICLR 2023) on
/// spurscope's frozen embeddings: a new linear classifier on
/// `v = normalize(W_v x)` fitted by logistic regression on a group-balanced
/// subsample of the first half of the validation split, its L2 strength
/// chosen by worst-group accuracy on the second half. It uses the
/// validation split's group labels, which the other methods use only to
/// pick a checkpoint.
public enum DeepFeatureReweighting {
    /// L2 strengths tried (on the mean loss of standardised embeddings),
    /// strongest first so that ties go to the simpler model.
    public static let l2Grid: [Double] = [10, 3, 1, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    /// Balanced subsamples whose classifiers are averaged (the paper's
    /// ensemble); one suffices when the groups of the first half are equal.
    public static let subsamples = 10

    public struct Outcome: Sendable {
        /// The classifier on `v`: `[C, E]` weights and a bias, scale 1.
        public var classifier: HeadClassifier
        public var l2: Double
        /// Worst-group and average accuracy on the held-out second half.
        public var heldOutWorstGroup: Double
        public var heldOutAverage: Double
        /// Examples per group in each balanced subsample, groups, and held-out examples.
        public var perGroup: Int
        public var groups: Int
        public var heldOut: Int
    }

    /// `values` are the examples' attribute values (−1 unknown: left out),
    /// groups are `label · valueCount + value`.
    public static func fit(heads: ProjectionHeads, images: Matrix, labels: [Int], values: [Int], valueCount: Int,
                           classCount: Int, seed: UInt64) throws -> Outcome {
        let v = Matrix.product(images, heads.image, transposeB: true).normalizedRows().output
        var members: [Int: [Int]] = [:]
        for i in labels.indices where values[i] >= 0 { members[labels[i] * valueCount + values[i], default: []].append(i) }
        // Halves stratified by group, so both see every group.
        var rng = SeededGenerator(seed: seed, purpose: "dfr-halves")
        var first: [Int: [Int]] = [:], second: [Int] = []
        for g in members.keys.sorted() {
            var m = members[g]!
            m.shuffle(using: &rng)
            let cut = (m.count + 1) / 2
            first[g] = Array(m[..<cut])
            second += m[cut...]
        }
        guard Set(first.keys.map { $0 / valueCount }).count >= 2 else {
            throw SettingError("method", "dfr: the val split has labelled groups of fewer than two classes: DFR needs every class in val")
        }
        guard !second.isEmpty else {
            throw SettingError("method", "dfr: the val split is too small to hold out examples for choosing the regularisation")
        }
        let perGroup = first.values.map(\.count).min()!
        let equal = first.values.allSatisfy { $0.count == perGroup }
        let draws: [[Int]] = (0..<(equal ? 1 : subsamples)).map { k in
            var r = SeededGenerator(seed: seed, purpose: "dfr-subsample-\(k)")
            return first.keys.sorted().flatMap { g -> [Int] in
                var m = first[g]!
                m.shuffle(using: &r)
                return Array(m.prefix(perGroup))
            }.sorted()
        }
        let heldOutImages = images.gatherRows(second)
        let heldOutLabels = second.map { labels[$0] }, heldOutValues = second.map { values[$0] }
        var best: Outcome?
        for l2 in l2Grid {
            var weights = Matrix(rows: classCount, cols: v.cols)
            var bias = [Float](repeating: 0, count: classCount)
            for rows in draws {
                let fit = LogisticRegression.fit(v.gatherRows(rows), labels: rows.map { labels[$0] }, classCount: classCount,
                                                 options: .init(l2: l2))
                let (w, b) = fit.rawLinear
                weights.add(w, scaledBy: 1 / Float(draws.count))
                for c in 0..<classCount { bias[c] += b[c] / Float(draws.count) }
            }
            let classifier = HeadClassifier(heads: heads, classEmbeddings: weights, scale: 1, bias: bias)
            let acc = GroupAccuracy(labels: heldOutLabels, predictions: classifier.predict(heldOutImages),
                                    values: heldOutValues)
            let worst = acc.worstGroup?.accuracy ?? 0
            if best == nil || (worst, acc.average) > (best!.heldOutWorstGroup, best!.heldOutAverage) {
                best = Outcome(classifier: classifier, l2: l2, heldOutWorstGroup: worst, heldOutAverage: acc.average,
                               perGroup: perGroup, groups: first.count, heldOut: second.count)
            }
        }
        return best!
    }
}

/// `dfr`: DFR's class side in place of the text-derived one; no projection trained.
public struct DFRMethod: ClassSideMethod {
    public var summary: String {
        "logistic regression on frozen embeddings, fitted on group-balanced val (DFR; uses val group labels)"
    }
    public var needsImageGroups: Bool { true }
    public var usesValidationGroupLabels: Bool { true }
    /// DFR selects its own L2 strength on half of val.
    public func tuningCandidates(_ grid: TuningGrid, officialFormAvailable: Bool) -> [TuningCandidate] { [.defaults] }

    public func classifier(data: TrainingData, config: TrainingConfig) throws -> (HeadClassifier, note: String) {
        let o = try DeepFeatureReweighting.fit(heads: data.pretrained, images: data.val.images, labels: data.val.labels,
                                               values: data.val.values, valueCount: data.valueCount,
                                               classCount: data.classes.count, seed: config.seed)
        let source = config.groundTruth ? "ground truth" : "detections"
        let note = String(format: "fitted on val group labels (%@): %d per group × %d groups from the first half of val; "
                          + "L2 %g chosen by worst group %.1f%% on the other half (%d examples)",
                          source, o.perGroup, o.groups, o.l2, 100 * o.heldOutWorstGroup, o.heldOut)
        return (o.classifier, note)
    }
}
