import SpurCore

/// The built-in frozen image encoder: a fixed, seeded convolutional network
/// with random filters (im2col + sgemm), ReLU after each layer, and a frozen
/// per-channel normalisation calibrated once. Its last map is the spatial
/// feature `F` (`grid × grid × dim`); the pooled feature is its mean, so
/// Grad-CAM through the head is exactly Grad-CAM on this map.
public struct SyntheticImageEncoder: Sendable {
    struct Layer: Sendable {
        var kernel: Int, stride: Int, inChannels: Int, outChannels: Int
        var weights: Matrix   // [kernel·kernel·inChannels, outChannels]
        var bias: [Float]
    }

    public let imageSize: Int
    var layers: [Layer]
    var mean: [Float]
    var inverseStd: [Float]

    public var dim: Int { layers.last!.outChannels }
    public var grid: Int { layers.reduce(imageSize) { ($0 + $1.stride - 1) / $1.stride } }

    public init(seed: UInt64, imageSize: Int, widths: [Int] = [64, 128, 256]) {
        var rng = SeededGenerator(seed: seed, purpose: "image-encoder")
        self.imageSize = imageSize
        var layers: [Layer] = []
        var inC = SyntheticImageEncoder.inputChannels
        for (i, w) in widths.enumerated() {
            let k = i == 0 ? 5 : 3
            let fanIn = k * k * inC
            // He initialisation keeps activations O(1) through the ReLUs; a
            // small negative bias makes the features sparse, hence selective.
            let weights = rng.gaussianMatrix(rows: fanIn, cols: w, std: (2 / Float(fanIn)).squareRoot())
            let bias = (0..<w).map { _ in -0.1 * abs(rng.nextGaussian()) }
            layers.append(Layer(kernel: k, stride: 2, inChannels: inC, outChannels: w, weights: weights, bias: bias))
            inC = w
        }
        self.layers = layers
        mean = [Float](repeating: 0, count: inC)
        inverseStd = [Float](repeating: 1, count: inC)
    }

    /// Fixes the output normalisation from calibration images (the
    /// pre-training corpus), like a frozen batch norm.
    public mutating func calibrate(on images: [RGBImage]) {
        let maps = rawMaps(images)
        let d = dim
        var sum = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
        for m in maps {
            let pooled = m.meanOfRowBlocks(m.rows)
            for c in 0..<d { sum[c] += Double(pooled.storage[c]); sq[c] += Double(pooled.storage[c] * pooled.storage[c]) }
        }
        let n = Double(maps.count)
        for c in 0..<d {
            let mu = sum[c] / n
            mean[c] = Float(mu)
            inverseStd[c] = Float(1 / max((sq[c] / n - mu * mu).squareRoot(), 1e-6))
        }
    }

    /// Spatial maps `[grid·grid, dim]`, one per image, normalised.
    public func spatialMaps(_ images: [RGBImage]) -> [Matrix] {
        rawMaps(images).map { m in
            var m = m
            for r in 0..<m.rows {
                for c in 0..<m.cols { m.storage[r * m.cols + c] = (m.storage[r * m.cols + c] - mean[c]) * inverseStd[c] }
            }
            return m
        }
    }

    private func rawMaps(_ images: [RGBImage]) -> [Matrix] {
        var out: [Matrix] = []
        out.reserveCapacity(images.count)
        let batch = 32
        var start = 0
        while start < images.count {
            let chunk = Array(images[start..<min(images.count, start + batch)])
            var size = imageSize
            // Activations of the whole chunk, [B·size·size, channels], HWC per image.
            let c = Self.inputChannels
            var act = Matrix(rows: chunk.count * size * size, cols: c)
            for (b, img) in chunk.enumerated() {
                precondition(img.width == imageSize && img.height == imageSize, "image is not \(imageSize)×\(imageSize)")
                let channels = Self.inputFeatures(img)
                act.storage.replaceSubrange(b * size * size * c ..< (b + 1) * size * size * c, with: channels)
            }
            for layer in layers {
                let (cols, outSize) = Self.im2col(act, images: chunk.count, size: size, layer: layer)
                var next = Matrix(rows: cols.rows, cols: layer.outChannels)
                Matrix.gemm(cols, layer.weights, into: &next)
                for r in 0..<next.rows {
                    for c in 0..<next.cols {
                        next.storage[r * next.cols + c] = max(0, next.storage[r * next.cols + c] + layer.bias[c])
                    }
                }
                act = next
                size = outSize
            }
            let cells = size * size
            for b in 0..<chunk.count { out.append(act.rows(b * cells ..< (b + 1) * cells)) }
            start += batch
        }
        return out
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

