import SpurCore

/// One tensor of a checkpoint as `Float`s for BLAS.
///
/// F32 tensors stay in the file's memory map: a 600 MB checkpoint costs no
/// copy and its pages are shared with every other process reading it. F16
/// and BF16 tensors are widened once at load, since sgemm reads only F32.
public struct Weight: @unchecked Sendable {
    // @unchecked: a mapped weight points into `SafetensorsFile`'s read-only
    // mapping, which it keeps alive; an owned one is immutable.
    public let name: String
    public let shape: [Int]
    private let storage: Storage

    private enum Storage {
        case mapped(SafetensorsFile, TensorInfo)
        case owned([Float])
    }

    public var count: Int { shape.reduce(1, *) }

    init(file: SafetensorsFile, name: String) throws {
        let t = try file.info(name)
        guard t.dtype == .f32 || t.dtype == .f16 || t.dtype == .bf16 else {
            throw InputError(file: file.path, field: "tensor '\(name)'",
                             "dtype is \(t.dtype.rawValue), expected F32, F16 or BF16")
        }
        self.name = name
        self.shape = t.shape
        let aligned = file.withData(t) { raw in
            raw.baseAddress.map { Int(bitPattern: $0) % MemoryLayout<Float>.alignment == 0 } ?? true
        }
        if t.dtype == .f32 && aligned {
            storage = .mapped(file, t)
        } else {
            storage = .owned(try file.floats(t, elements: 0 ..< t.elementCount))
        }
    }

    /// A weight computed at load time (a folded or transposed tensor).
    public init(name: String, shape: [Int], values: [Float]) {
        precondition(values.count == shape.reduce(1, *), "\(name): \(values.count) values for shape \(shape)")
        self.name = name
        self.shape = shape
        storage = .owned(values)
    }

    /// The row-major values, valid only inside `body`.
    public func withFloats<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        switch storage {
        case .owned(let values):
            return try values.withUnsafeBufferPointer { try body($0.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!) }
        case .mapped(let file, let t):
            return try file.withData(t) { raw in
                try body(raw.baseAddress!.assumingMemoryBound(to: Float.self))
            }
        }
    }

    /// The transpose of a 2-D weight: OpenAI stores its projections `[W, E]`
    /// for `x @ P`, a bundle keeps them `[E, W]`.
    public func transposed(as newName: String) -> Weight {
        precondition(shape.count == 2, "\(name): transposing shape \(shape)")
        let rows = shape[0], cols = shape[1]
        var t = [Float](repeating: 0, count: count)
        withFloats { v in
            for i in 0..<rows { for j in 0..<cols { t[j * rows + i] = v[i * cols + j] } }
        }
        return Weight(name: newName, shape: [cols, rows], values: t)
    }

    /// A copy of the values (for tests and small tensors such as biases).
    public var values: [Float] {
        withFloats { Array(UnsafeBufferPointer(start: $0, count: count)) }
    }
}
