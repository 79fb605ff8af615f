import Foundation
import SpurCore
import Synchronization

/// Which map a bundle's heatmaps are.
public enum HeatmapMethod: Equatable, Sendable {
    /// Grad-CAM at `layer` (Selvaraju et al.): the bundle carries the layer's
    /// input and the frozen tail after it, or pools by the mean.
    case gradCAM(layer: String)
    /// `ReLU(⟨F(h,w), g_y⟩)` of `image_spatial` with the head's gradient at
    /// the stored pooled feature: bundles of token- or attention-pooled
    /// towers made before the tail was stored. Not Grad-CAM.
    case throughHead

    /// What a bundle's maps are, from its manifest (nil: it has none).
    public static func of(_ bundle: FeatureBundle) -> HeatmapMethod? {
        if let tail = bundle.manifest.camTail { return .gradCAM(layer: tail.layer) }
        guard bundle.hasSpatialMaps else { return nil }
        return bundle.manifest.pooling == .mean ? .gradCAM(layer: MeanPoolTail().layer) : .throughHead
    }

    /// Short, for a legend.
    public var shortLabel: String {
        switch self {
        case .gradCAM: return "Grad-CAM"
        case .throughHead: return "through the head, not Grad-CAM"
        }
    }

    /// For `cam --json`'s `layer` and the screens' captions.
    public var label: String {
        switch self {
        case .gradCAM(let layer): return layer
        case .throughHead: return "image_spatial through the head (not Grad-CAM: the bundle has no cam_tail)"
        }
    }
}

/// Grad-CAM maps of a bundle's examples under given heads, at image resolution.
public struct CAMRenderer {
    public let bundle: FeatureBundle
    public let classifier: HeadClassifier
    public var heads: ProjectionHeads { classifier.heads }
    public var classEmbeddings: Matrix { classifier.classEmbeddings }
    /// Nil: the map is read through the head (`HeatmapMethod.throughHead`).
    let tail: (any CAMTail)?

    public init(bundle: FeatureBundle, heads: ProjectionHeads, classTemplates: Matrix, templateCount: Int) throws {
        try self.init(bundle: bundle, classifier: HeadClassifier(heads: heads, classTemplates: classTemplates, templateCount: templateCount))
    }

    /// Maps of any classifier over the image embeddings: the bias does not
    /// change a gradient; the scale does, and only by a factor.
    public init(bundle: FeatureBundle, classifier: HeadClassifier) throws {
        self.bundle = bundle
        self.classifier = classifier
        self.tail = try Self.tail(of: bundle)
    }

    /// One rule for what the maps are, the manifest's (`HeatmapMethod.of`).
    public var method: HeatmapMethod { HeatmapMethod.of(bundle) ?? .throughHead }

    /// The target layer of one example under the scores `s · cos(W_v·f, ĉ_y)`
    /// of `classes` (default: every class), in that order; nil for maps read
    /// through the head.
    public func targetLayer(example e: Int, classes: [Int]? = nil, keepGradients: Bool = false) throws -> TargetLayer? {
        guard let tail else { return nil }
        let input = bundle.manifest.camTail != nil ? try bundle.tailInput(example: e) : try bundle.spatialMap(example: e)
        let c = classes.map { classEmbeddings.gatherRows($0) } ?? classEmbeddings
        return tail.target(input: input, upstream: { pooled in
            GradCAM.classGradients(pooled: pooled, heads: heads, classEmbeddings: c, scale: classifier.scale)
        }, keepGradients: keepGradients)
    }

    /// The maps of `classes` (default: every class) for one example on the
    /// feature grid (`grid.height · grid.width` values each, after the ReLU,
    /// unscaled).
    public func gridMaps(example e: Int, classes: [Int]? = nil) throws -> [[Float]] {
        let wanted = classes ?? Array(0..<classEmbeddings.rows)
        if let target = try targetLayer(example: e, classes: classes) {
            return wanted.indices.map(target.map)
        }
        // Older token- and attention-pooled bundles: the gradient is taken
        // at the stored pooled feature and read against the map.
        let f = try bundle.spatialMap(example: e)
        let pooled = try bundle.pooledFeatures(rows: [e]).storage
        let g = GradCAM.classGradients(pooled: pooled, heads: heads, classEmbeddings: classEmbeddings.gatherRows(wanted),
                                       scale: classifier.scale)
        return (0..<g.rows).map { y in GradCAM.map(spatial: f, gradient: Array(g.row(y))) }
    }

    /// One class's map for one example at `width × height` (the image's own
    /// size), scaled to [0, 1]. Only that class's gradient is computed.
    public func map(example e: Int, class y: Int, width: Int, height: Int) throws -> Heatmap {
        let grid = bundle.manifest.grid
        return GradCAM.upsampled(try gridMaps(example: e, classes: [y])[0], gridHeight: grid.height, gridWidth: grid.width,
                                 width: width, height: height)
    }

    /// The example's mask as 0/1 at its own resolution, if it has one.
    public func mask(example e: Int) throws -> Heatmap? {
        guard let m = bundle.examples[e].mask else { return nil }
        return Heatmap(mask: try ImageFile.read(path: bundle.resolve(m)))
    }

    /// AIoU with every map at the mask's width and height.
    public func aiou(example e: Int) throws -> Double? {
        guard let b = try mask(example: e) else { return nil }
        let grid = bundle.manifest.grid
        return Double(GradCAM.aiou(grids: try gridMaps(example: e), gridHeight: grid.height, gridWidth: grid.width,
                                   trueClass: bundle.examples[e].label, mask: b))
    }

    /// The last bundle's tail, kept: the UI draws a map per keystroke and a
    /// ViT-B/32 tail is 28 MB of weights to read.
    private static let lastTail = Mutex<(key: String, tail: (any CAMTail)?)?>(nil)

    private static func tail(of bundle: FeatureBundle) throws -> (any CAMTail)? {
        let key = bundle.directory + "|" + (bundle.manifest.camTail.map { "\($0)" } ?? "")
            + "|" + ((try? FileManager.default.attributesOfItem(atPath: bundle.path(CAMTailFile.name))[.modificationDate])
                .map { "\($0 as? Date ?? Date.distantPast)" } ?? "")
        if let known = lastTail.withLock({ $0 }), known.key == key { return known.tail }
        let tail = try CAMTails.load(bundle)
        lastTail.withLock { $0 = (key, tail) }
        return tail
    }
}
