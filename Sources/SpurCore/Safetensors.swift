import Foundation

/// Element types of the safetensors format that spurscope reads.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32", f16 = "F16", bf16 = "BF16", f64 = "F64"
    case i32 = "I32", i64 = "I64", i8 = "I8", u8 = "U8", bool = "BOOL"

    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16: return 2
        case .i8, .u8, .bool: return 1
        }
    }

    public var isFloatingPoint: Bool { self == .f32 || self == .f16 || self == .bf16 || self == .f64 }
}

/// One tensor's entry in a safetensors header.
public struct TensorInfo: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range inside the data section (after the header).
    public var dataRange: Range<Int>

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file opened by memory map
/// (8-byte little-endian header length, JSON header, raw little-endian data).
///
/// Opening reads only the header; every size and offset in it is checked
/// against the file before anything is allocated, so a hostile or truncated
/// file yields an `InputError`, never a crash or a huge allocation.
public final class SafetensorsFile: @unchecked Sendable {
    /// Headers larger than this are refused before they are read.
    public static let maxHeaderBytes = 100_000_000

    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    public var names: [String] { tensors.keys.sorted() }

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        guard file.size >= 8 else {
            throw InputError(file: path, "file is \(file.size) bytes, shorter than the 8-byte safetensors header length")
        }
        let headerLength = file.withBytes(0..<8) { raw in
            UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        }
        guard headerLength <= UInt64(Self.maxHeaderBytes) else {
            throw InputError(file: path, field: "header",
                             "declares \(headerLength) bytes; at most \(Self.maxHeaderBytes) are allowed")
        }
        guard Int(headerLength) <= file.size - 8 else {
            throw InputError(file: path, field: "header",
                             "declares \(headerLength) bytes but the file has only \(file.size - 8) after the length")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = file.withBytes(8..<dataStart) { Data($0) }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData)
        } catch {
            throw InputError(file: path, field: "header", "is not valid JSON")
        }
        guard let object = json as? [String: Any] else {
            throw InputError(file: path, field: "header", "is not a JSON object")
        }
        if let name = JSONKeys.firstRepeatedTopLevelKey(headerData) {
            throw InputError(file: path, field: "header",
                             name == "__metadata__" ? "has two __metadata__ entries" : "names tensor '\(name)' twice")
        }
        let dataSize = file.size - dataStart
        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw InputError(file: path, field: "__metadata__", "is not an object of strings")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw InputError(file: path, field: "__metadata__.\(k)", "is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            tensors[name] = try Self.parseEntry(name: name, value: value, dataSize: dataSize, path: path)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    private static func parseEntry(name: String, value: Any, dataSize: Int, path: String) throws -> TensorInfo {
        guard let entry = value as? [String: Any] else {
            throw InputError(file: path, field: "tensor '\(name)'", "header entry is not an object")
        }
        guard let dtypeName = entry["dtype"] as? String else {
            throw InputError(file: path, field: "tensor '\(name)'", "has no dtype")
        }
        guard let dtype = DType(rawValue: dtypeName) else {
            let known = DType.allCases.map(\.rawValue).joined(separator: ", ")
            throw InputError(file: path, field: "tensor '\(name)'", "dtype \(dtypeName) is not supported (expected one of \(known))")
        }
        guard let rawShape = entry["shape"] as? [Any],
              let shape = integers(rawShape), shape.allSatisfy({ $0 >= 0 }) else {
            throw InputError(file: path, field: "tensor '\(name)'", "shape must be a list of non-negative integers")
        }
        guard let rawOffsets = entry["data_offsets"] as? [Any],
              let offsets = integers(rawOffsets), offsets.count == 2 else {
            throw InputError(file: path, field: "tensor '\(name)'", "data_offsets must be two integers [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin >= 0, begin <= end, end <= dataSize else {
            throw InputError(file: path, field: "tensor '\(name)'",
                             "data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw InputError(file: path, field: "tensor '\(name)'", "shape \(shape) is too large")
            }
            count = p
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, bytes == end - begin else {
            throw InputError(file: path, field: "tensor '\(name)'",
                             "shape \(shape) of \(dtype.rawValue) needs \(overflow ? "too many" : String(bytes)) bytes but data_offsets span \(end - begin)")
        }
        return TensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    /// JSON numbers arrive as NSNumber (or Int); reject fractions and booleans.
    private static func integers(_ values: [Any]) -> [Int]? {
        var out: [Int] = []
        for v in values {
            if let n = v as? NSNumber {
                // JSON booleans also arrive as NSNumber; only their class tells them apart.
                if String(describing: type(of: n)).contains("Boolean") { return nil }
                let d = n.doubleValue
                guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
                out.append(n.intValue)
            } else {
                return nil
            }
        }
        return out
    }

    public func info(_ name: String) throws -> TensorInfo {
        guard let t = tensors[name] else {
            throw InputError(file: path, field: "tensor '\(name)'", "is missing (the file has: \(names.joined(separator: ", ")))")
        }
        return t
    }

    /// The tensor's elements converted to `Float` (from f32, f16, bf16, f64 or integers).
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        return try floats(t, elements: 0..<t.elementCount)
    }

    /// A slice of the tensor's elements in row-major order, for reading one
    /// example of a large tensor without touching the rest.
    public func floats(_ t: TensorInfo, elements: Range<Int>) throws -> [Float] {
        precondition(elements.lowerBound >= 0 && elements.upperBound <= t.elementCount, "element range outside tensor")
        let start = dataStart + t.dataRange.lowerBound + elements.lowerBound * t.dtype.byteSize
        let byteRange = start ..< start + elements.count * t.dtype.byteSize
        return file.withBytes(byteRange) { raw in
            let n = elements.count
            if n == 0 { return [] }
            switch t.dtype {
            case .f32:
                return [Float](unsafeUninitializedCapacity: n) { buf, count in
                    // Little-endian on every platform spurscope runs on.
                    _ = memcpy(buf.baseAddress!, raw.baseAddress!, n * 4)
                    count = n
                }
            case .f16:
                return (0..<n).map { Float(Float16(bitPattern: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self)))) }
            case .bf16:
                return (0..<n).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) << 16) }
            case .f64:
                return (0..<n).map { Float(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Double.self)) }
            case .i32:
                return (0..<n).map { Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .i64:
                return (0..<n).map { Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .i8:
                return (0..<n).map { Float(raw.load(fromByteOffset: $0, as: Int8.self)) }
            case .u8, .bool:
                return (0..<n).map { Float(raw.load(fromByteOffset: $0, as: UInt8.self)) }
            }
        }
    }

    /// The tensor's raw little-endian bytes, straight from the mapping (no
    /// copy, no conversion): for readers that check and copy large integer
    /// and float arrays themselves.
    public func withData<R>(_ t: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = dataStart + t.dataRange.lowerBound
        return try file.withBytes(start ..< start + t.dataRange.count, body)
    }

    /// The tensor's elements as integers; refuses floating-point tensors.
    public func integers(_ name: String) throws -> [Int] {
        let t = try info(name)
        let start = dataStart + t.dataRange.lowerBound
        let n = t.elementCount
        return try file.withBytes(start ..< start + t.dataRange.count) { raw in
            switch t.dtype {
            case .i32: return (0..<n).map { Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self))) }
            case .i64: return (0..<n).map { Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self))) }
            case .i8: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: Int8.self)) }
            case .u8, .bool: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
            case .f32, .f16, .bf16, .f64:
                throw InputError(file: path, field: "tensor '\(name)'", "dtype is \(t.dtype.rawValue), expected an integer type (I32 or I64)")
            }
        }
    }

    /// A 2-D tensor as a `Matrix`; with `shape`, checks it first
    /// (`nil` entries match any size).
    public func matrix(_ name: String, shape expected: [Int?]? = nil) throws -> Matrix {
        let t = try checkedInfo(name, shape: expected, floating: true)
        guard t.shape.count == 2 else {
            throw InputError(file: path, field: "tensor '\(name)'", "shape is \(t.shape), expected 2 dimensions")
        }
        let values = try floats(name)
        try requireFinite(values, name: name)
        return Matrix(rows: t.shape[0], cols: t.shape[1], storage: values)
    }

    /// The tensor's info after checking its rank, sizes and kind of dtype.
    public func checkedInfo(_ name: String, shape expected: [Int?]? = nil, floating: Bool? = nil) throws -> TensorInfo {
        let t = try info(name)
        if let expected {
            let ok = expected.count == t.shape.count && zip(expected, t.shape).allSatisfy { $0 == nil || $0 == $1 }
            if !ok {
                let want = "[" + expected.map { $0.map(String.init) ?? "_" }.joined(separator: ", ") + "]"
                throw InputError(file: path, field: "tensor '\(name)'", "shape is \(t.shape), expected \(want)")
            }
        }
        if let floating, floating != t.dtype.isFloatingPoint {
            throw InputError(file: path, field: "tensor '\(name)'",
                             "dtype is \(t.dtype.rawValue), expected \(floating ? "a float type (F32 or F16)" : "an integer type (I32 or I64)")")
        }
        return t
    }

    public func requireFinite(_ values: [Float], name: String) throws {
        if let i = values.firstIndex(where: { !$0.isFinite }) {
            throw InputError(file: path, field: "tensor '\(name)'", "element \(i) is \(values[i]), expected a finite number")
        }
    }
}

