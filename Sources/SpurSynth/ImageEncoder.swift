import Foundation
import SpurCore

/// The built-in frozen image encoder. A stem of fixed, seeded random
/// convolutions (stride 2, colour and luminance edges in, ReLU) plays the
/// part of generic early layers; two top layers — a 3×3 convolution whose
/// receptive field spans a whole bird, then a 1×1 convolution — are
/// pre-trained on a broad captioned corpus (`EncoderPretraining`) and then
/// frozen, the analogue of CLIP's web-scale pre-training. Its last map is the
/// spatial feature `F` (`grid × grid × dim`, normalised per channel with
/// statistics fixed once); the pooled feature is the mean of `F`, so Grad-CAM
/// through the head is exactly Grad-CAM on this map.
public struct SyntheticImageEncoder: Sendable {
    struct Layer: Sendable {
        var kernel: Int, stride: Int, inChannels: Int, outChannels: Int
        var weights: Matrix   // [kernel·kernel·inChannels, outChannels]
        var bias: [Float]
    }

    public let imageSize: Int
    var stem: [Layer]
    /// The pre-trained layers: `top[0]` 3×3 stride 1, `top[1]` 1×1.
    var top: [Layer]
    var mean: [Float]
    var inverseStd: [Float]
    /// The stem output's per-channel standardisation (fixed once, like a frozen batch norm).
    var stemMean: [Float], stemInverseStd: [Float]

    public var dim: Int { top.last!.outChannels }
    public var grid: Int { stem.reduce(imageSize) { ($0 + $1.stride - 1) / $1.stride } }
    var cells: Int { grid * grid }
    var stemChannels: Int { stem.last!.outChannels }

    /// `widths`: the stem's channels (each a stride-2 layer), then the two
    /// pre-trained layers' channels.
    public init(seed: UInt64, imageSize: Int, widths: [Int] = SynthRecipe().encoderWidths) {
        precondition(widths.count >= 3, "an encoder needs a stem layer and two top layers")
        var rng = SeededGenerator(seed: seed, purpose: "image-encoder")
        self.imageSize = imageSize
        func layer(_ k: Int, _ stride: Int, _ inC: Int, _ outC: Int, bias: Float) -> Layer {
            let fanIn = k * k * inC
            // He initialisation keeps activations O(1) through the ReLUs; a
            // small negative stem bias makes the features sparse, hence selective.
            let weights = rng.gaussianMatrix(rows: fanIn, cols: outC, std: (2 / Float(fanIn)).squareRoot())
            return Layer(kernel: k, stride: stride, inChannels: inC, outChannels: outC, weights: weights,
                         bias: (0..<outC).map { _ in bias * abs(rng.nextGaussian()) })
        }
        var stem: [Layer] = []
        var inC = Self.inputChannels
        for (i, w) in widths.dropLast(2).enumerated() {
            stem.append(layer(i == 0 ? 5 : 3, 2, inC, w, bias: -0.1))
            inC = w
        }
        let (w4, w5) = (widths[widths.count - 2], widths[widths.count - 1])
        top = [layer(3, 1, inC, w4, bias: 0), layer(1, 1, w4, w5, bias: 0)]
        self.stem = stem
        stemMean = [Float](repeating: 0, count: inC)
        stemInverseStd = [Float](repeating: 1, count: inC)
        mean = [Float](repeating: 0, count: w5)
        inverseStd = [Float](repeating: 1, count: w5)
    }

    // MARK: Forward

    /// The stem's output for a batch: `[B·cells, stemChannels]`, HWC per image.
    func stemActivations(_ images: ArraySlice<RGBImage>) -> Matrix {
        var size = imageSize
        let c = Self.inputChannels
        var act = Matrix(rows: images.count * size * size, cols: c)
        for (b, img) in images.enumerated() {
            precondition(img.width == imageSize && img.height == imageSize, "image is not \(imageSize)×\(imageSize)")
            act.storage.replaceSubrange(b * size * size * c ..< (b + 1) * size * size * c, with: Self.inputFeatures(img))
        }
        for layer in stem {
            (act, size) = Self.convolve(act, images: images.count, size: size, layer: layer)
        }
        Self.standardise(&act, mean: stemMean, inverseStd: stemInverseStd)
        return act
    }

    mutating func calibrateStem(on images: [RGBImage]) {
        (stemMean, stemInverseStd) = ([Float](repeating: 0, count: stemChannels), [Float](repeating: 1, count: stemChannels))
        (stemMean, stemInverseStd) = Self.channelStatistics(stemActivations(images[...]))
    }

