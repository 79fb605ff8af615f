/// How a picture stored in a file is turned to be seen upright: the EXIF
/// Orientation tag (0x0112), values 1...8, each case named for the turn
/// `PIL.ImageOps.exif_transpose` applies. A phone photo held upright is
/// usually stored sideways with orientation 6.
public enum ImageOrientation: Int, Sendable, CaseIterable {
    case upright = 1
    case flipLeftRight = 2
    case rotate180 = 3
    case flipTopBottom = 4
    /// Mirrored along the main diagonal: (x, y) ↔ (y, x).
    case transpose = 5
    /// Pillow's ROTATE_270 (counterclockwise), a quarter turn clockwise.
    case rotateClockwise = 6
    /// Mirrored along the other diagonal.
    case transverse = 7
    /// Pillow's ROTATE_90, a quarter turn counterclockwise.
    case rotateCounterclockwise = 8

    /// Whether width and height trade places.
    public var swapsSides: Bool { rawValue >= 5 }

    /// The orientation the file's metadata gives, read as Pillow's
    /// `getexif()` does: IFD0 of the EXIF data (TIFF, either byte order,
    /// after up to two "Exif\0\0" headers), else `tiff:Orientation` in the
    /// XMP packet. Anything unreadable or out of range is `.upright`, where
    /// Pillow would also leave the picture as stored (or refuse the file).
    public static func from(exif: [UInt8]?, xmp: [UInt8]?) -> ImageOrientation {
        if let exif, let value = ExifReader.orientation(in: exif) {
            return ImageOrientation(rawValue: value) ?? .upright
        }
        if let xmp, let value = xmpOrientation(in: xmp) {
            return ImageOrientation(rawValue: value) ?? .upright
        }
        return .upright
    }

    /// The digit after the first `tiff:Orientation="` or `tiff:Orientation>`.
    static func xmpOrientation(in xmp: [UInt8]) -> Int? {
        let key = Array("tiff:Orientation".utf8)
        guard xmp.count > key.count + 1 else { return nil }
        for start in 0...(xmp.count - key.count - 1) where xmp[start] == key[0] {
            guard xmp[start..<(start + key.count)].elementsEqual(key) else { continue }
            var i = start + key.count
            if xmp[i] == UInt8(ascii: "=") {
                guard i + 1 < xmp.count, xmp[i + 1] == UInt8(ascii: "\"") else { continue }
                i += 2
            } else if xmp[i] == UInt8(ascii: ">") {
                i += 1
            } else {
                continue
            }
            guard i < xmp.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(xmp[i]) else { continue }
            return Int(xmp[i] - UInt8(ascii: "0"))
        }
        return nil
    }
}

/// Just enough TIFF to find IFD0's Orientation entry, with every offset
/// checked against the data (it comes from the file).
enum ExifReader {
    static func orientation(in data: [UInt8]) -> Int? {
        var start = 0
        let header = Array("Exif\0\0".utf8)
        for _ in 0..<2 where data.count >= start + 6 && data[start..<(start + 6)].elementsEqual(header) {
            start += 6
        }
        guard data.count >= start + 8 else { return nil }
        let little: Bool
        switch (data[start], data[start + 1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= data.count - start else { return nil }
            let a = Int(data[start + at]), b = Int(data[start + at + 1])
            return little ? a | b << 8 : a << 8 | b
        }
        func u32(_ at: Int) -> Int? {
            guard let lo = u16(little ? at : at + 2), let hi = u16(little ? at + 2 : at) else { return nil }
            return hi << 16 | lo
        }
        // Pillow accepts the magic 42 in either byte order after II or MM.
        guard let magic = u16(2), magic == 42 || magic == 0x2A00, let ifd = u32(4), let count = u16(ifd) else {
            return nil
        }
        for k in 0..<count {
            let entry = ifd + 2 + 12 * k
            // Pillow drops the whole IFD at an entry cut short.
            guard u32(entry + 8) != nil, let tag = u16(entry), let type = u16(entry + 2), let n = u32(entry + 4) else {
                return nil
            }
            guard tag == 0x0112 else { continue }
            guard n == 1 else { return nil }
            switch type {
            case 1, 6: return Int(data[start + entry + 8])  // BYTE, SBYTE
            case 3, 8: return u16(entry + 8)                 // SHORT, SSHORT
            case 4, 9: return u32(entry + 8)                 // LONG, SLONG
            default: return nil
            }
        }
        return nil
    }
}

extension RGBImage {
    /// The picture turned as `orientation` says, to be seen upright.
    public func oriented(_ orientation: ImageOrientation) -> RGBImage {
        if orientation == .upright { return self }
        let w = width, h = height
        let (outW, outH) = orientation.swapsSides ? (h, w) : (w, h)
        // Output (x, y) reads source pixel source(x, y).
        let source: (Int, Int) -> (Int, Int)
        switch orientation {
        case .upright: source = { ($0, $1) }
        case .flipLeftRight: source = { (w - 1 - $0, $1) }
        case .rotate180: source = { (w - 1 - $0, h - 1 - $1) }
        case .flipTopBottom: source = { ($0, h - 1 - $1) }
        case .transpose: source = { ($1, $0) }
        case .rotateClockwise: source = { ($1, h - 1 - $0) }
        case .transverse: source = { (w - 1 - $1, h - 1 - $0) }
        case .rotateCounterclockwise: source = { (w - 1 - $1, $0) }
        }
        var out = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<outH {
                    for x in 0..<outW {
                        let (sx, sy) = source(x, y)
                        let i = (sy * w + sx) * 3, o = (y * outW + x) * 3
                        dst[o] = src[i]; dst[o + 1] = src[i + 1]; dst[o + 2] = src[i + 2]
                    }
                }
            }
        }
        return RGBImage(width: outW, height: outH, pixels: out)
    }
}