/// Builds a safetensors file in memory and writes it atomically.
public struct SafetensorsWriter {
    private var entries: [(name: String, dtype: DType, shape: [Int], bytes: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        precondition(shape.reduce(1, *) == floats.count, "shape \(shape) for \(floats.count) floats")
        entries.append((name, .f32, shape, floats.withUnsafeBytes { Data($0) }))
    }

    public mutating func add(_ name: String, shape: [Int], float16s: [Float]) {
        precondition(shape.reduce(1, *) == float16s.count, "shape \(shape) for \(float16s.count) values")
        let halves = float16s.map { Float16($0).bitPattern.littleEndian }
        entries.append((name, .f16, shape, halves.withUnsafeBytes { Data($0) }))
    }

    public mutating func add(_ name: String, shape: [Int], int32s: [Int32]) {
        precondition(shape.reduce(1, *) == int32s.count, "shape \(shape) for \(int32s.count) values")
        entries.append((name, .i32, shape, int32s.withUnsafeBytes { Data($0) }))
    }

    public mutating func add(_ name: String, shape: [Int], int64s: [Int64]) {
        precondition(shape.reduce(1, *) == int64s.count, "shape \(shape) for \(int64s.count) values")
        entries.append((name, .i64, shape, int64s.withUnsafeBytes { Data($0) }))
    }

    /// Raw little-endian bytes of any dtype (the caller lays them out).
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: Data) {
        precondition(shape.reduce(1, *) * dtype.byteSize == bytes.count, "shape \(shape) of \(dtype) for \(bytes.count) bytes")
        entries.append((name, dtype, shape, bytes))
    }

