import Foundation
import Testing
@testable import SpurCore

/// EXIF orientation, as `PIL.ImageOps.exif_transpose` applies it, on a 3x2
/// picture whose pixels are told apart by their red sample:
///
///     a b c        (a = 10, b = 20, ... f = 60)
///     d e f
struct ImageOrientationTests {
    static let stored = RGBImage(width: 3, height: 2, pixels: (1...6).flatMap { [UInt8($0 * 10), 0, 0] })

    /// Upright pictures worked by hand from the tag's definition, rows top first.
    static let upright: [ImageOrientation: [[Character]]] = [
        .upright: ["abc", "def"].map(Array.init),
        .flipLeftRight: ["cba", "fed"].map(Array.init),
        .rotate180: ["fed", "cba"].map(Array.init),
        .flipTopBottom: ["def", "abc"].map(Array.init),
        .transpose: ["ad", "be", "cf"].map(Array.init),
        .rotateClockwise: ["da", "eb", "fc"].map(Array.init),
        .transverse: ["fc", "eb", "da"].map(Array.init),
        .rotateCounterclockwise: ["cf", "be", "ad"].map(Array.init),
    ]

    static func picture(_ rows: [[Character]]) -> RGBImage {
        let letters = Array("abcdef")
        let pixels: [UInt8] = rows.joined().flatMap { (c: Character) -> [UInt8] in
            [UInt8((letters.firstIndex(of: c)! + 1) * 10), 0, 0]
        }
        return RGBImage(width: rows[0].count, height: rows.count, pixels: pixels)
    }

