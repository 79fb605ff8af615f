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
    /// The pre-trained model's prediction of every validation example (by bundle row).
    public let valPredictions: [Int: Int]

    public init(bundle path: String, workspace directory: String?, audit given: Audit.Result? = nil) throws {
        bundle = try FeatureBundle.open(path)
        workspace = try Workspace(bundle: path, directory: directory)
        pretrained = try bundle.pretrainedHeads()
        classTemplates = try bundle.classTemplateFeatures()
        audit = try given ?? Audit().run(bundle, heads: pretrained)
        valRows = bundle.indices(in: .val)
        let zeroShot = HeadClassifier(heads: pretrained, classTemplates: classTemplates, templateCount: bundle.manifest.templates.count)
        valPredictions = Dictionary(uniqueKeysWithValues: zip(valRows, zeroShot.predict(try bundle.pooledFeatures(rows: valRows))))
    }

    /// The pre-trained classifier: the class prompts through the pre-trained heads.
    public var pretrainedClassifier: HeadClassifier {
        HeadClassifier(heads: pretrained, classTemplates: classTemplates, templateCount: bundle.manifest.templates.count)
    }

    public var classes: [String] { bundle.manifest.classes }

    /// Examples of a class in the audited split with and without an attribute.
    public func examples(class c: Int, attribute a: Int, limit: Int = 12) -> (with: [Int], without: [Int]) {
        var with: [Int] = [], without: [Int] = []
        let present = Set(bundle.detections.filter { $0.attribute == a && $0.score >= 0.5 }.map(\.example))
        for r in valRows where bundle.examples[r].label == c {
            if present.contains(r) { if with.count < limit { with.append(r) } }
            else if without.count < limit { without.append(r) }
        }
        return (with, without)
    }

    /// The image of an example and one class's Grad-CAM map at its resolution,
    /// under `classifier` (a run's, which for dfr / orth-proj has its own
    /// class side), or the pre-trained model.
    public func preview(example e: Int, mapClass: Int, classifier given: HeadClassifier?) throws -> Preview {
        let image = try ImageFile.read(path: bundle.resolve(bundle.examples[e].image))
        let classifier = given ?? pretrainedClassifier
        let cam = CAMRenderer(bundle: bundle, classifier: classifier)
        let heat = bundle.hasSpatialMaps ? try cam.map(example: e, class: mapClass, width: image.width, height: image.height)
                                         : Heatmap(width: image.width, height: image.height)
        let logits = classifier.logits(try bundle.pooledFeatures(rows: [e]))
        var predicted = 0
        for c in 1..<logits.cols where logits[0, c] > logits[0, predicted] { predicted = c }
        return Preview(example: e, mapClass: mapClass, image: image, heat: heat, predicted: predicted)
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
