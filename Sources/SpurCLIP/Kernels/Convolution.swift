import CBLAS

/// The extents of a batch of feature maps stored NHWC (image, row, column,
/// channel): a pixel's channels are contiguous, so a 1×1 convolution is one
/// sgemm on the map as it lies, and im2col copies whole channel runs.
struct MapShape: Equatable, Sendable {
    var count: Int
    var height: Int
    var width: Int
    var channels: Int

    var pixels: Int { count * height * width }
    var elements: Int { pixels * channels }
}

/// BatchNorm in eval mode: `y = (x − mean) / √(var + eps) · gamma + beta`,
/// per channel, as `torch.nn.BatchNorm2d` computes it with running statistics.
struct BatchNorm: Sendable {
    let gamma: [Float]
    let beta: [Float]
    let mean: [Float]
    let variance: [Float]
    let eps: Float

    /// The per-channel `y = x · scale + shift` it amounts to (in Double, so
    /// folding adds no rounding beyond the final one).
    var affine: (scale: [Double], shift: [Double]) {
        var scale = [Double](repeating: 0, count: gamma.count), shift = scale
        for c in gamma.indices {
            scale[c] = Double(gamma[c]) / (Double(variance[c]) + Double(eps)).squareRoot()
            shift[c] = Double(beta[c]) - Double(mean[c]) * scale[c]
        }
        return (scale, shift)
    }
}

/// A 2-D convolution with a bias, on NHWC maps, as im2col and sgemm:
/// the output `[pixels, out]` is `columns [pixels, k·k·in] · Wᵀ`, one sgemm
/// over every image of the batch (in row chunks when the column matrix
/// would be large). A 1×1, stride-1 convolution skips im2col: the map is
/// already its own column matrix.
struct Convolution2D: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernel: Int
    let stride: Int
    let padding: Int
    /// `[out, kernel, kernel, in]`: PyTorch's `[out, in, kh, kw]` reordered
    /// so a column row `(ky, kx, c)` is a copy of input channel runs.
    let weight: [Float]
    let bias: [Float]

    /// Most floats of a column matrix held at once (64 MB): bounds memory
    /// for large images and batches while keeping the sgemm's M in the
    /// thousands, where it runs at full speed.
    static let columnBudget = 1 << 24

    /// From PyTorch's layout `[out, in, kernel, kernel]`.
    init(torchWeight w: [Float], outChannels: Int, inChannels: Int, kernel: Int, bias: [Float],
         stride: Int = 1, padding: Int = 0) {
        precondition(w.count == outChannels * inChannels * kernel * kernel && bias.count == outChannels)
        self.inChannels = inChannels; self.outChannels = outChannels; self.kernel = kernel
        self.stride = stride; self.padding = padding; self.bias = bias
        var reordered = [Float](repeating: 0, count: w.count)
        let kk = kernel * kernel
        for o in 0..<outChannels {
            for c in 0..<inChannels {
                for k in 0..<kk { reordered[(o * kk + k) * inChannels + c] = w[(o * inChannels + c) * kk + k] }
            }
        }
        weight = reordered
    }

    /// A bias-free convolution followed by BatchNorm, folded into one
    /// convolution: `W'[o] = W[o] · scale[o]`, `b'[o] = shift[o]`.
    init(torchWeight w: [Float], outChannels: Int, inChannels: Int, kernel: Int, folding norm: BatchNorm,
         stride: Int = 1, padding: Int = 0) {
        let (scale, shift) = norm.affine
        let perOutput = inChannels * kernel * kernel
        var scaled = w
        for o in 0..<outChannels {
            for i in 0..<perOutput { scaled[o * perOutput + i] = Float(Double(w[o * perOutput + i]) * scale[o]) }
        }
        self.init(torchWeight: scaled, outChannels: outChannels, inChannels: inChannels, kernel: kernel,
                  bias: shift.map { Float($0) }, stride: stride, padding: padding)
    }

    /// PyTorch's output extent along one axis.
    func outputExtent(_ n: Int) -> Int { (n + 2 * padding - kernel) / stride + 1 }

    func outputShape(_ s: MapShape) -> MapShape {
        MapShape(count: s.count, height: outputExtent(s.height), width: outputExtent(s.width), channels: outChannels)
    }

    /// Multiply-adds ×2 for a batch of this input shape.
    func flops(_ s: MapShape) -> Double {
        Double(outputShape(s).pixels) * Double(kernel * kernel * inChannels) * Double(outChannels) * 2
    }

    /// `y = conv(x) + b`, or `y += conv(x) + b` with `accumulate` (a
    /// residual already in `y`); then ReLU with `relu`. `y` holds
    /// `outputShape(shape)` and must not overlap `x`.
    func apply(_ x: UnsafePointer<Float>, shape s: MapShape, into y: UnsafeMutablePointer<Float>,
               accumulate: Bool = false, relu: Bool = false, scratch: ConvolutionScratch,
               columnBudget: Int = Convolution2D.columnBudget) {
        precondition(s.channels == inChannels)
        let out = outputShape(s)
        let rows = out.pixels, k = kernel * kernel * inChannels
        guard rows > 0 else { return }
        let direct = kernel == 1 && stride == 1 && padding == 0
        let chunk = direct ? rows : max(1, min(rows, columnBudget / k))
        let columns = direct ? nil : scratch.columns(chunk * k)
        weight.withUnsafeBufferPointer { w in
            var start = 0
            while start < rows {
                let n = min(chunk, rows - start)
                let a: UnsafePointer<Float>
                if let columns {
                    im2col(x, shape: s, output: out, rows: start ..< start + n, into: columns)
                    a = UnsafePointer(columns)
                } else {
                    a = x + start * k
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(outChannels), blasint(k),
                            1, a, blasint(k), w.baseAddress!, blasint(k), accumulate ? 1 : 0,
                            y + start * outChannels, blasint(outChannels))
                start += n
            }
        }
        addBias(y, rows: rows, relu: relu)
    }

    /// The column rows of output pixels `rows` (flat over images): row `m`
    /// holds the `kernel × kernel × in` input values its output reads, zero
    /// where the window leaves the image. A window's row `ky` is one copy of
    /// `kernel · in` contiguous floats when it lies inside the image.
    private func im2col(_ x: UnsafePointer<Float>, shape s: MapShape, output out: MapShape, rows: Range<Int>,
                        into columns: UnsafeMutablePointer<Float>) {
        let c = inChannels, run = kernel * c, k = kernel * run
        let perImage = out.height * out.width
        for m in rows {
            let image = m / perImage, r = m % perImage
            let oy = r / out.width, ox = r % out.width
            let iy0 = oy * stride - padding, ix0 = ox * stride - padding
            let source = x + image * s.height * s.width * c
            let row = columns + (m - rows.lowerBound) * k
            for ky in 0..<kernel {
                let iy = iy0 + ky, dst = row + ky * run
                if iy < 0 || iy >= s.height {
                    dst.update(repeating: 0, count: run)
                } else if ix0 >= 0 && ix0 + kernel <= s.width {
                    dst.update(from: source + (iy * s.width + ix0) * c, count: run)
                } else {
                    for kx in 0..<kernel {
                        let ix = ix0 + kx
                        if ix < 0 || ix >= s.width {
                            (dst + kx * c).update(repeating: 0, count: c)
                        } else {
                            (dst + kx * c).update(from: source + (iy * s.width + ix) * c, count: c)
                        }
                    }
                }
            }
        }
    }

    /// The epilogue after the sgemm: one pass adding the bias, with ReLU.
    private func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int, relu: Bool) {
        let n = outChannels
        bias.withUnsafeBufferPointer { b in
            let b = b.baseAddress!
            for r in 0..<rows {
                let row = y + r * n
                if relu {
                    for i in 0..<n { row[i] = max(0, row[i] + b[i]) }
                } else {
                    for i in 0..<n { row[i] += b[i] }
                }
            }
        }
    }
}