    /// A TIFF with one IFD0 entry: Orientation (SHORT) = `value`.
    static func tiff(orientation value: Int, littleEndian: Bool) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { littleEndian ? [UInt8(v & 255), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 255)] }
        func u32(_ v: Int) -> [UInt8] { littleEndian ? u16(v & 0xFFFF) + u16(v >> 16) : u16(v >> 16) + u16(v & 0xFFFF) }
        return Array((littleEndian ? "II" : "MM").utf8) + u16(42) + u32(8)
            + u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(value) + u16(0) + u32(0)
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }

    /// `png` with a chunk inserted after IHDR (which ends at byte 33).
    static func inserting(_ type: String, _ data: [UInt8], into png: [UInt8]) -> [UInt8] {
        let n = UInt32(data.count)
        let body = Array(type.utf8) + data
        let crc = crc32(body)
        let chunk = [24, 16, 8, 0].map { UInt8((n >> $0) & 255) } + body + [24, 16, 8, 0].map { UInt8((crc >> $0) & 255) }
        return Array(png[..<33]) + chunk + Array(png[33...])
    }

    /// `jpeg` with an APP1 segment right after SOI.
    static func inserting(app1 data: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
        let length = data.count + 2
        return Array(jpeg[..<2]) + [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 255)] + data + Array(jpeg[2...])
    }

    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = ImageTests.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func everyOrientationTurnsThePictureAsWorkedByHand() {
        for o in ImageOrientation.allCases {
            #expect(Self.stored.oriented(o) == Self.picture(Self.upright[o]!), "orientation \(o.rawValue)")
        }
    }

    @Test(arguments: [true, false])
    func readsThePNGeXIfChunkInEitherByteOrder(littleEndian: Bool) throws {
        let png = [UInt8](try ImageFile.encodePNG(Self.stored, for: "stored.png"))
        for o in ImageOrientation.allCases {
            let bytes = Self.inserting("eXIf", Self.tiff(orientation: o.rawValue, littleEndian: littleEndian), into: png)
            let path = try Self.write(bytes, "exif-\(o.rawValue)-\(littleEndian).png")
            #expect(try ImageFile.readAsStored(path: path).image == Self.stored)
            #expect(try ImageFile.read(path: path) == Self.picture(Self.upright[o]!), "orientation \(o.rawValue)")
        }
    }

    /// The benchmark's photo folders come from `writeJPEG`: its files must
    /// read back as what a camera's would, sideways ones turned upright.
    @Test func writtenJPEGsReadBackWithTheirOrientationAndChannels() throws {
        // Smooth, so JPEG's loss stays a few levels.
        let (w, h) = (40, 24)
        let stored = RGBImage(width: w, height: h, pixels: (0..<(w * h)).flatMap { i -> [UInt8] in
            let (x, y) = (i % w, i / w)
            return [UInt8(60 + 4 * x), UInt8(40 + 6 * y), 128]
        })
        func close(_ a: RGBImage, _ b: RGBImage) -> Bool {
            a.width == b.width && a.height == b.height && zip(a.pixels, b.pixels).allSatisfy { abs(Int($0) - Int($1)) <= 8 }
        }
        let plain = ImageTests.temporaryPath("written-plain.jpg")
        try ImageFile.writeJPEG(stored, to: plain, quality: 95)
        #expect(try ImageFile.readAsStored(path: plain).orientation == .upright)
        #expect(close(try ImageFile.read(path: plain), stored))

        let sideways = ImageTests.temporaryPath("written-exif6.jpg")
        try ImageFile.writeJPEG(stored, to: sideways, quality: 95, orientation: .rotateClockwise)
        let upright = try ImageFile.read(path: sideways)
        #expect(upright.width == h && upright.height == w)
        #expect(close(upright, stored.oriented(.rotateClockwise)))

        let grey = ImageTests.temporaryPath("written-grey.jpg")
        try ImageFile.writeJPEG(stored, to: grey, quality: 95, greyscale: true)
        let g = try ImageFile.read(path: grey)
        let channelsAgree = stride(from: 0, to: g.pixels.count, by: 3).allSatisfy { (i: Int) -> Bool in
            g.pixels[i] == g.pixels[i + 1] && g.pixels[i] == g.pixels[i + 2]
        }
        #expect(channelsAgree)
        #expect(abs(Int(g[w - 1, 0].0) - Int(stored[w - 1, 0].0)) <= 8)

        #expect(throws: InputError.self) { try ImageFile.writeJPEG(stored, to: "/nonexistent-dir/x.jpg") }
    }

    @Test func readsTheJPEGExifSegment() throws {
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ImageTests.fixture("baseline.jpg"))))
        let plain = try ImageFile.read(path: ImageTests.fixture("baseline.jpg"))
        for littleEndian in [true, false] {
            let exif = Array("Exif\0\0".utf8) + Self.tiff(orientation: 6, littleEndian: littleEndian)
            let path = try Self.write(Self.inserting(app1: exif, into: jpeg), "exif6-\(littleEndian).jpg")
            let stored = try ImageFile.readAsStored(path: path)
            #expect(stored.orientation == .rotateClockwise && stored.image == plain)
            let upright = try ImageFile.read(path: path)
            #expect(upright.width == 5 && upright.height == 7)
            #expect(upright == plain.oriented(.rotateClockwise))
        }
    }

    @Test func fallsBackToXMPWhenExifHasNoOrientation() throws {
        let jpeg = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ImageTests.fixture("baseline.jpg"))))
        let xmp = Array("http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description tiff:Orientation=\"8\"/></x:xmpmeta>".utf8)
        let path = try Self.write(Self.inserting(app1: xmp, into: jpeg), "xmp8.jpg")
        #expect(try ImageFile.readAsStored(path: path).orientation == .rotateCounterclockwise)
        let element = Array("<tiff:Orientation>3</tiff:Orientation>".utf8)
        #expect(ImageOrientation.from(exif: nil, xmp: element) == .rotate180)
        // An EXIF orientation, when present, wins over XMP's.
        #expect(ImageOrientation.from(exif: Self.tiff(orientation: 2, littleEndian: true), xmp: element) == .flipLeftRight)
    }

    @Test func malformedMetadataLeavesThePictureAsStored() {
        let good = Self.tiff(orientation: 6, littleEndian: true)
        #expect(ImageOrientation.from(exif: good, xmp: nil) == .rotateClockwise)
        #expect(ImageOrientation.from(exif: Array("Exif\0\0Exif\0\0".utf8) + good, xmp: nil) == .rotateClockwise)
        for cut in 0..<good.count - 4 {  // the last 4 bytes are the next-IFD offset, not read
            #expect(ImageOrientation.from(exif: Array(good[..<cut]), xmp: nil) == .upright, "cut at \(cut)")
        }
        var badMagic = good
        badMagic[2] = 43
        #expect(ImageOrientation.from(exif: badMagic, xmp: nil) == .upright)
        var farOffset = good
        farOffset[4] = 0xF0
        #expect(ImageOrientation.from(exif: farOffset, xmp: nil) == .upright)
        #expect(ImageOrientation.from(exif: Self.tiff(orientation: 9, littleEndian: false), xmp: nil) == .upright)
        #expect(ImageOrientation.from(exif: nil, xmp: Array("tiff:Orientation=\"".utf8)) == .upright)
    }
}
