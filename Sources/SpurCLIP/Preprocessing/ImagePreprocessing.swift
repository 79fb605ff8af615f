import SpurCore

/// How a checkpoint turns a picture into its `[3, S, S]` input: resize,
/// centre crop, rescale to 0...1, normalise per channel. Two recipes exist
/// (`forCheckpoint` tells them from the checkpoint folder):
///
/// - Hugging Face `CLIPImageProcessor`: the shorter side to
///   `size.shortest_edge`, the longer to `Int(edge * long / short)`, PIL
///   resampling, crop offset `(side - S) // 2`.
/// - OpenAI / open_clip (torchvision `Resize(S)` + `CenterCrop(S)` on a PIL
///   picture): the same resize, crop offset `int(round((side - S) / 2.0))`,
///   Python's round (half to even), so an odd margin of 3 starts at 2, not 1.
///
/// `view(of:)` is the S × S picture the model sees (what a bundle stores as
/// `images/NNNNNNN.png`), `pixels(of:)` its normalised tensor. The picture
/// handed in is the upright original, as `ImageFile.read` returns it.
public struct ImagePreprocessing: Sendable, Equatable {
    public enum Resize: Sendable, Equatable {
        /// The shorter side to `edge`, the longer to `Int(edge * long / short)`.
        case shortestEdge(Int)
        /// Both sides as given, the aspect ratio ignored (HF `size: {height,
        /// width}`, open_clip's `resize_mode: squash`).
        case exact(width: Int, height: Int)
    }

    /// Where a centre crop starts when the margin `side - S` is odd.
    public enum CropRounding: String, Sendable, Equatable {
        /// Hugging Face: `margin // 2`.
        case floor
        /// torchvision: `int(round(margin / 2.0))`, ties to even.
        case halfToEven
    }

    /// S: views are S × S.
    public let size: Int
    public let resize: Resize
    public let filter: ResamplingFilter
    /// The centre crop to S × S, or nil when the resize alone gives S × S.
    public let crop: CropRounding?
    /// Multiplies the 8-bit samples before normalising (1/255 for 0...1).
    public let rescaleFactor: Double
    /// Per channel (R, G, B): `(v * rescaleFactor - mean) / std`.
    public let mean: [Float]
    public let std: [Float]

    /// OpenAI's normalisation, which CLIP checkpoints of both layouts use.
    public static let openAIMean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// A recipe; one that would not give S × S views for every picture, or
    /// with unusable numbers, is an `InputError` naming `file` and the field.
    public init(size: Int, resize: Resize, filter: ResamplingFilter, crop: CropRounding?,
                rescaleFactor: Double = 1.0 / 255, mean: [Float] = openAIMean, std: [Float] = openAIStd,
                file: String = "preprocessing") throws {
        try self.init(size: size, resize: resize, filter: filter, crop: crop, rescaleFactor: rescaleFactor,
                      mean: mean, std: std, file: file, fields: Fields())
    }

    /// The names errors give the recipe's fields (a config file's spelling).
    struct Fields {
        var resize = "resize", crop = "crop", rescale = "rescale", mean = "mean", std = "std"
    }

