#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file. Pages are read by the kernel only
/// when touched, so opening a multi-gigabyte feature file costs nothing until
/// a tensor is asked for.
public final class MappedFile: @unchecked Sendable {
    // @unchecked: the mapping is read-only and immutable after init.
    public let path: String
    public let size: Int
    private let base: UnsafeRawPointer?

    public init(path: String) throws {
        self.path = path
        // A FIFO must not block the open, nor a device be mapped: RegularFile refuses both by name.
        let (fd, size) = try RegularFile.open(path, limit: Int.max)
        defer { close(fd) }
        self.size = size
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED { throw InputError(file: path, "cannot map: \(String(cString: strerror(errno)))") }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// The bytes `range` (bounds-checked by the caller against `size`).
    public func withBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(range.lowerBound >= 0 && range.upperBound <= size, "read outside the mapping")
        guard let base else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
}
