import Foundation
import SpurCore

extension Trainer {
    /// The class side of a method that replaces it instead of training the
    /// projections (`Method.replacesClassifier`), and a sentence for the run's
    /// record saying how it was made.
    func replacementClassifier() throws -> (HeadClassifier, String) {
        switch config.method {
        case .dfr:
            let o = try DeepFeatureReweighting.fit(heads: data.pretrained, images: data.val.images, labels: data.val.labels,
                                                   values: data.val.values, valueCount: data.valueCount,
                                                   classCount: data.classes.count, seed: config.seed)
            let source = config.groundTruth ? "ground truth" : "detections"
            let note = String(format: "fitted on val group labels (%@): %d per group × %d groups from the first half of val; "
                              + "L2 %g chosen by worst group %.1f%% on the other half (%d examples)",
                              source, o.perGroup, o.groups, o.l2, 100 * o.heldOutWorstGroup, o.heldOut)
            return (o.classifier, note)
        case .orthProj:
            // The phrases as the run was prepared with them (the verdicts when it was created).
            let words = data.projectionPhrases
            let classifier = try OrthogonalProjection.classifier(
                heads: data.pretrained, classTemplates: data.classTemplates, templateCount: data.templateCount,
                phrasePrompts: data.projectionPrompts)
            return (classifier, "projected out of the class prompts: " + words.map { "'\($0)'" }.joined(separator: ", "))
        default:
            preconditionFailure("\(config.method.rawValue) trains its projections")
        }
    }
}
