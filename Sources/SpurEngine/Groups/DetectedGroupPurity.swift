import Foundation

/// How well the detected (class, value) groups of the train split match the
/// ground-truth ones. A method trained on detected groups can only be as
/// good as these groups: a minority group flooded with false members
/// (a detector error rate of 10 % on 1,168 landbirds on land puts ~117 of
/// them into "landbird, water", next to 61 true members) re-weights the
/// wrong examples.
public struct GroupPurity: Codable, Equatable, Sendable {
    public var label: Int
    public var value: Int
    public var name: String
    /// Train examples the detections put in this group.
    public var detected: Int
    /// Of those, the ones whose ground-truth value agrees.
    public var trueMembers: Int
    /// Train examples the ground truth puts in this group.
    public var groundTruth: Int
    /// Not the largest detected group of its class.
    public var isMinority: Bool

    /// Share of the detected group that truly belongs to it (precision).
    public var purity: Double? { detected == 0 ? nil : Double(trueMembers) / Double(detected) }
    /// Share of the true group that the detections find (recall).
    public var coverage: Double? { groundTruth == 0 ? nil : Double(trueMembers) / Double(groundTruth) }
}

public enum DetectedGroupPurity {
    /// Every (class, value) group of the train split, from data prepared with
    /// detected training values (`groundTruth == false`) and ground-truth
    /// evaluation values; nil when the bundle has no ground truth for the
    /// attribute(s), or the data's training values are not detections.
    public static func measure(data: TrainingData, trainedOnGroundTruth: Bool) -> [GroupPurity]? {
        guard data.evaluationFromGroundTruth, !trainedOnGroundTruth, !data.attributes.isEmpty,
              data.attributes == data.evaluationAttributes else { return nil }
        return measure(labels: data.train.labels, detected: data.train.values, truth: data.train.evaluationValues,
                       classCount: data.classes.count, valueCount: data.valueCount,
                       name: { y, v in "\(data.classes[y]), \(data.valueName(v))" })
    }

    /// The same from plain arrays: per example its class, detected value and
    /// true value (−1: unknown, left out of both sides).
    public static func measure(labels: [Int], detected: [Int], truth: [Int], classCount: Int, valueCount: Int,
                               name: (Int, Int) -> String) -> [GroupPurity] {
        var inDetected = [Int](repeating: 0, count: classCount * valueCount)
        var inTruth = inDetected, agree = inDetected
        for i in labels.indices {
            let y = labels[i]
            if detected[i] >= 0 { inDetected[y * valueCount + detected[i]] += 1 }
            if truth[i] >= 0 { inTruth[y * valueCount + truth[i]] += 1 }
            if detected[i] >= 0 && detected[i] == truth[i] { agree[y * valueCount + detected[i]] += 1 }
        }
        var out: [GroupPurity] = []
        for y in 0..<classCount {
            let largest = (0..<valueCount).max { inDetected[y * valueCount + $0] < inDetected[y * valueCount + $1] } ?? 0
            for v in 0..<valueCount {
                let g = y * valueCount + v
                out.append(GroupPurity(label: y, value: v, name: name(y, v), detected: inDetected[g], trueMembers: agree[g],
                                       groundTruth: inTruth[g], isMinority: v != largest))
            }
        }
        return out
    }
}
