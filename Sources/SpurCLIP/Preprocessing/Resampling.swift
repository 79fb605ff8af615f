import SpurCore

/// Pillow's `Image.resize` for 8-bit RGB with a convolution filter, pixel
/// for pixel (checked against Pillow in tools/reference/tests/test_preprocessing.py).
///
/// The algorithm, as Pillow documents and implements it: separable, one
/// pass per side, each rounded and clipped to 8 bits (the horizontal pass
/// first, unless the height shrinks much more: see `resampled`); a pass is
/// skipped when its side keeps its size. Output sample `i`
/// is centred on source position `(i + 0.5) * scale` (`scale = in / out`);
/// when shrinking, the filter is stretched by `scale` (antialiasing), so it
/// reaches `support * max(scale, 1)` source pixels each way. Weights are the
/// filter at `(j - centre + 0.5) / max(scale, 1)` for the source pixels `j`
/// in reach, normalised to sum 1 in double precision, then rounded to
/// 22-bit fixed point (half away from zero); each output is
/// `(2^21 + Σ w_j p_j) >> 22`, clipped to 0...255.
public enum ResamplingFilter: String, Sendable, Equatable, CaseIterable {
    /// Keys's cubic convolution with a = -0.5, support 2 (PIL.Image.BICUBIC).
    case bicubic
    /// The triangle, support 1 (PIL.Image.BILINEAR).
    case bilinear

    var support: Double {
        switch self {
        case .bicubic: 2
        case .bilinear: 1
        }
    }

    func weight(_ t: Double) -> Double {
        let x = abs(t)
        switch self {
        case .bicubic:
            let a = -0.5
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .bilinear:
            return x < 1 ? 1 - x : 0
        }
    }
}

/// One pass's taps: output sample `i` reads source samples
/// `first[i] ..< first[i] + count[i]` with `weights[i * stride + k]`.
struct ResamplingTaps: Equatable {
    static let precisionBits = 22
    /// Added before the shift, so it rounds half up.
    static let half = 1 << (precisionBits - 1)

    let first: [Int]
    let count: [Int]
    let stride: Int
    let weights: [Int32]

    /// Taps for resampling `inSize` samples to `outSize`, in double precision
    /// before fixed point: `real[i]` are output `i`'s normalised weights.
    static func real(filter: ResamplingFilter, inSize: Int, outSize: Int) -> (first: [Int], weights: [[Double]]) {
        let scale = Double(inSize) / Double(outSize)
        let stretch = max(scale, 1)
        let support = filter.support * stretch
        var first: [Int] = [], weights: [[Double]] = []
        first.reserveCapacity(outSize)
        weights.reserveCapacity(outSize)
        for i in 0..<outSize {
            let centre = (Double(i) + 0.5) * scale
            // Int() truncates toward zero, as Pillow's C cast does.
            let lo = max(Int(centre - support + 0.5), 0)
            let hi = min(Int(centre + support + 0.5), inSize)
            var w = (lo..<hi).map { filter.weight((Double($0) - centre + 0.5) / stretch) }
            let sum = w.reduce(0, +)
            if sum != 0 { w = w.map { $0 / sum } }
            first.append(lo)
            weights.append(w)
        }
        return (first, weights)
    }

    /// The source samples outputs `outputs` read.
    func reach(of outputs: Range<Int>) -> Range<Int> {
        let end = outputs.map { first[$0] + count[$0] }.max() ?? first[outputs.lowerBound]
        return first[outputs.lowerBound]..<end
    }

    init(filter: ResamplingFilter, inSize: Int, outSize: Int) {
        let (first, real) = Self.real(filter: filter, inSize: inSize, outSize: outSize)
        let stride = real.map(\.count).max() ?? 0
        var weights = [Int32](repeating: 0, count: stride * outSize)
        let one = Double(1 << Self.precisionBits)
        for (i, w) in real.enumerated() {
            for (k, v) in w.enumerated() {
                weights[i * stride + k] = Int32((v * one + (v < 0 ? -0.5 : 0.5)).rounded(.towardZero))
            }
        }
        self.first = first
        self.count = real.map(\.count)
        self.stride = stride
        self.weights = weights
    }
}

