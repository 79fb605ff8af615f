import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file laid out in full up front (header, then every
/// tensor's byte range), whose rows are written in any order and any number
/// of times: an extraction that is killed reopens the file and writes the
/// rows it had not finished, and shards of one dataset write their own rows.
/// Memory stays flat in the number of rows.
public final class SafetensorsRowFile {
    public typealias Declaration = SafetensorsStreamWriter.Declaration

    public let path: String
    private let fd: Int32
    private var layout: [String: (offset: Int, declaration: Declaration, rowBytes: Int)] = [:]

    /// Creates the file (`reuse: false`, replacing one that is there) or
    /// reopens one made with the same declarations and metadata
    /// (`reuse: true`; a different layout is refused).
    public init(path: String, tensors: [Declaration], metadata: [String: String] = [:], reuse: Bool = false) throws {
        self.path = path
        for t in tensors where t.dtype != .f32 && t.dtype != .f16 {
            throw InputError(file: path, field: "tensor '\(t.name)'", "has dtype \(t.dtype.rawValue); rows are written as F32 or F16")
        }
        let header = try SafetensorsWriter.header(
            for: tensors.map { ($0.name, $0.dtype, $0.shape, $0.shape.reduce(1, *) * $0.dtype.byteSize) }, metadata: metadata)
        var offset = header.count
        for t in tensors {
            let bytes = t.shape.reduce(1, *) * t.dtype.byteSize
            let rows = t.shape.first ?? 1
            layout[t.name] = (offset, t, rows > 0 ? bytes / rows : 0)
            offset += bytes
        }
        let flags = reuse ? O_RDWR : (O_RDWR | O_CREAT | O_TRUNC)
        fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw InputError(file: path, "cannot be opened for writing: \(String(cString: strerror(errno)))") }
        if reuse {
            var existing = [UInt8](repeating: 0, count: header.count)
            let n = existing.withUnsafeMutableBytes { pread(fd, $0.baseAddress, header.count, 0) }
            var st = stat()
            fstat(fd, &st)
            guard n == header.count, Data(existing) == header, Int(st.st_size) == offset else {
                close(fd)
                throw InputError(file: path, "was laid out for other tensors than this run's; it cannot be resumed")
            }
        } else {
            try header.withUnsafeBytes { try Self.write(fd, $0, at: 0, path: path) }
            guard ftruncate(fd, off_t(offset)) == 0 else {
                let message = String(cString: strerror(errno))
                close(fd)
                throw InputError(file: path, "cannot be sized to \(offset) bytes: \(message)")
            }
        }
    }

    deinit { close(fd) }

    /// Rows `start ..< start + values.count / rowElements` of `name`.
    public func writeRows(_ name: String, start: Int, _ values: [Float]) throws {
        guard let (offset, d, rowBytes) = layout[name] else {
            throw InputError(file: path, field: "tensor '\(name)'", "is not declared")
        }
        let rowElements = rowBytes / d.dtype.byteSize
        let rows = d.shape.isEmpty ? 1 : d.shape[0]
        guard rowElements > 0 || values.isEmpty, values.count % max(rowElements, 1) == 0,
              start >= 0, start + values.count / max(rowElements, 1) <= rows else {
            throw InputError(file: path, field: "tensor '\(name)'",
                             "rows from \(start) (\(values.count) values) do not fit its shape \(d.shape)")
        }
        let at = offset + start * rowBytes
        switch d.dtype {
        case .f16:
            let halves = values.map { Float16($0).bitPattern.littleEndian }
            try halves.withUnsafeBytes { try Self.write(fd, $0, at: at, path: path) }
        default:
            try values.withUnsafeBytes { try Self.write(fd, $0, at: at, path: path) }
        }
    }

    /// Everything written reaches the disk before the caller records it done.
    public func synchronize() throws {
        guard fsync(fd) == 0 else { throw InputError(file: path, "cannot be flushed: \(String(cString: strerror(errno)))") }
    }

    private static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw InputError(file: path, "cannot be written: \(String(cString: strerror(errno)))") }
            done += n
        }
    }
}
