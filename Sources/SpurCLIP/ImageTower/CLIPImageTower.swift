import Foundation
import SpurCore

/// How an image tower turns its last map into the pooled feature a bundle
/// stores (the manifest's `pooling`).
public enum ImagePooling: String, Sendable, Codable {
    /// ViT: the class token after the last block and `post_layernorm`. The
    /// spatial map is the patch tokens through the same LayerNorm.
    case classToken = "token"
    /// ModifiedResNet: the attention pool's output (already in the joint
    /// space, so the bundle's `W_v` is the identity). The spatial map is each
    /// position through the pool's value and output projections.
    case attention
}

/// The shape of a CLIP image tower, read from the checkpoint.
public struct ImageTowerShape: Equatable, Sendable, Codable {
    /// `ViT-B/32`, `RN50`, … (or `ViT-W<width>-L<layers>-P<patch>` for sizes
    /// that have no released name; `@<S>px` added for inputs other than 224).
    public var architecture: String
    /// The side of the square input, in pixels.
    public var imageSize: Int
    public var gridHeight: Int
    public var gridWidth: Int
    /// `Dv`: the width of the pooled and spatial features.
    public var featureWidth: Int
    /// `E`: the joint embedding's width (rows of `projection`).
    public var embeddingWidth: Int
    public var pooling: ImagePooling

    public init(architecture: String, imageSize: Int, gridHeight: Int, gridWidth: Int,
                featureWidth: Int, embeddingWidth: Int, pooling: ImagePooling) {
        self.architecture = architecture; self.imageSize = imageSize
        self.gridHeight = gridHeight; self.gridWidth = gridWidth
        self.featureWidth = featureWidth; self.embeddingWidth = embeddingWidth; self.pooling = pooling
    }
}

/// Features of a batch of images, as a bundle stores them.
public struct ImageFeatureBatch: Sendable {
    public var count: Int
    /// `[count, Dv]`, row-major.
    public var pooled: [Float]
    /// `[count, H, W, Dv]`, row-major; nil when not asked for.
    public var spatial: [Float]?
    /// `[count, T, D]`: each image's input to the tower's Grad-CAM tail
    /// (`image_tail_input`); nil when not asked for.
    public var tailInput: [Float]?

    public init(count: Int, pooled: [Float], spatial: [Float]?, tailInput: [Float]? = nil) {
        self.count = count; self.pooled = pooled; self.spatial = spatial; self.tailInput = tailInput
    }
}

/// The frozen part of a tower after its Grad-CAM target layer, as a bundle
/// stores it: the manifest's `cam_tail` and the tensors of
/// `cam_tail.safetensors` under `CAMTailFile`'s names.
public struct CAMTailExport: Sendable {
    public var record: CAMTailRecord
    /// In `CAMTailFile.shapes` order, F32 values.
    public var weights: [Weight]
    /// Positions and width of each image's `image_tail_input`.
    public var tokens: Int
    public var width: Int

    /// `cam_tail.safetensors`, whole (28 MB at ViT-B/32, 76 MB at RN50).
    public func encoded() throws -> Data {
        var w = SafetensorsWriter()
        for weight in weights { w.add(weight.name, shape: weight.shape, floats: weight.values) }
        return try w.encoded()
    }
}

/// A CLIP image tower, forward only, on BLAS.
public protocol CLIPImageTower: AnyObject, Sendable {
    var shape: ImageTowerShape { get }
    /// The weights file, named in errors.
    var source: String { get }
    /// `W_v` as a bundle stores it: `[E, Dv]`, applied as `W_v · f`.
    var projection: Weight { get }
    /// The tail true Grad-CAM runs through, from the target layer (or the
    /// block before it) to the pooled feature.
    var camTail: CAMTailExport { get }
    /// Features of `count` images given as normalised pixels
    /// `[count, 3, S, S]` (channel-first, as PyTorch's `pixel_values`).
    func features(pixels: [Float], count: Int, spatial: Bool, tailInput: Bool) throws -> ImageFeatureBatch
}

extension CLIPImageTower {
    public func features(pixels: [Float], count: Int, spatial: Bool) throws -> ImageFeatureBatch {
        try features(pixels: pixels, count: count, spatial: spatial, tailInput: false)
    }

    /// Refuses a pixel buffer that is not `count` images of the tower's input size.
    func checkPixels(_ pixels: [Float], count: Int) throws {
        let s = shape.imageSize
        guard count >= 0, pixels.count == count * 3 * s * s else {
            throw InputError(file: source, field: "pixels",
                             "has \(pixels.count) values, expected \(count) images × 3 × \(s) × \(s) (the tower's input size)")
        }
    }
}
