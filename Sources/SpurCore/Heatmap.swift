/// Values laid over an image, `width × height`, row-major, top row first:
/// Grad-CAM maps and object masks.
///
/// The shape travels with the values, so a map can only be blended over, or
/// compared with, something of its own width and height; nothing downstream
/// has to guess it (a map built `width × width` for a 500 × 375 image is what
/// this type exists to rule out).
public struct Heatmap: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(width >= 0 && height >= 0 && values.count == width * height,
                     "Heatmap: \(values.count) values for \(width)x\(height)")
        self.width = width
        self.height = height
        self.values = values
    }

    /// All zeros.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, values: [Float](repeating: 0, count: width * height))
    }

    /// A 0/1 mask from an image: 1 where the red channel is above 127 (masks
    /// are black and white; any channel would do).
    public init(mask image: RGBImage) {
        self.init(width: image.width, height: image.height,
                  values: stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] > 127 ? 1 : 0 })
    }

    /// The value in column `x`, row `y`.
    public subscript(x: Int, y: Int) -> Float {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "(\(x), \(y)) outside \(width)x\(height) map")
        return values[y * width + x]
    }

    /// Bilinear upsampling of a `gridHeight × gridWidth` map (row-major) to
    /// `width × height`, each axis on its own, pixel centres aligned as in
    /// `RGBImage.resized`. The two axes scale by different factors when the
    /// image is not square, which is the whole point.
    public static func bilinear(_ grid: [Float], gridWidth gw: Int, gridHeight gh: Int, width: Int, height: Int) -> Heatmap {
        precondition(gw > 0 && gh > 0 && grid.count == gw * gh, "grid of \(grid.count) cells is not \(gh)×\(gw)")
        let columns = Bilinear.taps(count: width, from: gw)
        let rows = Bilinear.taps(count: height, from: gh)
        var out = [Float](repeating: 0, count: width * height)
        for (y, (y0, y1, fy)) in rows.enumerated() {
            for (x, (x0, x1, fx)) in columns.enumerated() {
                let top = grid[y0 * gw + x0] * (1 - fx) + grid[y0 * gw + x1] * fx
                let bottom = grid[y1 * gw + x0] * (1 - fx) + grid[y1 * gw + x1] * fx
                out[y * width + x] = top * (1 - fy) + bottom * fy
            }
        }
        return Heatmap(width: width, height: height, values: out)
    }

    /// Divided by its maximum, so the peak is 1 (all zeros stay zeros); in
    /// place, as a full-size map can be hundreds of megabytes.
    public mutating func scaleToPeak() {
        let peak = values.max() ?? 0
        guard peak > 0 else { return }
        for i in values.indices { values[i] /= peak }
    }
}

/// Where bilinear resampling reads: output index `i` of `count` has its
/// centre `i + 0.5` at source position `(i + 0.5) · size / count`, clamped
/// at the borders. Shared by images and heatmaps so both resample alike.
enum Bilinear {
    /// For each output index: the two source indices and the weight of the second.
    static func taps(count: Int, from size: Int) -> [(Int, Int, Float)] {
        precondition(size > 0 || count == 0, "cannot resample an empty axis")
        return (0..<count).map { i in
            let s = min(max((Float(i) + 0.5) * Float(size) / Float(count) - 0.5, 0), Float(size - 1))
            let i0 = Int(s)
            return (i0, min(i0 + 1, size - 1), s - Float(i0))
        }
    }
}
