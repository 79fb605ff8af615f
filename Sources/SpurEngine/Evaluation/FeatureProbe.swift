import Foundation
import SpurCore

/// Accuracy of one probe within one group `(class, attribute value)` of the test split.
public struct ProbeGroup: Codable, Equatable, Sendable {
    public var name: String
    public var label: Int
    public var value: Int
    public var n: Int
    public var accuracy: Double
}

/// One probe's test accuracy per group, worst group and average.
public struct ProbeLine: Codable, Equatable, Sendable {
    /// `erm`, `erm-reweighted`, `dfr-ceiling`, `attribute`, `words`.
    public var key: String
    public var description: String
    /// Examples it was fitted on (0 for the zero-shot word test).
    public var fittedOn: Int
    public var groups: [ProbeGroup]
    public var average: Double
    public var worstGroup: Double
    public var worstGroupName: String
}

/// How well the attribute's own words find it zero-shot with the bundle's
/// pre-trained projections: "a photo of A." against "a photo of B." for a
/// complementary attribute B, and the ranking quality (AUC) of the score.
public struct AttributeWords: Codable, Equatable, Sendable {
    public var prompt: String
    /// The complement's prompt, when there is a complement.
    public var versusPrompt: String?
    /// How the complement was chosen, for the report.
    public var versusReason: String
    /// Share of test examples whose attribute value the comparison gets
    /// right, and the same among those with / without the attribute.
    public var accuracy: Double?
    public var presentAccuracy: Double?
    public var absentAccuracy: Double?
    /// Area under the ROC curve of the score (`⟨v, t_A⟩ − ⟨v, t_B⟩`, or
    /// `⟨v, t_A⟩` alone) for "attribute present": 0.5 is chance.
    public var auc: Double
}

public struct FeatureProbeReport: Codable, Equatable, Sendable {
    public var bundle: String
    public var attribute: String
    /// "ground truth" or "detections".
    public var groupsFrom: String
    public var features: Int
    public var l2: Double
    public var lines: [ProbeLine]
    public var words: AttributeWords?
    /// Why the word test could not run (e.g. an imported bundle without the prompt).
    public var wordsUnavailable: String?
}

/// `spurscope probe`: what linear probes on the frozen pooled features can
/// do before any training (DESIGN.md "Benchmark v2 and the feature probe").
///
/// Every probe is multinomial logistic regression on `image_pooled`,
/// features standardised on the fitting rows, L2 strength `l2` on the
/// mean loss, evaluated on the test split by (class, attribute value) group.
public enum FeatureProbe {
    /// Small enough not to bias a probe on thousands of examples, large
    /// enough to make the minimiser unique when classes separate perfectly.
    public static let l2 = 1e-3
    /// Least agreement between "B present" and "A absent" on the train split
    /// for B to serve as A's complement in the word test.
    public static let complementAgreement = 0.8

    /// Per-example value of `attribute` (1 present, 0 absent, −1 unknown)
    /// by evaluation's rule (`PresenceSource.best`): the `attr:NAME` column
    /// when the bundle has it, else detections at the default threshold.
    public static func attributeValues(_ b: FeatureBundle, _ attribute: String) throws -> (values: [Int], fromGroundTruth: Bool) {
        let source = PresenceSource.best(for: [attribute], in: b)
        let groups = try GroupAssignment(bundle: b, attributes: [attribute], source: source)
        return (groups.values, source.isGroundTruth)
    }

    /// Weights that give every group the same total weight (1 / group size).
    public static func balancingWeights(_ groups: [Int]) -> [Float] {
        var counts: [Int: Int] = [:]
        for g in groups { counts[g, default: 0] += 1 }
        return groups.map { 1 / Float(counts[$0]!) }
    }

    /// Accuracy per (class, value) group of `correct`, with worst group and average.
    static func line(key: String, description: String, fittedOn: Int, classes: [String], attribute: String,
                     labels: [Int], values: [Int], correct: [Bool]) -> ProbeLine {
        var right: [GroupAccuracy.Group: Int] = [:], total: [GroupAccuracy.Group: Int] = [:]
        for i in labels.indices where values[i] >= 0 {
            let g = GroupAccuracy.Group(label: labels[i], value: values[i])
            total[g, default: 0] += 1
            if correct[i] { right[g, default: 0] += 1 }
        }
        let groups = total.keys.sorted().map { g in
            ProbeGroup(name: "\(classes[g.label]), \(GroupAssignment.valueName(g.value, attributes: [attribute]))", label: g.label, value: g.value,
                       n: total[g]!, accuracy: Double(right[g] ?? 0) / Double(total[g]!))
        }
        let worst = groups.min { $0.accuracy < $1.accuracy }
        let n = total.values.reduce(0, +)
        return ProbeLine(key: key, description: description, fittedOn: fittedOn, groups: groups,
                         average: n == 0 ? 0 : Double(right.values.reduce(0, +)) / Double(n),
                         worstGroup: worst?.accuracy ?? 0, worstGroupName: worst?.name ?? "")
    }

