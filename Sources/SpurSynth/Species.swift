import SpurCore

/// A bird species: the class is a grouping of species, as in Waterbirds,
/// where 200 CUB species are split into landbirds and waterbirds. Species
/// differ the way real ones do — silhouette, size, neck, beak, legs and
/// plumage tendencies — and some traits overlap across the two classes
/// (a heron stands on long legs like a landbird; a crow and a cormorant
/// share their black plumage; a gull's build is close to a crow's), so the
/// class is learnable from the bird but not trivially.
public struct Species: Sendable, Equatable {
    public let name: String
    public let birdClass: BirdClass
    /// Body half-length and half-height, in 1/64 of the image side at scale 1.
    let bodyLength: Double, bodyHeight: Double
    /// Body tilt in radians, head end up (negative is upright).
    let tilt: Double
    let neckLength: Double, neckWidth: Double
    let headRadius: Double, beakLength: Double, beakDepth: Double
    /// 0: no legs showing (swimming birds).
    let legLength: Double
    let tailLength: Double
    /// Overall size relative to the scene.
    let size: Double
    /// Indices into `SceneSpec.plumage` this species tends to wear.
    let plumage: [Int]

    /// Eight species, four per class, in `BirdClass` order. Their indices are
    /// stable: captions and the encoder's pre-training tags refer to them.
    public static let all: [Species] = [
        Species(name: "sparrow", birdClass: .landbird, bodyLength: 6.5, bodyHeight: 5.2, tilt: -0.35,
                neckLength: 0, neckWidth: 0, headRadius: 3.5, beakLength: 2.6, beakDepth: 1.2,
                legLength: 5, tailLength: 4.5, size: 1.0, plumage: [2, 6, 5, 9]),
        Species(name: "warbler", birdClass: .landbird, bodyLength: 6, bodyHeight: 4.6, tilt: -0.45,
                neckLength: 0, neckWidth: 0, headRadius: 3.2, beakLength: 2.8, beakDepth: 1,
                legLength: 4.5, tailLength: 5.5, size: 0.95, plumage: [1, 7, 5, 3]),
        Species(name: "crow", birdClass: .landbird, bodyLength: 8.5, bodyHeight: 5.4, tilt: -0.2,
                neckLength: 1.5, neckWidth: 3, headRadius: 3.6, beakLength: 4.6, beakDepth: 1.6,
                legLength: 6, tailLength: 6, size: 1.15, plumage: [4, 5, 8]),
        Species(name: "woodpecker", birdClass: .landbird, bodyLength: 6.5, bodyHeight: 4.8, tilt: -0.8,
                neckLength: 1, neckWidth: 3, headRadius: 3.4, beakLength: 5, beakDepth: 1.2,
                legLength: 3.5, tailLength: 5.5, size: 1.0, plumage: [0, 4, 3, 6]),
        Species(name: "duck", birdClass: .waterbird, bodyLength: 10, bodyHeight: 4.6, tilt: 0,
                neckLength: 3.5, neckWidth: 3, headRadius: 3.1, beakLength: 4, beakDepth: 1.8,
                legLength: 0, tailLength: 3, size: 1.0, plumage: [2, 6, 3, 7]),
        Species(name: "heron", birdClass: .waterbird, bodyLength: 8.5, bodyHeight: 4.2, tilt: -0.25,
                neckLength: 12, neckWidth: 2.2, headRadius: 2.5, beakLength: 7, beakDepth: 1.1,
                legLength: 9, tailLength: 3, size: 1.1, plumage: [5, 3, 7]),
        Species(name: "gull", birdClass: .waterbird, bodyLength: 9, bodyHeight: 4.6, tilt: -0.1,
                neckLength: 2, neckWidth: 3.2, headRadius: 3.3, beakLength: 4.2, beakDepth: 1.4,
                legLength: 3, tailLength: 5, size: 1.05, plumage: [3, 5, 9, 1]),
        Species(name: "cormorant", birdClass: .waterbird, bodyLength: 10.5, bodyHeight: 3.9, tilt: 0.05,
                neckLength: 7, neckWidth: 2.4, headRadius: 2.6, beakLength: 5.5, beakDepth: 1.2,
                legLength: 0, tailLength: 5, size: 1.05, plumage: [4, 8, 0]),
    ]

    public static func of(_ c: BirdClass) -> [Int] { all.indices.filter { all[$0].birdClass == c } }
}

/// One bird's drawn shape: the species' build with per-bird variation.
struct BirdShape: Sendable {
    var bodyLength: Double, bodyHeight: Double, tilt: Double
    var neckLength: Double, neckWidth: Double, neckBend: Double
    var headRadius: Double, beakLength: Double, beakDepth: Double
    var legLength: Double, tailLength: Double, tailLift: Double

    /// Every trait varies by about ±12 % around the species' mean, so
    /// neighbouring species overlap.
    static func sample(_ s: Species, _ u: () -> Double) -> BirdShape {
        func vary(_ x: Double) -> Double { x * (0.88 + 0.24 * u()) }
        return BirdShape(bodyLength: vary(s.bodyLength), bodyHeight: vary(s.bodyHeight), tilt: s.tilt + 0.2 * (u() - 0.5),
                         neckLength: vary(s.neckLength), neckWidth: s.neckWidth, neckBend: u(),
                         headRadius: vary(s.headRadius), beakLength: vary(s.beakLength), beakDepth: s.beakDepth,
                         legLength: vary(s.legLength), tailLength: vary(s.tailLength), tailLift: u())
    }
}