    public mutating func add(_ name: String, _ m: Matrix) {
        add(name, shape: [m.rows, m.cols], floats: m.storage)
    }

    /// The complete file: header padded with spaces to a multiple of 8 bytes,
    /// tensors in the order added.
    public func encoded() throws -> Data {
        var out = try Self.header(for: entries.map { ($0.name, $0.dtype, $0.shape, $0.bytes.count) }, metadata: metadata)
        for e in entries { out.append(e.bytes) }
        return out
    }

    /// The 8-byte length and the JSON header (padded with spaces to a
    /// multiple of 8) for tensors stored back to back in the given order.
    static func header(for tensors: [(name: String, dtype: DType, shape: [Int], bytes: Int)],
                       metadata: [String: String]) throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for t in tensors {
            header[t.name] = ["dtype": t.dtype.rawValue, "shape": t.shape, "data_offsets": [offset, offset + t.bytes]] as [String: Any]
            offset += t.bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        return out + json
    }

    public func write(to path: String) throws {
        try AtomicFile.write(encoded(), to: path)
    }
}

/// Writes a safetensors file tensor by tensor without holding it in memory
/// (multi-gigabyte spatial maps): the header is written first from the
/// declared shapes, then the data in declaration order; `finish` checks that
/// every byte arrived, fsyncs and renames the file into place.
public final class SafetensorsStreamWriter {
    public struct Declaration: Sendable, Equatable {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public init(_ name: String, _ dtype: DType, _ shape: [Int]) {
            self.name = name; self.dtype = dtype; self.shape = shape
        }
    }

    private let path: String
    private let temporaryPath: String
    private let handle: FileHandle
    private let declarations: [Declaration]
    private var current = 0
    private var writtenInCurrent = 0
    private var buffer = Data()

    public init(path: String, tensors: [Declaration], metadata: [String: String] = [:]) throws {
        precondition(tensors.allSatisfy { $0.dtype == .f32 || $0.dtype == .f16 || $0.dtype == .i32 },
                     "stream writer supports F32, F16 and I32")
        self.path = path
        self.declarations = tensors
        let dir = (path as NSString).deletingLastPathComponent
        temporaryPath = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let header = try SafetensorsWriter.header(
            for: tensors.map { ($0.name, $0.dtype, $0.shape, $0.shape.reduce(1, *) * $0.dtype.byteSize) }, metadata: metadata)
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil),
              let h = FileHandle(forWritingAtPath: temporaryPath) else {
            throw InputError(file: path, "cannot be created")
        }
        handle = h
        try handle.write(contentsOf: header)
        skipEmptyTensors()
    }

    private func skipEmptyTensors() {
        while current < declarations.count && declarations[current].shape.reduce(1, *) == 0 { current += 1 }
    }

    /// Appends the next elements of the current tensor (converted to its dtype).
    public func append(_ values: [Float]) throws {
        var remaining = values[...]
        while !remaining.isEmpty {
            precondition(current < declarations.count, "more data than the declared tensors hold")
            let d = declarations[current]
            let take = min(remaining.count, d.shape.reduce(1, *) - writtenInCurrent)
            let chunk = remaining.prefix(take)
            switch d.dtype {
            case .f16: chunk.map { Float16($0).bitPattern.littleEndian }.withUnsafeBytes { buffer.append(contentsOf: $0) }
            case .i32: chunk.map { Int32($0).littleEndian }.withUnsafeBytes { buffer.append(contentsOf: $0) }
            default: Array(chunk).withUnsafeBytes { buffer.append(contentsOf: $0) }
            }
            remaining = remaining.dropFirst(take)
            writtenInCurrent += take
            if writtenInCurrent == d.shape.reduce(1, *) {
                current += 1
                writtenInCurrent = 0
                skipEmptyTensors()
            }
            if buffer.count >= 1 << 22 { try flush() }
        }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    public func finish() throws {
        guard current == declarations.count else {
            try? handle.close()
            unlink(temporaryPath)
            throw InputError(file: path, field: "tensor '\(declarations[current].name)'", "was not written completely")
        }
        try flush()
        try handle.synchronize()
        try handle.close()
        if rename(temporaryPath, path) != 0 {
            unlink(temporaryPath)
            throw InputError(file: path, "cannot rename into place: \(String(cString: strerror(errno)))")
        }
    }
}