extension RGBImage {
    /// The picture resized to `width` × `height` as Pillow's
    /// `img.resize((width, height), filter)` does, but computing only the
    /// output pixels inside `window` (x, y, width, height; the whole output
    /// when nil): each output pixel depends only on its own taps, so this is
    /// exactly Pillow's result cropped, without the work for what a centre
    /// crop throws away.
    public func resampled(width outWidth: Int, height outHeight: Int, filter: ResamplingFilter,
                          window: (x: Int, y: Int, width: Int, height: Int)? = nil) -> RGBImage {
        precondition(outWidth > 0 && outHeight > 0 && width > 0 && height > 0, "resampling needs non-empty sizes")
        let window = window ?? (0, 0, outWidth, outHeight)
        precondition(window.x >= 0 && window.y >= 0 && window.width > 0 && window.height > 0
                     && window.x + window.width <= outWidth && window.y + window.height <= outHeight,
                     "window \(window) outside \(outWidth)x\(outHeight)")
        let columns = window.x..<(window.x + window.width), rows = window.y..<(window.y + window.height)
        let horizontal = outWidth != width ? ResamplingTaps(filter: filter, inSize: width, outSize: outWidth) : nil
        let vertical = outHeight != height ? ResamplingTaps(filter: filter, inSize: height, outSize: outHeight) : nil
        switch (horizontal, vertical) {
        case (nil, nil):
            return cropped(x: window.x, y: window.y, width: window.width, height: window.height)
        case (let h?, nil):
            return horizontalPass(h, outputs: columns, sourceRows: rows, columnOffset: 0)
        case (nil, let v?):
            return verticalPass(v, outputs: rows, sourceColumns: columns, rowOffset: 0)
        case (let h?, let v?):
            // Pillow 13 runs the vertical pass first when the height shrinks
            // by more than twice what the width does (Pillow #9549; found by
            // experiment, as the rounding between passes makes the order
            // visible), else the horizontal one first.
            if outHeight < height && 2 * (width - outWidth) < height - outHeight {
                let needed = h.reach(of: columns)
                return verticalPass(v, outputs: rows, sourceColumns: needed, rowOffset: 0)
                    .horizontalPass(h, outputs: columns, sourceRows: 0..<window.height, columnOffset: needed.lowerBound)
            }
            let needed = v.reach(of: rows)
            return horizontalPass(h, outputs: columns, sourceRows: needed, columnOffset: 0)
                .verticalPass(v, outputs: rows, sourceColumns: 0..<window.width, rowOffset: needed.lowerBound)
        }
    }

    /// Output columns `outputs` for source rows `sourceRows`; this image's
    /// column 0 is source column `columnOffset`.
    private func horizontalPass(_ taps: ResamplingTaps, outputs: Range<Int>, sourceRows: Range<Int>,
                                columnOffset: Int) -> RGBImage {
        let outW = outputs.count, w = width
        var out = [UInt8](repeating: 0, count: outW * sourceRows.count * 3)
        // Each output's start and weights, looked up once rather than per row.
        let starts = outputs.map { (taps.first[$0] - columnOffset) * 3 }
        let counts = outputs.map { taps.count[$0] }
        let weights = outputs.flatMap { i in (0..<taps.stride).map { Int(taps.weights[i * taps.stride + $0]) } }
        let stride = taps.stride
        pixels.withUnsafeBufferPointer { src in
            weights.withUnsafeBufferPointer { weights in
                out.withUnsafeMutableBufferPointer { dst in
                    for (r, y) in sourceRows.enumerated() {
                        let row = y * w * 3
                        var d = r * outW * 3
                        for o in 0..<outW {
                            var s0 = ResamplingTaps.half, s1 = s0, s2 = s0
                            var p = row + starts[o], q = o * stride
                            for _ in 0..<counts[o] {
                                let wk = weights[q]
                                s0 += Int(src[p]) * wk; s1 += Int(src[p + 1]) * wk; s2 += Int(src[p + 2]) * wk
                                p += 3
                                q += 1
                            }
                            dst[d] = Self.clip(s0); dst[d + 1] = Self.clip(s1); dst[d + 2] = Self.clip(s2)
                            d += 3
                        }
                    }
                }
            }
        }
        return RGBImage(width: outW, height: sourceRows.count, pixels: out)
    }

    /// Output rows `outputs` for source columns `sourceColumns`; this image's
    /// row 0 is source row `rowOffset`.
    private func verticalPass(_ taps: ResamplingTaps, outputs: Range<Int>, sourceColumns: Range<Int>,
                              rowOffset: Int) -> RGBImage {
        let rowBytes = width * 3, outBytes = sourceColumns.count * 3, skip = sourceColumns.lowerBound * 3
        var out = [UInt8](repeating: 0, count: outBytes * outputs.count)
        var sums = [Int](repeating: 0, count: outBytes)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                sums.withUnsafeMutableBufferPointer { acc in
                    for (o, i) in outputs.enumerated() {
                        for j in 0..<outBytes { acc[j] = ResamplingTaps.half }
                        for k in 0..<taps.count[i] {
                            let wk = Int(taps.weights[i * taps.stride + k])
                            let row = (taps.first[i] + k - rowOffset) * rowBytes + skip
                            for j in 0..<outBytes { acc[j] += Int(src[row + j]) * wk }
                        }
                        let d = o * outBytes
                        for j in 0..<outBytes { dst[d + j] = Self.clip(acc[j]) }
                    }
                }
            }
        }
        return RGBImage(width: sourceColumns.count, height: outputs.count, pixels: out)
    }

    private static func clip(_ sum: Int) -> UInt8 {
        UInt8(clamping: sum >> ResamplingTaps.precisionBits)
    }

    /// The `width` × `height` region at (`x`, `y`).
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(x >= 0 && y >= 0 && w >= 0 && h >= 0 && x + w <= width && y + h <= height,
                     "crop \(w)x\(h) at (\(x), \(y)) outside \(width)x\(height)")
        if x == 0 && y == 0 && w == width && h == height { return self }
        var out = [UInt8]()
        out.reserveCapacity(w * h * 3)
        for row in y..<(y + h) {
            let start = (row * width + x) * 3
            out.append(contentsOf: pixels[start..<(start + w * 3)])
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}
