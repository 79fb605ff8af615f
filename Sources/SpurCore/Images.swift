import CJPEG
import CPNG
import CPNGDecode
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An 8-bit RGB image: `pixels` holds `width * height` RGB triples, top row
/// first, left to right.
public struct RGBImage: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height) RGB pixels")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The pixel in column `x`, row `y` (0, 0 is top left).
    public subscript(x: Int, y: Int) -> (UInt8, UInt8, UInt8) {
        get {
            let i = offset(x, y)
            return (pixels[i], pixels[i + 1], pixels[i + 2])
        }
        set {
            let i = offset(x, y)
            (pixels[i], pixels[i + 1], pixels[i + 2]) = newValue
        }
    }

    private func offset(_ x: Int, _ y: Int) -> Int {
        // Without this, an x past the row's end would silently read the next row.
        precondition(x >= 0 && x < width && y >= 0 && y < height,
                     "pixel (\(x), \(y)) outside \(width)x\(height) image")
        return (y * width + x) * 3
    }

    /// Bilinear resampling with pixel centres aligned (as OpenCV and Pillow
    /// do without antialiasing): output pixel centre `i + 0.5` maps to source
    /// position `(i + 0.5) * size / newSize`, clamped at the borders. Each
    /// output pixel blends only the 4 nearest source pixels, so shrinking by
    /// much more than 2x aliases; fine for a terminal preview.
    public func resized(width newWidth: Int, height newHeight: Int) -> RGBImage {
        precondition(newWidth >= 0 && newHeight >= 0, "negative size \(newWidth)x\(newHeight)")
        if newWidth == 0 || newHeight == 0 {
            return RGBImage(width: newWidth, height: newHeight, pixels: [])
        }
        precondition(width > 0 && height > 0, "cannot resize an empty image")

        let columns = Bilinear.taps(count: newWidth, from: width)
        let rows = Bilinear.taps(count: newHeight, from: height)
        var out = [UInt8](repeating: 0, count: newWidth * newHeight * 3)
        for (y, (y0, y1, fy)) in rows.enumerated() {
            for (x, (x0, x1, fx)) in columns.enumerated() {
                for c in 0..<3 {
                    let p00 = Float(pixels[(y0 * width + x0) * 3 + c])
                    let p10 = Float(pixels[(y0 * width + x1) * 3 + c])
                    let p01 = Float(pixels[(y1 * width + x0) * 3 + c])
                    let p11 = Float(pixels[(y1 * width + x1) * 3 + c])
                    let top = p00 + (p10 - p00) * fx
                    let bottom = p01 + (p11 - p01) * fx
                    out[(y * newWidth + x) * 3 + c] = UInt8((top + (bottom - top) * fy).rounded())
                }
            }
        }
        return RGBImage(width: newWidth, height: newHeight, pixels: out)
    }
}

/// Reading PNG and JPEG files (format chosen by content, not by name) and
/// writing PNG. Every problem with a file is an `InputError` naming it.
public enum ImageFile {
    /// Images with more pixels are refused before any pixel memory is
    /// allocated: that is 300 MB of RGB, far beyond any dataset image, so a
    /// header claiming more is corrupt or hostile.
    public static let maxPixels = 100_000_000
    /// Each side is bounded too: everything sized from an image (the
    /// Grad-CAM map upsampled to it, the terminal picture fitted to it)
    /// then stays bounded, whatever the aspect ratio (a 65535 × 1 PNG is
    /// valid and tiny, and nothing a dataset holds).
    public static let maxSide = 30_000

    /// The picture as Pillow's `ImageOps.exif_transpose(Image.open(path)).convert("RGB")`
    /// gives it, sample for sample: upright (the file's EXIF orientation
    /// applied, so a phone photo stored sideways is seen as taken), alpha
    /// dropped without compositing, no gamma or colour-profile processing,
    /// CMYK converted as Pillow does (see spur_jpeg.h, spur_png_decode.h).
    /// Previews, masks and the model's pixels all read images here, so they
    /// see the same picture the Python extractor does.
    public static func read(path: String) throws -> RGBImage {
        let stored = try readAsStored(path: path)
        return stored.image.oriented(stored.orientation)
    }

    /// The pixels as the file stores them, and the turn that makes them upright.
    public static func readAsStored(path: String) throws -> (image: RGBImage, orientation: ImageOrientation) {
        let (fd, format) = try openImage(path)
        switch format {
        case .png: return try decode(path: path, fd: fd, messageSize: Int(SPUR_PNG_MESSAGE_SIZE), with: spur_png_decode_file, free: spur_png_free)
        case .jpeg: return try decode(path: path, fd: fd, messageSize: Int(SPUR_JPEG_MESSAGE_SIZE), with: spur_jpeg_decode_file, free: spur_jpeg_free)
        }
    }