    /// All probes on `bundle`, grouped by `attribute` (default: the bundle's
    /// benchmark groups). `versus` names the word test's complement.
    public static func run(bundle b: FeatureBundle, attribute: String? = nil, versus: String? = nil) throws -> FeatureProbeReport {
        guard let a = attribute ?? b.groupAttributes.first else {
            throw SettingError("attributes", "\(b.directory) names no benchmark groups (manifest 'groups') and has no ground-truth column: name the attribute to probe")
        }
        let (values, truth) = try attributeValues(b, a)
        let pooled = try b.pooledFeatures()
        let classes = b.manifest.classes
        let train = b.indices(in: .train), val = b.indices(in: .val), test = b.indices(in: .test)
        guard !test.isEmpty else { throw InputError(file: b.path(FeatureBundle.examplesFile), field: "split", "the test split is empty: the probes report on it") }
        let testX = pooled.gatherRows(test)
        let testLabels = test.map { b.examples[$0].label }, testValues = test.map { values[$0] }
        let options = LogisticRegression.Options(l2: l2)
        var lines: [ProbeLine] = []

        /// Fits a class probe on `rows` (optionally with each group weighted equally) and scores it on test.
        func classProbe(_ key: String, _ description: String, rows: [Int], balanced: Bool) {
            let used = balanced ? rows.filter { values[$0] >= 0 } : rows
            guard !used.isEmpty else { return }
            let labels = used.map { b.examples[$0].label }
            let weights = balanced ? balancingWeights(used.map { b.examples[$0].label * 2 + values[$0] }) : nil
            let fit = LogisticRegression.fit(pooled.gatherRows(used), labels: labels, classCount: classes.count,
                                             sampleWeights: weights, options: options)
            let predicted = fit.predict(testX)
            lines.append(line(key: key, description: description, fittedOn: used.count, classes: classes, attribute: a,
                              labels: testLabels, values: testValues, correct: zip(predicted, testLabels).map { $0 == $1 }))
        }
        classProbe("erm", "class probe fitted on the natural train split", rows: train, balanced: false)
        classProbe("erm-reweighted", "class probe fitted on the train split, groups weighted equally", rows: train, balanced: true)
        classProbe("dfr-ceiling", "class probe fitted on the val split, groups weighted equally (DFR-style; uses val group labels)",
                   rows: val, balanced: true)

        // Is the attribute itself linearly in the features? Fitted on train
        // with groups weighted equally, so it cannot lean on the class.
        let known = train.filter { values[$0] >= 0 }
        if Set(known.map { values[$0] }).count == 2 {
            let fit = LogisticRegression.fit(pooled.gatherRows(known), labels: known.map { values[$0] }, classCount: 2,
                                             sampleWeights: balancingWeights(known.map { b.examples[$0].label * 2 + values[$0] }),
                                             options: options)
            let predicted = fit.predict(testX)
            lines.append(line(key: "attribute", description: "probe predicting \(a) itself, fitted on train, groups weighted equally",
                              fittedOn: known.count, classes: classes, attribute: a, labels: testLabels, values: testValues,
                              correct: zip(predicted, testValues).map { $0 == $1 }))
        }

        var words: AttributeWords?
        var wordsUnavailable: String?
        do {
            let (w, correct) = try wordTest(bundle: b, attribute: a, values: values, versus: versus, pooled: pooled, test: test)
            words = w
            if let correct {
                lines.append(line(key: "words", description: "zero-shot \"\(w.prompt)\" vs \"\(w.versusPrompt ?? "")\" with the pre-trained projections",
                                  fittedOn: 0, classes: classes, attribute: a, labels: testLabels, values: testValues, correct: correct))
            }
        } catch where versus == nil && (error is InputError || error is SettingError) {
            wordsUnavailable = "\(error)"
        }
        return FeatureProbeReport(bundle: b.directory, attribute: a, groupsFrom: truth ? "ground truth" : "detections",
                                  features: pooled.cols, l2: l2, lines: lines, words: words, wordsUnavailable: wordsUnavailable)
    }

