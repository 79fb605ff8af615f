import SpurCore

/// The two classes: told apart by the bird's shape only.
public enum BirdClass: Int, CaseIterable, Sendable {
    case landbird = 0, waterbird = 1
    public var name: String { self == .landbird ? "landbird" : "waterbird" }
}

/// The background: the easy, spurious signal.
public enum Background: Int, CaseIterable, Sendable {
    case land = 0, water = 1
    public var name: String { self == .land ? "land" : "water" }
}

/// Extra objects, with frequencies that depend on class and background so
/// that detection finds spurious attributes (tied to the background) and
/// harmless ones (independent of both).
public enum SceneObject: String, CaseIterable, Sendable {
    case boat, tree, sun, cloud, rock, reeds

    /// P(object | class, background).
    func probability(_ c: BirdClass, _ b: Background) -> Double {
        switch (self, b) {
        case (.boat, .water): return 0.35
        case (.boat, .land): return 0.02
        case (.tree, .land): return 0.5
        case (.tree, .water): return 0.06
        case (.reeds, .water): return c == .waterbird ? 0.4 : 0.25
        case (.reeds, .land): return 0.05
        case (.rock, .land): return 0.3
        case (.rock, .water): return 0.15
        case (.sun, _): return 0.3
        case (.cloud, _): return 0.45
        }
    }
}

/// Everything random about one scene, drawn once from the scene stream.
public struct SceneSpec: Sendable {
    public var birdClass: BirdClass { Species.all[species].birdClass }
    /// Index into `Species.all`.
    public var species: Int
    public var background: Background
    public var objects: Set<SceneObject>
    var horizon: Double
    var birdX: Double, birdY: Double, birdScale: Double, facingLeft: Bool
    var shape: BirdShape
    var bodyColor: Canvas.Color, wingColor: Canvas.Color, beakColor: Canvas.Color
    var variation: [Double]   // small per-scene shape and placement jitter, in [0, 1)
    var textureSeed: UInt64

    /// Colours shared by both classes, so colour is no shortcut.
    static let plumage: [Canvas.Color] = [
        (200, 60, 50), (230, 200, 60), (90, 70, 50), (240, 240, 235), (40, 40, 45),
        (120, 120, 130), (180, 110, 60), (70, 110, 170), (150, 80, 150), (210, 150, 120),
    ]
    static let beaks: [Canvas.Color] = [(240, 150, 30), (250, 220, 60), (30, 30, 30), (150, 150, 150)]

    static func sample(_ c: BirdClass, _ b: Background, size: Int, rng: inout SeededGenerator) -> SceneSpec {
        func u() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        var objects = Set<SceneObject>()
        for o in SceneObject.allCases where u() < o.probability(c, b) { objects.insert(o) }
        let candidates = Species.of(c)
        let species = candidates[min(Int(u() * Double(candidates.count)), candidates.count - 1)]
        let traits = Species.all[species]
        let s = Double(size)
        let horizon = s * (0.3 + 0.12 * u())
        let scale = s / 64 * (1.7 + 0.4 * u())
        // Plumage: usually one of the species' colours, sometimes any colour.
        func colour() -> Canvas.Color {
            u() < 0.75 ? plumage[traits.plumage[Int(u() * Double(traits.plumage.count))]]
                       : plumage[Int(u() * Double(plumage.count))]
        }
        let body = colour()
        var wing = colour()
        if wing == body { wing = (body.0 / 2, body.1 / 2, body.2 / 2) }
        return SceneSpec(
            species: species, background: b, objects: objects, horizon: horizon,
            birdX: s * (0.32 + 0.36 * u()), birdY: horizon + (s - horizon) * (0.3 + 0.25 * u()),
            birdScale: scale, facingLeft: u() < 0.5, shape: BirdShape.sample(traits, u),
            bodyColor: body, wingColor: wing,
            beakColor: beaks[Int(u() * Double(beaks.count))],
            variation: (0..<16).map { _ in u() }, textureSeed: rng.next())
    }
}

/// Draws a scene: background, then the objects behind the bird, the bird,
/// and the reeds in front of it.
public enum SceneRenderer {
    public struct Rendered: Sendable {
        public var image: RGBImage
        /// 255 where the bird is visible, 0 elsewhere, row-major.
        public var mask: [UInt8]
    }

