import Foundation
import SpurCore

/// One group's accuracy, named for people.
public struct GroupMetric: Codable, Equatable, Sendable {
    public var label: Int
    public var value: Int
    public var name: String
    public var correct: Int
    public var total: Int
    public var accuracy: Double
    /// Mean AIoU of the group's examples, when measured.
    public var aiou: Double?
}

/// The metrics of DESIGN.md on one split.
public struct SplitMetrics: Codable, Equatable, Sendable {
    public var groups: [GroupMetric]
    public var average: Double
    public var adjustedAverage: Double
    public var worstGroup: Double
    public var worstGroupName: String
    public var aiouAverage: Double?
    public var aiouWorstGroup: Double?
}

public enum Evaluation {
    public static func predictions(_ heads: ProjectionHeads, data: TrainingData, split: SplitData) -> [Int] {
        classifier(heads, data: data).predict(split.images)
    }

    /// The text-derived classifier of `heads` over the data's class prompts.
    public static func classifier(_ heads: ProjectionHeads, data: TrainingData) -> HeadClassifier {
        HeadClassifier(heads: heads, classTemplates: data.classTemplates, templateCount: data.templateCount)
    }

    public static func accuracy(_ heads: ProjectionHeads, data: TrainingData, split: SplitData) -> GroupAccuracy {
        accuracy(classifier(heads, data: data), split: split)
    }

    public static func accuracy(_ classifier: HeadClassifier, split: SplitData) -> GroupAccuracy {
        GroupAccuracy(labels: split.labels, predictions: classifier.predict(split.images), values: split.evaluationValues)
    }

    /// Group accuracies and summaries; with a bundle that has spatial maps
    /// and masks, AIoU too (average over examples, worst over groups).
    public static func metrics(_ heads: ProjectionHeads, data: TrainingData, split: SplitData,
                               bundle: FeatureBundle? = nil) throws -> SplitMetrics {
        try metrics(classifier(heads, data: data), data: data, split: split, bundle: bundle)
    }

    /// The same for any classifier over the image embeddings (a run's
    /// fitted or projected class side included).
    public static func metrics(_ classifier: HeadClassifier, data: TrainingData, split: SplitData,
                               bundle: FeatureBundle? = nil) throws -> SplitMetrics {
        let acc = accuracy(classifier, split: split)
        var aiouByGroup: [GroupAccuracy.Group: [Double]] = [:]
        var aiouAll: [Double] = []
        if let bundle, bundle.hasHeatmaps, bundle.examples.contains(where: { $0.mask != nil }) {
            let cam = try CAMRenderer(bundle: bundle, classifier: classifier)
            for (i, r) in split.rows.enumerated() {
                guard let score = try cam.aiou(example: r) else { continue }
                aiouAll.append(score)
                if split.evaluationValues[i] >= 0 {
                    aiouByGroup[.init(label: split.labels[i], value: split.evaluationValues[i]), default: []].append(score)
                }
            }
        }
        let groups = acc.groups.map { g in
            GroupMetric(label: g.label, value: g.value,
                        name: "\(data.classes[g.label]), \(data.valueName(g.value))",
                        correct: acc.correct[g] ?? 0, total: acc.total[g] ?? 0, accuracy: acc.accuracy(g) ?? 0,
                        aiou: aiouByGroup[g].map { $0.reduce(0, +) / Double($0.count) })
        }
        let worst = acc.worstGroup
        return SplitMetrics(
            groups: groups, average: acc.average, adjustedAverage: acc.adjustedAverage(weights: data.trainGroupCounts),
            worstGroup: worst?.accuracy ?? 0,
            worstGroupName: worst.map { "\(data.classes[$0.group.label]), \(data.valueName($0.group.value))" } ?? "",
            aiouAverage: aiouAll.isEmpty ? nil : aiouAll.reduce(0, +) / Double(aiouAll.count),
            aiouWorstGroup: groups.compactMap(\.aiou).min())
    }
}
