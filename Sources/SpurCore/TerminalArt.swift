/// Images and heatmaps as terminal cells, with no terminal library: the CLI
/// prints the cells as ANSI escapes, the UI hands them to ncurses.
public enum TerminalArt {
    public typealias RGB = (r: UInt8, g: UInt8, b: UInt8)

    /// One character cell showing two pixels: `top` as the foreground of
    /// `▀`, `bottom` as its background.
    public struct HalfBlock: Equatable, Sendable {
        public var top: [UInt8]     // r, g, b
        public var bottom: [UInt8]
    }

    /// Inferno (matplotlib), sampled at nine points and interpolated linearly.
    static let inferno: [[Double]] = [
        [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
        [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
    ]

    public static func inferno(_ t: Float) -> RGB {
        let x = Double(min(max(t, 0), 1)) * Double(inferno.count - 1)
        let i = min(Int(x), inferno.count - 2), f = x - Double(i)
        func channel(_ c: Int) -> UInt8 { UInt8((inferno[i][c] * (1 - f) + inferno[i + 1][c] * f).rounded()) }
        return (channel(0), channel(1), channel(2))
    }

    /// The heatmap blended over the image in RGB (before any quantisation),
    /// `alpha` the heatmap's weight: `alpha·colormap(heat) + (1 − alpha)·pixel`.
    public static func overlay(_ image: RGBImage, heat: Heatmap, alpha: Float = 0.5,
                               colormap: (Float) -> RGB = inferno) -> RGBImage {
        // Callers make the map at the image's size (CAMRenderer.map); a
        // mismatch is a bug here, not bad input.
        precondition(heat.width == image.width && heat.height == image.height,
                     "heatmap \(heat.width)x\(heat.height) over a \(image.width)x\(image.height) image")
        var px = image.pixels
        // No per-pixel array: this runs for every pixel of every previewed image.
        px.withUnsafeMutableBufferPointer { out in
            for (i, h) in heat.values.enumerated() {
                let c = colormap(h)
                func blend(_ v: UInt8, _ old: UInt8) -> UInt8 { UInt8((alpha * Float(v) + (1 - alpha) * Float(old)).rounded()) }
                out[3 * i] = blend(c.r, out[3 * i])
                out[3 * i + 1] = blend(c.g, out[3 * i + 1])
                out[3 * i + 2] = blend(c.b, out[3 * i + 2])
            }
        }
        return RGBImage(width: image.width, height: image.height, pixels: px)
    }

    /// The heatmap alone, coloured.
    public static func colored(heat: Heatmap, colormap: (Float) -> RGB = inferno) -> RGBImage {
        RGBImage(width: heat.width, height: heat.height,
                 pixels: heat.values.flatMap { h -> [UInt8] in let c = colormap(h); return [c.r, c.g, c.b] })
    }

    /// The largest picture of a `width × height` image that fits in a box of
    /// `columns × rows` character cells keeping its aspect ratio. A cell is
    /// about twice as tall as wide, so it shows one pixel column and two pixel
    /// rows (half blocks; the ASCII ramp samples the same grid). Both results
    /// are at least 1 and never exceed the box, so a picture's size is bounded
    /// by the box, not by the image's aspect ratio.
    public static func fit(width: Int, height: Int, columns: Int, rows: Int) -> (columns: Int, rows: Int) {
        precondition(width > 0 && height > 0, "cannot fit an empty image")
        let boxColumns = max(1, columns), boxRows = max(1, rows)
        let aspect = Double(width) / Double(height)   // pixel columns per pixel row
        // Widest first; if that is too tall, the tallest that fits.
        var c = boxColumns
        var r = Int((Double(c) / aspect / 2).rounded())
        if r > boxRows {
            r = boxRows
            c = min(boxColumns, Int((Double(r) * 2 * aspect).rounded()))
        }
        return (max(1, c), max(1, min(boxRows, r)))
    }

    /// Rows of half-block cells, `columns × rows`: the image resampled to
    /// `columns × 2·rows` pixels, pixel rows paired top and bottom.
    public static func halfBlocks(_ image: RGBImage, columns: Int, rows: Int) -> [[HalfBlock]] {
        let scaled = image.resized(width: columns, height: rows * 2)
        return (0..<rows).map { r in
            (0..<columns).map { c in
                let t = scaled[c, 2 * r], b = scaled[c, 2 * r + 1]
                return HalfBlock(top: [t.0, t.1, t.2], bottom: [b.0, b.1, b.2])
            }
        }
    }

    /// The nearest xterm-256 colour: the 6×6×6 cube (levels 0, 95, 135, 175,
    /// 215, 255) or the 24-step grey ramp (8, 18, …, 238), whichever is closer.
    public static func xterm256(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int {
        let levels = [0, 95, 135, 175, 215, 255]
        func nearestLevel(_ v: UInt8) -> Int {
            levels.indices.min { abs(levels[$0] - Int(v)) < abs(levels[$1] - Int(v)) }!
        }
        let (ri, gi, bi) = (nearestLevel(r), nearestLevel(g), nearestLevel(b))
        func distance(_ x: (Int, Int, Int)) -> Int {
            let dr = x.0 - Int(r), dg = x.1 - Int(g), db = x.2 - Int(b)
            return dr * dr + dg * dg + db * db
        }
        let cube = distance((levels[ri], levels[gi], levels[bi]))
        let mean = (Int(r) + Int(g) + Int(b)) / 3
        let greyIndex = min(23, max(0, (mean - 3) / 10))
        let grey = 8 + 10 * greyIndex
        return distance((grey, grey, grey)) < cube ? 232 + greyIndex : 16 + 36 * ri + 6 * gi + bi
    }

    /// The ASCII ramp for monochrome terminals, darkest first.
    public static let ramp: [Character] = Array(" .:-=+*#%@")

    public static func rampCharacter(_ t: Float) -> Character {
        ramp[min(ramp.count - 1, max(0, Int((min(max(t, 0), 1) * Float(ramp.count - 1)).rounded())))]
    }

    /// Luminance in [0, 1] (Rec. 601 weights).
    public static func luminance(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Float {
        (0.299 * Float(r) + 0.587 * Float(g) + 0.114 * Float(b)) / 255
    }

    /// ASCII art of an image, `columns × rows` characters, one character
    /// for each cell of the resampled image.
    public static func ascii(_ image: RGBImage, columns: Int, rows: Int) -> [String] {
        let scaled = image.resized(width: columns, height: rows)
        return (0..<rows).map { r in
            String((0..<columns).map { c in let p = scaled[c, r]; return rampCharacter(luminance(p.0, p.1, p.2)) })
        }
    }
}