    public static func render(_ spec: SceneSpec, size: Int) -> Rendered {
        var canvas = Canvas(size: size)
        var rng = SeededGenerator(seed: spec.textureSeed)
        drawBackground(spec, &canvas, &rng)
        let s = Double(size) / 64
        let v = spec.variation
        if spec.objects.contains(.sun) {
            canvas.ellipse(cx: Double(size) * (0.15 + 0.7 * v[0]), cy: spec.horizon * 0.35, rx: 4.5 * s, ry: 4.5 * s,
                           (250, 215, 70), layer: Canvas.object)
        }
        if spec.objects.contains(.cloud) {
            let cx = Double(size) * (0.2 + 0.6 * v[1]), cy = spec.horizon * (0.3 + 0.3 * v[2])
            for (dx, dy, r) in [(-5.0, 0.0, 3.5), (0, -1.5, 4.5), (5, 0, 3.5)] {
                canvas.ellipse(cx: cx + dx * s, cy: cy + dy * s, rx: r * s * 1.2, ry: r * s * 0.8, (245, 245, 250), layer: Canvas.object)
            }
        }
        if spec.objects.contains(.tree) {
            let x = v[3] < 0.5 ? Double(size) * (0.05 + 0.15 * v[4]) : Double(size) * (0.8 + 0.15 * v[4])
            canvas.line(x, spec.horizon + 6 * s, x, spec.horizon - 6 * s, width: 2.5 * s, (100, 65, 35), layer: Canvas.object)
            canvas.ellipse(cx: x, cy: spec.horizon - 9 * s, rx: 6 * s, ry: 7 * s, (40, 120, 45), layer: Canvas.object)
        }
        if spec.objects.contains(.boat) {
            let x = Double(size) * (0.15 + 0.7 * v[5]), y = spec.horizon + 5 * s
            canvas.polygon([(x - 8 * s, y), (x + 8 * s, y), (x + 5 * s, y + 3.5 * s), (x - 5 * s, y + 3.5 * s)],
                           (150, 60, 40), layer: Canvas.object)
            canvas.polygon([(x, y - 10 * s), (x, y - 0.5 * s), (x + 6 * s, y - 0.5 * s)], (250, 250, 250), layer: Canvas.object)
            canvas.line(x, y, x, y - 10 * s, width: 1, (80, 50, 30), layer: Canvas.object)
        }
        if spec.objects.contains(.rock) {
            let x = Double(size) * (0.1 + 0.8 * v[6]), y = Double(size) * (0.85 + 0.1 * v[7])
            canvas.ellipse(cx: x, cy: y, rx: 5 * s, ry: 3 * s, (125, 120, 115), layer: Canvas.object)
        }
        drawBird(spec, &canvas)
        if spec.objects.contains(.reeds) {
            let base = Double(size) * (0.05 + 0.75 * v[8])
            for i in 0..<5 {
                let x = base + Double(i) * 2.2 * s
                let top = Double(size) - (12 + 6 * v[9 + i % 5]) * s
                canvas.line(x, Double(size), x, top, width: 1.2 * s, (50, 100, 40), layer: Canvas.object)
                canvas.ellipse(cx: x, cy: top, rx: 0.9 * s, ry: 2.2 * s, (120, 80, 40), layer: Canvas.object)
            }
        }
        return Rendered(image: canvas.image, mask: canvas.birdMask)
    }

    static func drawBackground(_ spec: SceneSpec, _ canvas: inout Canvas, _ rng: inout SeededGenerator) {
        let n = canvas.size
        let horizon = Int(spec.horizon)
        func jitter(_ amount: Int) -> Int { Int(rng.next() % UInt64(2 * amount + 1)) - amount }
        func clamp(_ x: Int) -> UInt8 { UInt8(max(0, min(255, x))) }
        for y in 0..<n {
            for x in 0..<n {
                let c: Canvas.Color
                if y < horizon {
                    let t = y * 40 / max(horizon, 1)
                    c = (clamp(140 + t + jitter(3)), clamp(185 + t / 2 + jitter(3)), clamp(235 + jitter(3)))
                } else if spec.background == .land {
                    let depth = (y - horizon) * 30 / max(n - horizon, 1)
                    c = (clamp(85 + depth + jitter(14)), clamp(130 - depth / 2 + jitter(14)), clamp(55 + jitter(10)))
                } else {
                    let depth = (y - horizon) * 40 / max(n - horizon, 1)
                    c = (clamp(40 + jitter(8)), clamp(100 + depth / 2 + jitter(8)), clamp(190 - depth + jitter(8)))
                }
                canvas.set(x, y, c, layer: Canvas.background)
            }
        }
        // Texture strokes: grass blades on land, wave crests on water.
        let s = Double(n) / 64
        for _ in 0..<(n * 3 / 4) {
            let x = Double(rng.next() % UInt64(n)), y = Double(horizon) + Double(rng.next() % UInt64(max(n - horizon, 1)))
            if spec.background == .land {
                canvas.line(x, y, x + 0.5 * s, y - 2.5 * s, width: 0.8, (50, 95, 35), layer: Canvas.background)
            } else {
                canvas.line(x, y, x + 3 * s, y, width: 0.8, (150, 190, 235), layer: Canvas.background)
            }
        }
    }

