import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// What the UI reads from the bundle and the workspace. Loading is done off
/// the UI thread; the model itself is immutable once loaded.
public final class UIModel: @unchecked Sendable {
    // @unchecked: immutable after init; Workspace is thread-safe.
    public let bundle: FeatureBundle
    public let workspace: Workspace
    public let audit: Audit.Result
    public let pretrained: ProjectionHeads
    public let classTemplates: Matrix
    public let valRows: [Int]
    /// The pre-trained model's prediction of every audited example (by bundle row).
    public let auditedPredictions: [Int: Int]

    /// How screen 1's audit was run (split, presence, minimum support).
    public let auditSettings: Audit

    public init(bundle path: String, workspace directory: String?, audit given: Audit.Result? = nil,
                auditSettings: Audit = Audit()) throws {
        bundle = try FeatureBundle.open(path)
        workspace = try Workspace(bundle: path, directory: directory)
        pretrained = try bundle.pretrainedHeads()
        classTemplates = try bundle.classTemplateFeatures()
        self.auditSettings = auditSettings
        audit = try given ?? auditSettings.run(bundle, heads: pretrained)
        valRows = bundle.indices(in: .val)
        let zeroShot = HeadClassifier(heads: pretrained, classTemplates: classTemplates, templateCount: bundle.manifest.templates.count)
        auditedPredictions = Dictionary(uniqueKeysWithValues: zip(audit.rows, zeroShot.predict(try bundle.pooledFeatures(rows: audit.rows))))
    }

    /// The pre-trained classifier: the class prompts through the pre-trained heads.
    public var pretrainedClassifier: HeadClassifier {
        HeadClassifier(heads: pretrained, classTemplates: classTemplates, templateCount: bundle.manifest.templates.count)
    }

    public var classes: [String] { bundle.manifest.classes }

    /// Examples of a class in the audited split with and without an
    /// attribute, by the presence the audit ranked them with.
    public func examples(class c: Int, attribute a: Int, limit: Int = 12) -> (with: [Int], without: [Int]) {
        var with: [Int] = [], without: [Int] = []
        for (i, r) in audit.rows.enumerated() where bundle.examples[r].label == c {
            if audit.presence.contains(example: i, attribute: a) { if with.count < limit { with.append(r) } }
            else if without.count < limit { without.append(r) }
        }
        return (with, without)
    }

    /// The test examples in group `g` of the bundle's benchmark groups, by
    /// the evaluation's presence rule (the same as the Groups screen's metrics).
    public func members(of g: GroupAccuracy.Group) throws -> [Int] {
        let attributes = bundle.groupAttributes
        return try GroupAssignment(bundle: bundle, attributes: attributes, source: .best(for: attributes, in: bundle))
            .members(of: g, among: bundle.indices(in: .test))
    }

    /// The image of an example and one class's Grad-CAM map at its resolution,
    /// under `classifier` (a run's, which for dfr / orth-proj has its own
    /// class side), or the pre-trained model.
    public func preview(example e: Int, mapClass: Int, classifier given: HeadClassifier?) throws -> Preview {
        let image = try ImageFile.read(path: bundle.resolve(bundle.examples[e].image))
        let classifier = given ?? pretrainedClassifier
        let cam = try CAMRenderer(bundle: bundle, classifier: classifier)
        let heat = bundle.hasHeatmaps ? try cam.map(example: e, class: mapClass, width: image.width, height: image.height)
                                         : Heatmap(width: image.width, height: image.height)
        let logits = classifier.logits(try bundle.pooledFeatures(rows: [e]))
        return Preview(example: e, mapClass: mapClass, image: image, heat: heat, predicted: logits.argmaxRows()[0])
    }
}

/// One example ready to draw.
public struct Preview: Sendable {
    public var example: Int
    public var mapClass: Int
    public var image: RGBImage
    /// At the image's own width and height.
    public var heat: Heatmap
    public var predicted: Int
    /// Identifies this rendering (the drawn pictures are cached by it).
    public let id = UUID()

    public init(example: Int, mapClass: Int, image: RGBImage, heat: Heatmap, predicted: Int) {
        self.example = example; self.mapClass = mapClass; self.image = image; self.heat = heat; self.predicted = predicted
    }
}