    /// What the top layers compute for a batch, kept for the backward pass.
    struct TopForward {
        var patches: Matrix   // im2col of the stem output
        var hidden: Matrix    // ReLU(top[0]), [B·cells, w4]
        var output: Matrix    // ReLU(top[1]), [B·cells, dim], before normalisation
    }

    func topForward(stem act: Matrix, images: Int) -> TopForward {
        let (patches, _) = Self.im2col(act, images: images, size: grid, layer: top[0])
        let hidden = Self.affineReLU(patches, top[0])
        return TopForward(patches: patches, hidden: hidden, output: Self.affineReLU(hidden, top[1]))
    }

    /// The stem's output for many images, `[N·cells, stemChannels]`, after
    /// fixing the stem's standardisation on the first 256 of them. The stem is
    /// frozen, so pre-training computes this once and reuses it.
    mutating func stemOutput(_ images: [RGBImage]) -> Matrix {
        calibrateStem(on: Array(images.prefix(256)))
        let encoder = self
        return Matrix.vstack(Self.inParallel(batchesOf: images.count) { encoder.stemActivations(images[$0]) })
    }

    /// `body` over consecutive batches of `count` items, the batches spread
    /// over every core with BLAS single-threaded meanwhile, results in order.
    /// The stem's products are skinny (32–128 columns) and its im2col copies
    /// are plain Swift, so two batches side by side beat one batch on two
    /// BLAS threads. Each batch's result does not depend on the thread that
    /// computed it, so the output stays deterministic.
    static func inParallel(batchesOf count: Int, _ body: @Sendable (Range<Int>) -> Matrix) -> [Matrix] {
        let ranges = stride(from: 0, to: count, by: batch).map { $0..<min(count, $0 + batch) }
        return BLASInfo.singleThreaded { Parallel.map(ranges.count) { body(ranges[$0]) } }
    }

    /// Pooled features, before normalisation, from a stem output (`stemOutput`).
    func rawPooledFeatures(stemOutput s: Matrix) -> Matrix {
        let cells = self.cells
        return Matrix.vstack(Self.inParallel(batchesOf: s.rows / cells) { images in
            topForward(stem: s.rows((images.lowerBound * cells)..<(images.upperBound * cells)), images: images.count)
                .output.meanOfRowBlocks(cells)
        })
    }

    /// Unnormalised maps of a batch, `[B·cells, dim]`.
    func rawMaps(_ images: ArraySlice<RGBImage>) -> Matrix {
        topForward(stem: stemActivations(images), images: images.count).output
    }

    /// Spatial maps `[grid·grid, dim]`, one per image, normalised.
    public func spatialMaps(_ images: [RGBImage]) -> [Matrix] {
        let batches = Self.inParallel(batchesOf: images.count) { range in
            var m = rawMaps(images[range])
            normalise(&m)
            return m
        }
        let cells = self.cells
        return batches.flatMap { m in (0..<(m.rows / cells)).map { b in m.rows(b * cells ..< (b + 1) * cells) } }
    }

    func normalise(_ m: inout Matrix) { Self.standardise(&m, mean: mean, inverseStd: inverseStd) }

    static func standardise(_ m: inout Matrix, mean: [Float], inverseStd: [Float]) {
        let d = m.cols
        m.storage.withUnsafeMutableBufferPointer { x in
            for r in 0..<m.rows {
                for c in 0..<d { x[r * d + c] = (x[r * d + c] - mean[c]) * inverseStd[c] }
            }
        }
    }

    /// Per-column mean and inverse standard deviation of the rows of `m`,
    /// with 1 % of the columns' mean variance added to each variance.
    ///
    /// Without that ε a channel that is dead (or all but dead) on the
    /// calibration images gets an inverse std of up to 10⁶, and the rare
    /// image that does wake it gets a pooled feature in the thousands (2,912
    /// was seen); CLIP's features have no such outliers. Like the ε of a batch
    /// norm, but relative, so it means the same at any feature scale.
    static func channelStatistics(_ p: Matrix) -> ([Float], [Float]) {
        let d = p.cols
        var sum = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        for r in 0..<p.rows {
            for c in 0..<d { let x = Double(p.storage[r * d + c]); sum[c] += x; sq[c] += x * x }
        }
        let n = Double(max(p.rows, 1))
        let mean = sum.map { Float($0 / n) }
        let variance = (0..<d).map { c in max(sq[c] / n - sum[c] * sum[c] / (n * n), 0) }
        let epsilon = max(0.01 * variance.reduce(0, +) / Double(max(d, 1)), 1e-12)
        return (mean, variance.map { Float(1 / ($0 + epsilon).squareRoot()) })
    }

