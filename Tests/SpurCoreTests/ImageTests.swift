import Foundation
import Testing
@testable import SpurCore

/// Fixtures come from Fixtures/images/make_images.py (Pillow); the patterns
/// below repeat the ones written there.
struct ImageTests {
    static let images = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/images")

    static func fixture(_ name: String) -> String { images.appendingPathComponent(name).path }

    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-image-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// A 7x5 image whose pixel (x, y) is `colour(x, y)`.
    static func image(_ colour: (Int, Int) -> (Int, Int, Int)) -> RGBImage {
        var pixels: [UInt8] = []
        for y in 0..<5 {
            for x in 0..<7 {
                let (r, g, b) = colour(x, y)
                pixels += [UInt8(r), UInt8(g), UInt8(b)]
            }
        }
        return RGBImage(width: 7, height: 5, pixels: pixels)
    }

    static let pattern = image { x, y in (40 * x, 60 * y, 255 - 20 * (x + y)) }
    static let grey = image { x, y in (20 * x + 30 * y + 10, 20 * x + 30 * y + 10, 20 * x + 30 * y + 10) }

    /// The largest difference of any channel of any pixel.
    static func maxDifference(_ a: RGBImage, _ b: RGBImage) -> Int {
        precondition(a.width == b.width && a.height == b.height)
        return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
    }

    // MARK: lossless

    @Test func readsEightBitRGBPNGExactly() throws {
        let img = try ImageFile.read(path: Self.fixture("rgb.png"))
        #expect(img == Self.pattern)
        #expect(img[6, 4] == (240, 240, 55))
    }

    @Test func readsSixteenBitRGBPNGAsTheSameEightBitValues() throws {
        // Samples are v * 257 with no gAMA chunk; read as linear light they
        // would come out brighter (60 -> 136).
        #expect(try ImageFile.read(path: Self.fixture("rgb16.png")) == Self.pattern)
    }

    @Test func readsGreyscalePNGsAsEqualChannels() throws {
        #expect(try ImageFile.read(path: Self.fixture("gray.png")) == Self.grey)
    }

    @Test func clipsSixteenBitGreyscaleAt255AsPillowDoes() throws {
        // Pillow opens 16-bit grey as mode I;16, whose conversion to RGB
        // clips rather than scales: every sample here (v * 257, v >= 10) is
        // past 255. The checkpoint's pipeline sees white, and so do we.
        let white = RGBImage(width: 7, height: 5, pixels: [UInt8](repeating: 255, count: 7 * 5 * 3))
        #expect(try ImageFile.read(path: Self.fixture("gray16.png")) == white)
    }