    /// The class is in the silhouette, drawn from the species' build:
    /// legs, tail, body, wing, neck, head, beak and eye, back to front.
    static func drawBird(_ spec: SceneSpec, _ canvas: inout Canvas) {
        let b = spec.shape
        let k = spec.birdScale * Species.all[spec.species].size
        let dir: Double = spec.facingLeft ? -1 : 1
        let (x0, y0) = (spec.birdX, spec.birdY)
        let (cosT, sinT) = (cosine(b.tilt), sine(b.tilt))
        let layer = Canvas.bird
        /// A point in the body's frame (along its axis, across it downwards).
        func body(_ along: Double, _ across: Double) -> (Double, Double) {
            (x0 + dir * (along * cosT - across * sinT) * k, y0 + (along * sinT + across * cosT) * k)
        }
        /// A point offset from `o` in upright scene units.
        func offset(_ o: (Double, Double), _ dx: Double, _ dy: Double) -> (Double, Double) {
            (o.0 + dir * dx * k, o.1 + dy * k)
        }
        let (L, H) = (b.bodyLength, b.bodyHeight)
        if b.legLength > 0.5 {
            for along in [-0.2 * L, 0.15 * L] {
                let top = body(along, 0.7 * H)
                let foot = offset(top, 0.6, b.legLength)
                canvas.line(top.0, top.1, foot.0, foot.1, width: 1.1 * k, (90, 70, 40), layer: layer)
            }
        }
        canvas.polygon([body(-0.8 * L, -0.35 * H), body(-(L + b.tailLength), -0.4 - 1.6 * b.tailLift),
                        body(-0.8 * L, 0.4 * H)], spec.wingColor, layer: layer)
        let centre = body(0, 0)
        canvas.ellipse(cx: centre.0, cy: centre.1, rx: L * k, ry: H * k, angle: dir * b.tilt, spec.bodyColor, layer: layer)
        let wing = body(-0.15 * L, 0.05 * H)
        canvas.ellipse(cx: wing.0, cy: wing.1, rx: 0.6 * L * k, ry: 0.55 * H * k, angle: dir * b.tilt, spec.wingColor, layer: layer)
        // The neck rises from the front of the body in an S of three segments.
        let base = body(0.7 * L, -0.55 * H)
        let n = b.neckLength, lean = 0.12 * n * b.neckBend
        var neck = [base]
        if n > 0.5 {
            neck += [offset(base, 0.2 * n + lean, -0.33 * n), offset(base, 0.08 * n + lean, -0.67 * n),
                     offset(base, 0.25 * n + lean, -n)]
            for i in 0..<3 {
                canvas.line(neck[i].0, neck[i].1, neck[i + 1].0, neck[i + 1].1, width: b.neckWidth * k,
                            spec.bodyColor, layer: layer)
            }
        }
        let r = b.headRadius
        let head = offset(neck.last!, 0.2 * r, -0.45 * r)
        canvas.ellipse(cx: head.0, cy: head.1, rx: r * k, ry: 0.9 * r * k, spec.bodyColor, layer: layer)
        let root = offset(head, 0.75 * r, 0)
        canvas.polygon([offset(root, 0, -b.beakDepth / 2), offset(root, b.beakLength, 0.3),
                        offset(root, 0, b.beakDepth / 2)], spec.beakColor, layer: layer)
        let eye = offset(head, 0.35 * r, -0.3 * r)
        canvas.set(Int(eye.0), Int(eye.1), (10, 10, 10), layer: layer)
    }
}