    enum Format { case png, jpeg }

    /// The file opened (a regular file within `RegularFile.maxImageBytes`)
    /// and its format by content; the descriptor passes to a decoder, which closes it.
    static func openImage(_ path: String) throws -> (fd: Int32, format: Format) {
        let (fd, size) = try RegularFile.open(path, limit: RegularFile.maxImageBytes)
        if size == 0 { close(fd); throw InputError(file: path, "empty file") }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 4, 0) }
        if n < 0 { let e = errno; close(fd); throw InputError(file: path, String(cString: strerror(e))) }
        magic = Array(magic.prefix(n))
        // 4 bytes, not PNG's full 8-byte signature: a PNG mangled by a
        // text-mode copy then still reaches libpng, which says so.
        if magic == [0x89, 0x50, 0x4E, 0x47] { return (fd, .png) }
        if magic.starts(with: [0xFF, 0xD8, 0xFF]) { return (fd, .jpeg) }
        close(fd)
        throw InputError(file: path, "not a PNG or JPEG image")
    }

    /// What `validate` checks of an image without decoding its pixels: a
    /// regular file of bounded size, a PNG or JPEG header the decoder
    /// accepts, within the pixel limits, and the format's end marker in the
    /// file's last 4 KiB (PNG's IEND chunk, JPEG's EOI), which a file cut
    /// short lacks. Data after the marker is allowed, as the decoders allow
    /// it. Returns the stored size (before any EXIF turn).
    public static func checkHeader(path: String) throws -> (width: Int, height: Int) {
        let (fd, format) = try openImage(path)
        // Read before the header decoder takes (and closes) the descriptor.
        let tail = endOfFile(fd)
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let ok = format == .png
            ? spur_png_read_header(fd, maxPixels, maxSide, &width, &height, &message, message.count)
            : spur_jpeg_read_header(fd, maxPixels, maxSide, &width, &height, &message, message.count)
        guard ok != 0 else { throw InputError(file: path, cString(message)) }
        let marker: [UInt8] = format == .png ? Array("IEND".utf8) : [0xFF, 0xD9]
        guard contains(tail, marker) else {
            throw InputError(file: path, "\(format == .png ? "PNG has no IEND chunk" : "JPEG has no end-of-image marker") at its end (truncated file?)")
        }
        return (Int(width), Int(height))
    }

    private static func endOfFile(_ fd: Int32) -> [UInt8] {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return [] }
        let count = min(4096, Int(st.st_size))
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(Int(st.st_size) - count)) }
        return n > 0 ? Array(bytes.prefix(n)) : []
    }

    private static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { i in haystack[i ..< i + needle.count].elementsEqual(needle) }
    }

    /// Writes 8-bit RGB PNG; readers see the old file or the whole new one.
    public static func writePNG(_ image: RGBImage, to path: String) throws {
        try AtomicFile.write(try encodePNG(image, for: path), to: path)
    }

    /// Writes a baseline JPEG as cameras store photos: `greyscale` keeps one
    /// channel (the red samples), and an orientation other than `.upright`
    /// is recorded in an Exif segment, so readers turn `image` by it (it is
    /// stored as given, sideways for a quarter turn). For benchmark and test
    /// data shaped like users' photo folders; not atomic.
    public static func writeJPEG(_ image: RGBImage, to path: String, quality: Int = 90, greyscale: Bool = false,
                                 orientation: ImageOrientation = .upright) throws {
        let samples = greyscale ? stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] } : image.pixels
        let exif = orientation == .upright ? [] : exifSegment(orientation: orientation)
        var message = [CChar](repeating: 0, count: Int(SPUR_JPEG_MESSAGE_SIZE))
        let ok = samples.withUnsafeBufferPointer { px in
            exif.withUnsafeBufferPointer { app1 in
                spur_jpeg_encode_file(path, px.baseAddress, Int32(image.width), Int32(image.height), greyscale ? 1 : 3,
                                      Int32(quality), exif.isEmpty ? nil : app1.baseAddress, exif.count, &message, message.count)
            }
        }
        guard ok != 0 else { throw InputError(file: path, cString(message)) }
    }

    /// "Exif\0\0" and a little-endian TIFF whose IFD0 holds only the
    /// Orientation entry (tag 0x0112, one SHORT).
    static func exifSegment(orientation: ImageOrientation) -> [UInt8] {
        func u16(_ v: Int) -> [UInt8] { [UInt8(v & 255), UInt8(v >> 8)] }
        func u32(_ v: Int) -> [UInt8] { u16(v & 0xFFFF) + u16(v >> 16) }
        return Array("Exif\0\0".utf8) + Array("II".utf8) + u16(42) + u32(8)
            + u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(orientation.rawValue) + u16(0) + u32(0)
    }

    /// The PNG file of `image`, in memory (`path` names it in errors). Writers
    /// that stage a whole directory and rename it at once write these
    /// directly, without an fsync per file. `fast`: libpng's fast mode (less
    /// filtering, a lower zlib level), for bulk output where encoding time
    /// matters more than a few percent of size.
    public static func encodePNG(_ image: RGBImage, for path: String, fast: Bool = false) throws -> Data {
        try encodePNG(pixels: image.pixels, width: image.width, height: image.height,
                      format: spur_png_format_rgb(), fast: fast, for: path)
    }

    /// An 8-bit greyscale PNG (masks): a third of the RGB file's samples.
    public static func encodeGreyPNG(_ pixels: [UInt8], width: Int, height: Int, for path: String, fast: Bool = false) throws -> Data {
        try encodePNG(pixels: pixels, width: width, height: height, format: png_uint_32(PNG_FORMAT_GRAY), fast: fast, for: path)
    }

    private static func encodePNG(pixels: [UInt8], width: Int, height: Int, format: png_uint_32, fast: Bool,
                                  for path: String) throws -> Data {
        guard width > 0, height > 0 else {
            throw InputError(file: path, "cannot write a \(width)x\(height) image as PNG")
        }
        var png = pngImage()
        png.width = png_uint_32(width)
        png.height = png_uint_32(height)
        png.format = format
        if fast { png.flags |= png_uint_32(PNG_IMAGE_FLAG_FAST) }
        defer { png_image_free(&png) }
        // Encoding to memory first lets AtomicFile do the temporary file,
        // fsync and rename, rather than leaving a torn PNG behind on failure.
        let encoded: Data? = pixels.withUnsafeBytes { raw in
            var size = spur_png_encoded_size_max(png)
            var data = Data(count: size)
            let ok = data.withUnsafeMutableBytes {
                png_image_write_to_memory(&png, $0.baseAddress, &size, 0, raw.baseAddress, 0, nil)
            }
            return ok != 0 ? Data(data.prefix(size)) : nil
        }
        guard let encoded else { throw InputError(file: path, "cannot encode PNG: \(message(of: png))") }
        return encoded
    }

    /// What both C decoders hand back: pixels and metadata, each malloc'd.
    private typealias Decoder = (Int32, Int, Int,
                                 UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int32>,
                                 UnsafeMutablePointer<Int32>,
                                 UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                 UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
                                 UnsafeMutablePointer<CChar>, Int) -> Int32

    private static func decode(path: String, fd: Int32, messageSize: Int, with decoder: Decoder,
                               free release: (UnsafeMutablePointer<UInt8>?) -> Void) throws -> (image: RGBImage, orientation: ImageOrientation) {
        var pixels: UnsafeMutablePointer<UInt8>?, exif: UnsafeMutablePointer<UInt8>?, xmp: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var exifSize = 0, xmpSize = 0
        var message = [CChar](repeating: 0, count: messageSize)
        let ok = decoder(fd, maxPixels, maxSide, &pixels, &width, &height, &exif, &exifSize, &xmp, &xmpSize,
                         &message, message.count)
        defer { release(pixels); release(exif); release(xmp) }
        guard ok != 0, let pixels else { throw InputError(file: path, cString(message)) }
        func bytes(_ p: UnsafeMutablePointer<UInt8>?, _ n: Int) -> [UInt8]? { p.map { Array(UnsafeBufferPointer(start: $0, count: n)) } }
        let image = RGBImage(width: Int(width), height: Int(height),
                             pixels: Array(UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height) * 3)))
        return (image, ImageOrientation.from(exif: bytes(exif, exifSize), xmp: bytes(xmp, xmpSize)))
    }

    private static func pngImage() -> png_image {
        var png = png_image()  // zeroed, as libpng requires
        png.version = png_uint_32(PNG_IMAGE_VERSION)
        return png
    }

    private static func message(of png: png_image) -> String {
        withUnsafeBytes(of: png.message) { cString($0.bindMemory(to: CChar.self)) }
    }

    /// The text before the first NUL (or all of it, if a library forgot one).
    private static func cString(_ chars: some Collection<CChar>) -> String {
        String(decoding: chars.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
