import SpurCore

/// An RGB raster that remembers, for every pixel, which layer painted it
/// last, so the bird's mask is exactly the pixels it covers in the final
/// image (objects painted over the bird take those pixels back).
struct Canvas {
    let size: Int
    var pixels: [UInt8]
    var owner: [UInt8]

    static let background: UInt8 = 0
    static let object: UInt8 = 1
    static let bird: UInt8 = 2

    init(size: Int) {
        self.size = size
        pixels = [UInt8](repeating: 0, count: size * size * 3)
        owner = [UInt8](repeating: Canvas.background, count: size * size)
    }

    typealias Color = (UInt8, UInt8, UInt8)

    mutating func set(_ x: Int, _ y: Int, _ c: Color, layer: UInt8) {
        guard x >= 0, y >= 0, x < size, y < size else { return }
        let i = y * size + x
        pixels[3 * i] = c.0; pixels[3 * i + 1] = c.1; pixels[3 * i + 2] = c.2
        owner[i] = layer
    }

    /// Every pixel whose centre lies inside the rotated ellipse.
    mutating func ellipse(cx: Double, cy: Double, rx: Double, ry: Double, angle: Double = 0,
                          _ c: Color, layer: UInt8) {
        let r = max(rx, ry)
        let (cosA, sinA) = (cosine(angle), sine(angle))
        for y in Int((cy - r).rounded(.down))...Int((cy + r).rounded(.up)) {
            for x in Int((cx - r).rounded(.down))...Int((cx + r).rounded(.up)) {
                let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                let u = dx * cosA + dy * sinA, v = -dx * sinA + dy * cosA
                if (u * u) / (rx * rx) + (v * v) / (ry * ry) <= 1 { set(x, y, c, layer: layer) }
            }
        }
    }

    /// A segment of the given width: pixels within `width/2` of it.
    mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, width: Double,
                       _ c: Color, layer: UInt8) {
        let h = width / 2
        let (lo, hi) = (min(x0, x1) - h, max(x0, x1) + h)
        let (top, bottom) = (min(y0, y1) - h, max(y0, y1) + h)
        let dx = x1 - x0, dy = y1 - y0
        let len2 = max(dx * dx + dy * dy, 1e-9)
        for y in Int(top.rounded(.down))...Int(bottom.rounded(.up)) {
            for x in Int(lo.rounded(.down))...Int(hi.rounded(.up)) {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                let t = min(1, max(0, ((px - x0) * dx + (py - y0) * dy) / len2))
                let ex = px - (x0 + t * dx), ey = py - (y0 + t * dy)
                if ex * ex + ey * ey <= h * h { set(x, y, c, layer: layer) }
            }
        }
    }

    /// A filled convex or concave polygon (even-odd rule on pixel centres).
    mutating func polygon(_ points: [(Double, Double)], _ c: Color, layer: UInt8) {
        guard points.count >= 3 else { return }
        let ys = points.map(\.1), xs = points.map(\.0)
        for y in Int(ys.min()!.rounded(.down))...Int(ys.max()!.rounded(.up)) {
            for x in Int(xs.min()!.rounded(.down))...Int(xs.max()!.rounded(.up)) {
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                var inside = false
                var j = points.count - 1
                for i in points.indices {
                    let (xi, yi) = points[i], (xj, yj) = points[j]
                    if (yi > py) != (yj > py), px < (xj - xi) * (py - yi) / (yj - yi) + xi { inside.toggle() }
                    j = i
                }
                if inside { set(x, y, c, layer: layer) }
            }
        }
    }

    var image: RGBImage { RGBImage(width: size, height: size, pixels: pixels) }

    /// The bird's mask as a grey image (255 bird, 0 elsewhere).
    var birdMask: [UInt8] { owner.map { $0 == Canvas.bird ? 255 : 0 } }
}

// Foundation's cos/sin differ in name across platforms; these keep Canvas free of #if.
#if canImport(Glibc)
import Glibc
#endif
@inline(__always) func cosine(_ x: Double) -> Double { cos(x) }
@inline(__always) func sine(_ x: Double) -> Double { sin(x) }