    @Test func readsPalettePNGThroughItsPalette() throws {
        let palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 200, 10)]
        #expect(try ImageFile.read(path: Self.fixture("palette.png")) == Self.image { x, y in palette[(x + y) % 4] })
    }

    @Test func dropsAlphaWithoutCompositing() throws {
        // Row alphas are 255, 0, 128, 255, 255; Pillow's convert("RGB")
        // keeps the colour samples of every row as they are.
        #expect(try ImageFile.read(path: Self.fixture("rgba.png")) == Self.pattern)
    }

    @Test func picksTheFormatFromContentNotName() throws {
        let path = Self.temporaryPath("really-a-png.jpg")
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: Self.fixture("rgb.png"), toPath: path)
        #expect(try ImageFile.read(path: path) == Self.pattern)
    }

    // MARK: JPEG

    @Test func readsBaselineJPEGWithinTolerance() throws {
        // Quality 95, 4:4:4: Pillow's own decoder is off by at most 5.
        let img = try ImageFile.read(path: Self.fixture("baseline.jpg"))
        #expect(img.width == 7 && img.height == 5)
        #expect(Self.maxDifference(img, Self.pattern) <= 6)
    }

    @Test func readsProgressiveJPEGLikePillowDoes() throws {
        // 4:2:0 chroma is too blurred to compare with the pattern; the
        // reference is Pillow's decoding. Both use libjpeg-turbo, so they
        // agree exactly today; 2 leaves room for other versions' IDCTs.
        let img = try ImageFile.read(path: Self.fixture("progressive.jpg"))
        let reference = try Data(contentsOf: Self.images.appendingPathComponent("progressive.expected.rgb"))
        #expect(img.width == 7 && img.height == 5)
        #expect(Self.maxDifference(img, RGBImage(width: 7, height: 5, pixels: [UInt8](reference))) <= 2)
    }

    @Test func readsGreyscaleJPEGAsEqualChannels() throws {
        let img = try ImageFile.read(path: Self.fixture("gray.jpg"))
        #expect(Self.maxDifference(img, Self.grey) <= 2)
        for y in 0..<img.height {
            for x in 0..<img.width {
                let (r, g, b) = img[x, y]
                #expect(r == g && g == b)
            }
        }
    }

    @Test(arguments: ["cmyk.jpg", "ycck.jpg"])
    func readsCMYKJPEGLikePillowDoes(name: String) throws {
        // Inverted (Adobe) CMYK, Pillow's integer CMYK -> RGB, and for YCCK
        // libjpeg's YCC -> CMY first: the same as Pillow to the byte.
        let img = try ImageFile.read(path: Self.fixture(name))
        let stem = name.replacingOccurrences(of: ".jpg", with: "")
        let reference = try Data(contentsOf: Self.images.appendingPathComponent("\(stem).expected.rgb"))
        #expect(img == RGBImage(width: 7, height: 5, pixels: [UInt8](reference)))
        // cmyk.jpg is 4:4:4 (ycck.jpg's chroma is subsampled, too blurred to compare).
        if name == "cmyk.jpg" { #expect(Self.maxDifference(img, Self.pattern) <= 8) }
    }

    // MARK: refused files

    @Test(arguments: [
        ("truncated.png", "corrupt PNG: Read Error (truncated file?)"),
        ("idat-flipped.png", "corrupt PNG: IDAT: incorrect data check"),
        ("crc-error.png", "corrupt PNG: IDAT: CRC error"),
        ("truncated.jpg", "corrupt JPEG: Premature end of JPEG file"),
        ("text.png", "not a PNG or JPEG image"),
        ("empty.png", "empty file"),
        ("huge.png", "image is 20000x20000 pixels, over the limit of 100000000"),
        ("huge.jpg", "image is 60000x60000 pixels, over the limit of 30000 pixels a side"),
    ])
    func refusesBrokenFilesWithAReason(name: String, problem: String) throws {
        let path = Self.fixture(name)
        #expect(throws: InputError(file: path, problem)) { try ImageFile.read(path: path) }
    }

    /// Valid PNGs whose pixel count is small but one side is absurd.
    @Test func refusesASideOverTheLimitBeforeAllocating() throws {
        for (w, h) in [(65535, 1), (1, 65535)] {
            let path = Self.temporaryPath("side-\(w)x\(h).png")
            try ImageFile.writePNG(RGBImage(width: w, height: h, pixels: [UInt8](repeating: 90, count: w * h * 3)), to: path)
            #expect(throws: InputError(file: path, "image is \(w)x\(h) pixels, over the limit of 30000 pixels a side")) {
                try ImageFile.read(path: path)
            }
        }
        let atLimit = Self.temporaryPath("side-30000x1.png")
        try ImageFile.writePNG(RGBImage(width: 30000, height: 1, pixels: [UInt8](repeating: 90, count: 30000 * 3)), to: atLimit)
        #expect(try ImageFile.read(path: atLimit).width == 30000)
    }

    /// Fixtures from make_nonsquare.py: the object box and the mask land
    /// where they should, so width and height are never swapped.
    @Test(arguments: [(500, 375), (375, 500), (64, 48)])
    func nonSquareJPEGsReadWithTheirOwnShape(width w: Int, height h: Int) throws {
        let scene = try ImageFile.read(path: Self.fixture("scene-\(w)x\(h).jpg"))
        #expect(scene.width == w && scene.height == h)
        let centre = scene[(w / 4 + w / 2) / 2, h / 2]
        #expect(centre.0 > 200 && centre.1 > 180 && centre.2 < 100)   // the yellow box
        let mask = Heatmap(mask: try ImageFile.read(path: Self.fixture("mask-\(w)x\(h).jpg")))
        #expect(mask.width == w && mask.height == h)
        var wrong = 0
        for y in 0..<h { for x in 0..<w where mask[x, y] != ((w / 4 ..< w / 2).contains(x) && (h / 3 ..< 2 * h / 3).contains(y) ? 1 : 0) { wrong += 1 } }
        #expect(wrong == 0)
    }

    @Test func refusesMissingFile() {
        #expect(throws: InputError(file: "/no/such.png", "No such file or directory")) {
            try ImageFile.read(path: "/no/such.png")
        }
    }

    // MARK: writing

    @Test func writeThenReadIsIdentical() throws {
        var generator = SeededGenerator(seed: 7)
        let noise = RGBImage(width: 33, height: 17, pixels: (0..<33 * 17 * 3).map { _ in UInt8.random(in: 0...255, using: &generator) })
        for original in [noise, Self.pattern, RGBImage(width: 1, height: 1, pixels: [1, 2, 3])] {
            let path = Self.temporaryPath("roundtrip-\(original.width).png")
            try ImageFile.writePNG(original, to: path)
            #expect(try ImageFile.read(path: path) == original)
        }
    }

    @Test func writeReplacesAtomicallyAndLeavesNoTemporaryFile() throws {
        // A directory of its own: tests run in parallel, and the others'
        // temporary files would show up in the listing.
        let dir = Self.temporaryPath("replace")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/replaced.png"
        try ImageFile.writePNG(Self.grey, to: path)
        try ImageFile.writePNG(Self.pattern, to: path)
        #expect(try ImageFile.read(path: path) == Self.pattern)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["replaced.png"])
    }

    @Test func writeRefusesEmptyImageAndMissingDirectory() {
        #expect(throws: InputError(file: "/tmp/x.png", "cannot write a 0x3 image as PNG")) {
            try ImageFile.writePNG(RGBImage(width: 0, height: 3, pixels: []), to: "/tmp/x.png")
        }
        #expect(throws: InputError(file: "/no/such/dir/x.png", "cannot write: No such file or directory")) {
            try ImageFile.writePNG(Self.pattern, to: "/no/such/dir/x.png")
        }
    }

    // MARK: resizing

    /// Red corners 0, 160 / 32, 240; green is 255 - red, blue constant, so a
    /// mixed-up channel shows.
    static let corners = RGBImage(width: 2, height: 2, pixels: [0, 255, 7, 160, 95, 7,
                                                                32, 223, 7, 240, 15, 7])

    static func reds(_ rows: [[Int]]) -> RGBImage {
        RGBImage(width: rows[0].count, height: rows.count,
                 pixels: rows.flatMap { $0.flatMap { [UInt8($0), UInt8(255 - $0), 7] } })
    }

    @Test func resizesTwoByTwoToFourByFour() {
        // Output centres fall at source positions -0.25, 0.25, 0.75, 1.25,
        // clamped to 0, 0.25, 0.75, 1. Top row: 0 + 160 * (0, 1/4, 3/4, 1);
        // row 1 is 3/4 of the top row plus 1/4 of the bottom one, and so on.
        #expect(Self.corners.resized(width: 4, height: 4) == Self.reds([
            [0, 40, 120, 160],
            [8, 51, 137, 180],
            [24, 73, 171, 220],
            [32, 84, 188, 240],
        ]))
    }

    @Test func resizesTwoByTwoToThreeByThree() {
        // Centres at source positions 0 (clamped), 0.5, 1 (clamped).
        #expect(Self.corners.resized(width: 3, height: 3) == Self.reds([
            [0, 80, 160],
            [16, 108, 200],
            [32, 136, 240],
        ]))
    }

    @Test func resizeEdgeCases() {
        #expect(Self.pattern.resized(width: 7, height: 5) == Self.pattern)
        #expect(Self.corners.resized(width: 1, height: 1) == Self.reds([[108]]))
        let dot = RGBImage(width: 1, height: 1, pixels: [9, 8, 7])
        #expect(dot.resized(width: 3, height: 2) == RGBImage(width: 3, height: 2, pixels: Array([[UInt8]](repeating: [9, 8, 7], count: 6).joined())))
        #expect(Self.pattern.resized(width: 0, height: 4) == RGBImage(width: 0, height: 4, pixels: []))
        // Non-square: each axis on its own.
        #expect(Self.corners.resized(width: 4, height: 1) == Self.reds([[16, 62, 154, 200]]))
    }

    @Test func subscriptReadsAndWritesOnePixel() {
        var img = Self.pattern
        #expect(img[3, 2] == (120, 120, 155))
        img[3, 2] = (1, 2, 3)
        #expect(img[3, 2] == (1, 2, 3))
        #expect(img.pixels[(2 * 7 + 3) * 3 ..< (2 * 7 + 3) * 3 + 3] == [1, 2, 3])
    }
}