    init(size: Int, resize: Resize, filter: ResamplingFilter, crop: CropRounding?, rescaleFactor: Double,
         mean: [Float], std: [Float], file: String, fields: Fields) throws {
        guard size > 0 else { throw InputError(file: file, field: fields.crop, "is \(size), expected a positive size") }
        switch resize {
        case .shortestEdge(let edge):
            guard crop != nil else {
                throw InputError(file: file, field: fields.crop,
                                 "no centre crop after a shortest-edge resize: views of non-square pictures would not be \(size)x\(size)")
            }
            guard edge >= size else {
                throw InputError(file: file, field: fields.resize, "is \(edge), smaller than the \(size)-pixel crop (padding is not supported)")
            }
        case .exact(let w, let h):
            if crop == nil, w != size || h != size {
                throw InputError(file: file, field: fields.resize, "gives \(w)x\(h) views without a crop; the image tower takes \(size)x\(size)")
            }
            guard w >= size, h >= size else {
                throw InputError(file: file, field: fields.resize, "is \(w)x\(h), smaller than the \(size)-pixel crop (padding is not supported)")
            }
        }
        guard rescaleFactor.isFinite, rescaleFactor > 0 else {
            throw InputError(file: file, field: fields.rescale, "is \(rescaleFactor), expected a positive number")
        }
        guard mean.count == 3, mean.allSatisfy(\.isFinite) else {
            throw InputError(file: file, field: fields.mean, "is \(mean), expected 3 finite numbers (R, G, B)")
        }
        guard std.count == 3, std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw InputError(file: file, field: fields.std, "is \(std), expected 3 positive numbers (R, G, B)")
        }
        self.size = size
        self.resize = resize
        self.filter = filter
        self.crop = crop
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.std = std
    }

    /// The resized size of a `width` × `height` picture, before the crop.
    public func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        switch resize {
        case .exact(let w, let h):
            return (w, h)
        case .shortestEdge(let edge):
            let short = min(width, height), long = max(width, height)
            // In double precision, as Python computes `int(edge * long / short)`.
            let scaled = Int(Double(edge * long) / Double(short))
            return width <= height ? (edge, scaled) : (scaled, edge)
        }
    }

    /// Where the S × S crop starts in a `width` × `height` resized picture.
    public func cropOrigin(width: Int, height: Int) -> (x: Int, y: Int) {
        func start(_ side: Int) -> Int {
            let margin = side - size
            switch crop {
            case nil: return 0
            case .floor: return margin / 2
            case .halfToEven: return Int((Double(margin) / 2).rounded(.toNearestOrEven))
            }
        }
        return (start(width), start(height))
    }

    /// The picture as the model sees it: resized and centre-cropped, S × S.
    public func view(of image: RGBImage) -> RGBImage {
        let (w, h) = resizedSize(width: image.width, height: image.height)
        let (x, y) = cropOrigin(width: w, height: h)
        return image.resampled(width: w, height: h, filter: filter, window: (x, y, size, size))
    }

    /// The view's normalised samples, channel-first `[3, S, S]` as PyTorch's
    /// `pixel_values`.
    public func pixels(of view: RGBImage) -> [Float] {
        let plane = view.width * view.height
        var out = [Float](repeating: 0, count: 3 * plane)
        let scale = rescaleFactor
        view.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let m = mean[c], s = std[c]
                    for i in 0..<plane {
                        // Rescaled in double, then float32 from there on, as
                        // the processors do.
                        dst[c * plane + i] = (Float(Double(src[i * 3 + c]) * scale) - m) / s
                    }
                }
            }
        }
        return out
    }

    /// A box in the upright original (`originalWidth` × `originalHeight`
    /// pixels) in the view's pixels: scaled as the resize scales, shifted by
    /// the crop, clipped to 0...S; nil when nothing of it is left. The same
    /// as tools/extract's `crop_box`, with this recipe's crop rounding.
    public func boxInView(_ box: BoundingBox, originalWidth: Int, originalHeight: Int) -> BoundingBox? {
        guard originalWidth > 0, originalHeight > 0 else { return nil }
        let (w, h) = resizedSize(width: originalWidth, height: originalHeight)
        let (left, top) = cropOrigin(width: w, height: h)
        let sx = Double(w) / Double(originalWidth), sy = Double(h) / Double(originalHeight)
        let side = Double(size)
        func place(_ v: Float, _ scale: Double, _ offset: Int) -> Double {
            min(max(Double(v) * scale - Double(offset), 0), side)
        }
        let x0 = place(box.x0, sx, left), x1 = place(box.x1, sx, left)
        let y0 = place(box.y0, sy, top), y1 = place(box.y1, sy, top)
        guard x0 < x1, y0 < y1 else { return nil }
        return BoundingBox(x0: Float(x0), y0: Float(y0), x1: Float(x1), y1: Float(y1))
    }
}

extension ImagePreprocessing: CustomStringConvertible {
    /// One line for logs and file metadata, e.g. "shortest edge 224, bicubic,
    /// centre crop 224 (floor), rescale 0.00392157, mean [...], std [...]".
    public var description: String {
        let sizing: String
        switch resize {
        case .shortestEdge(let e): sizing = "shortest edge \(e)"
        case .exact(let w, let h): sizing = "resize to \(w)x\(h)"
        }
        let cropping = crop.map { "centre crop \(size) (\($0 == .floor ? "floor" : "half to even"))" } ?? "no crop"
        return "\(sizing), \(filter.rawValue), \(cropping), rescale \(rescaleFactor), mean \(mean), std \(std)"
    }
}