    /// The complement of `attribute` in the vocabulary: the attribute whose
    /// presence agrees best with its absence on the train split, if that
    /// agreement reaches `complementAgreement` ("land" for "water").
    public static func complement(of attribute: String, values: [Int], bundle b: FeatureBundle) throws -> (name: String, agreement: Double)? {
        let train = b.indices(in: .train).filter { values[$0] >= 0 }
        guard !train.isEmpty else { return nil }
        var best: (String, Double)?
        for other in b.manifest.attributes where other != attribute {
            let (v, _) = try attributeValues(b, other)
            let both = train.filter { v[$0] >= 0 }
            guard !both.isEmpty else { continue }
            let agree = Double(both.filter { v[$0] == 1 - values[$0] }.count) / Double(both.count)
            if agree > (best?.1 ?? -1) { best = (other, agree) }
        }
        guard let best, best.1 >= complementAgreement else { return nil }
        return best
    }

    /// Scores the test images against the attribute's prompt (and its
    /// complement's); returns the summary and, with a complement, whether
    /// each test example's value was found.
    static func wordTest(bundle b: FeatureBundle, attribute a: String, values: [Int], versus: String?,
                         pooled: Matrix, test: [Int]) throws -> (AttributeWords, [Bool]?) {
        let prompt = CLIPTemplates.wordPrompt(a)
        var versusPrompt: String?
        var reason: String
        if let versus {
            versusPrompt = CLIPTemplates.wordPrompt(versus)
            reason = "given"
        } else if let c = try complement(of: a, values: values, bundle: b) {
            versusPrompt = CLIPTemplates.wordPrompt(c.name)
            reason = String(format: "'%@' is present where '%@' is absent in %.1f %% of the train split", c.name, a, 100 * c.agreement)
        } else {
            reason = String(format: "no attribute's presence matches the absence of '%@' in %.0f %% of the train split: AUC of its prompt alone", a, 100 * complementAgreement)
        }
        let heads = try b.pretrainedHeads()
        let texts = try b.textFeatures(for: [prompt] + (versusPrompt.map { [$0] } ?? []))
        let t = Matrix.product(texts, heads.text, transposeB: true).normalizedRows().output
        let v = Matrix.product(pooled.gatherRows(test), heads.image, transposeB: true).normalizedRows().output
        let s = Matrix.product(v, t, transposeB: true)   // [N, 1 or 2]
        let scores = (0..<s.rows).map { s.cols == 2 ? s[$0, 0] - s[$0, 1] : s[$0, 0] }
        let testValues = test.map { values[$0] }
        let known = testValues.indices.filter { testValues[$0] >= 0 }
        let auc = areaUnderROC(scores: known.map { scores[$0] }, positives: known.map { testValues[$0] == 1 })
        var words = AttributeWords(prompt: prompt, versusPrompt: versusPrompt, versusReason: reason, auc: auc)
        guard versusPrompt != nil else { return (words, nil) }
        let correct = testValues.indices.map { (scores[$0] > 0 ? 1 : 0) == testValues[$0] }
        func share(_ rows: [Int]) -> Double? { rows.isEmpty ? nil : Double(rows.filter { correct[$0] }.count) / Double(rows.count) }
        words.accuracy = share(known)
        words.presentAccuracy = share(known.filter { testValues[$0] == 1 })
        words.absentAccuracy = share(known.filter { testValues[$0] == 0 })
        return (words, correct)
    }

    /// Mann–Whitney form of the AUC: the chance that a random positive
    /// scores above a random negative, ties counting half.
    public static func areaUnderROC(scores: [Float], positives: [Bool]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            for k in i...j { ranks[order[k]] = Double(i + j) / 2 + 1 }   // average rank of a tie block
            i = j + 1
        }
        let nPos = positives.filter { $0 }.count, nNeg = positives.count - nPos
        guard nPos > 0 && nNeg > 0 else { return 0.5 }
        let rankSum = zip(ranks, positives).filter { $0.1 }.reduce(0) { $0 + $1.0 }
        return (rankSum - Double(nPos) * Double(nPos + 1) / 2) / (Double(nPos) * Double(nNeg))
    }
}