/// `nn.AvgPool2d(k)` on NHWC maps: stride `k`, no padding, partial windows
/// at the bottom and right dropped (PyTorch's floor rule). OpenAI's
/// ModifiedResNet puts it before its strided steps (anti-aliasing).
func averagePool(_ x: UnsafePointer<Float>, shape s: MapShape, kernel k: Int, into y: UnsafeMutablePointer<Float>) {
    let oh = s.height / k, ow = s.width / k, c = s.channels
    let scale = 1 / Float(k * k)
    for image in 0..<s.count {
        let source = x + image * s.height * s.width * c
        for oy in 0..<oh {
            for ox in 0..<ow {
                let dst = y + ((image * oh + oy) * ow + ox) * c
                dst.update(repeating: 0, count: c)
                for dy in 0..<k {
                    for dx in 0..<k {
                        let src = source + ((oy * k + dy) * s.width + ox * k + dx) * c
                        for i in 0..<c { dst[i] += src[i] }
                    }
                }
                for i in 0..<c { dst[i] *= scale }
            }
        }
    }
}

/// `y = max(0, y)`, elementwise.
func rectify(_ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = max(0, y[i]) }
}

/// The column matrix of im2col, kept across the convolutions of one pass
/// and grown to the largest asked for (its contents never outlive a call).
final class ConvolutionScratch {
    private var buffer: UnsafeMutablePointer<Float>?
    private var capacity = 0

    func columns(_ count: Int) -> UnsafeMutablePointer<Float> {
        if let buffer, capacity >= count { return buffer }
        buffer?.deallocate()
        let fresh = UnsafeMutablePointer<Float>.allocate(capacity: count)
        buffer = fresh; capacity = count
        return fresh
    }

    deinit { buffer?.deallocate() }
}