    /// Fixes the output normalisation from calibration features (the raw
    /// pooled features of the pre-training corpus), like a frozen batch norm:
    /// each channel of the pooled feature gets mean 0 and variance 1 there.
    mutating func calibrate(pooled p: Matrix) { (mean, inverseStd) = Self.channelStatistics(p) }

    static let batch = 64

    // MARK: Layers

    /// `ReLU(x·W + b)`.
    static func affineReLU(_ x: Matrix, _ layer: Layer) -> Matrix {
        var y = Matrix(rows: x.rows, cols: layer.outChannels)
        Matrix.gemm(x, layer.weights, into: &y)
        let n = y.cols
        y.storage.withUnsafeMutableBufferPointer { out in
            for r in 0..<y.rows {
                for c in 0..<n { out[r * n + c] = max(0, out[r * n + c] + layer.bias[c]) }
            }
        }
        return y
    }

    static func convolve(_ x: Matrix, images: Int, size: Int, layer: Layer) -> (Matrix, Int) {
        let (cols, outSize) = im2col(x, images: images, size: size, layer: layer)
        return (affineReLU(cols, layer), outSize)
    }

    /// Colour (centred RGB) plus the luminance gradient (Sobel x, y and its
    /// magnitude): edges make the first layer see silhouettes whatever the
    /// colours, as the early layers of a trained network do.
    static let inputChannels = 6

    static func inputFeatures(_ img: RGBImage) -> [Float] {
        let n = img.width
        var lum = [Float](repeating: 0, count: n * n)
        for i in 0..<(n * n) {
            lum[i] = (0.299 * Float(img.pixels[3 * i]) + 0.587 * Float(img.pixels[3 * i + 1]) + 0.114 * Float(img.pixels[3 * i + 2])) / 255
        }
        func l(_ x: Int, _ y: Int) -> Float { lum[min(max(y, 0), n - 1) * n + min(max(x, 0), n - 1)] }
        var out = [Float](repeating: 0, count: n * n * inputChannels)
        for y in 0..<n {
            for x in 0..<n {
                let i = y * n + x
                let gx = (l(x + 1, y - 1) + 2 * l(x + 1, y) + l(x + 1, y + 1)) - (l(x - 1, y - 1) + 2 * l(x - 1, y) + l(x - 1, y + 1))
                let gy = (l(x - 1, y + 1) + 2 * l(x, y + 1) + l(x + 1, y + 1)) - (l(x - 1, y - 1) + 2 * l(x, y - 1) + l(x + 1, y - 1))
                let o = i * inputChannels
                out[o] = Float(img.pixels[3 * i]) / 255 - 0.5
                out[o + 1] = Float(img.pixels[3 * i + 1]) / 255 - 0.5
                out[o + 2] = Float(img.pixels[3 * i + 2]) / 255 - 0.5
                out[o + 3] = gx
                out[o + 4] = gy
                out[o + 5] = (gx * gx + gy * gy).squareRoot()
            }
        }
        return out
    }

    /// Patches of every output position as rows (zero padding `kernel/2`),
    /// so the convolution is one sgemm.
    static func im2col(_ x: Matrix, images: Int, size: Int, layer: Layer) -> (Matrix, Int) {
        let (k, s, c) = (layer.kernel, layer.stride, layer.inChannels)
        let pad = k / 2
        let outSize = (size + s - 1) / s
        var cols = Matrix(rows: images * outSize * outSize, cols: k * k * c)
        x.storage.withUnsafeBufferPointer { src in
            cols.storage.withUnsafeMutableBufferPointer { dst in
                var row = 0
                for b in 0..<images {
                    for oy in 0..<outSize {
                        for ox in 0..<outSize {
                            var col = row * k * k * c
                            for ky in 0..<k {
                                let y = oy * s + ky - pad
                                for kx in 0..<k {
                                    let xx = ox * s + kx - pad
                                    if y >= 0 && y < size && xx >= 0 && xx < size {
                                        let base = ((b * size + y) * size + xx) * c
                                        for ch in 0..<c { dst[col + ch] = src[base + ch] }
                                    }
                                    col += c
                                }
                            }
                            row += 1
                        }
                    }
                }
            }
        }
        return (cols, outSize)
    }
}
