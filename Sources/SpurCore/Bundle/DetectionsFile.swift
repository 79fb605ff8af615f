import Foundation

/// `detections.safetensors`: a bundle's detections as compressed rows, the
/// binary form of `attributes.csv` for ImageNet-size bundles.
///
/// | tensor | dtype | shape | value |
/// |---|---|---|---|
/// | `offsets` | I64 | `[N + 1]` | example `e`'s detections are entries `offsets[e] ..< offsets[e+1]` |
/// | `attribute` | I32 | `[nnz]` | index into the vocabulary |
/// | `score` | F32 | `[nnz]` | the detector's score |
///
/// Metadata: `format` = `spurscope-detections`, `version` = `1`, and
/// `attributes`, the vocabulary as a JSON list of strings, which must equal
/// the manifest's (so indices cannot silently point at other words). Rows
/// are the rows of `examples.csv`, in order.
public enum DetectionsFile {
    public static let defaultName = "detections.safetensors"
    public static let format = "spurscope-detections"
    public static let version = "1"

    public static func write(_ table: DetectionTable, vocabulary: [String], to path: String) throws {
        var w = SafetensorsWriter()
        w.add("offsets", shape: [table.offsets.count], int64s: table.offsets.map(Int64.init))
        w.add("attribute", shape: [table.count], int32s: table.attributes)
        w.add("score", shape: [table.count], floats: table.scores)
        let names = try JSONSerialization.data(withJSONObject: vocabulary)
        w.metadata = ["format": format, "version": version, "attributes": String(decoding: names, as: UTF8.self)]
        try w.write(to: path)
    }

    /// Reads and checks the whole file against the bundle: `exampleCount`
    /// rows, indices into `vocabulary`, finite scores. The first problem is
    /// thrown, naming the file and the tensor (and the example row).
    public static func read(path: String, exampleCount n: Int, vocabulary: [String]) throws -> DetectionTable {
        let f = try SafetensorsFile(path: path)
        if let given = f.metadata["format"], given != format {
            throw InputError(file: path, field: "__metadata__.format", "is '\(given)', expected '\(format)'")
        }
        if let given = f.metadata["version"], given != version {
            throw InputError(file: path, field: "__metadata__.version", "is '\(given)', expected '\(version)'")
        }
        try checkVocabulary(f, vocabulary: vocabulary)
        let offsetsInfo = try tensor(f, "offsets", .i64)
        let attributeInfo = try tensor(f, "attribute", .i32)
        let scoreInfo = try tensor(f, "score", .f32)
        guard offsetsInfo.shape[0] == n + 1 else {
            throw InputError(file: path, field: "tensor 'offsets'",
                             "has \(offsetsInfo.shape[0]) entries, expected \(n + 1) (examples.csv has \(n) examples)")
        }
        let nnz = attributeInfo.shape[0]
        guard scoreInfo.shape[0] == nnz else {
            throw InputError(file: path, field: "tensor 'score'", "has \(scoreInfo.shape[0]) entries, expected \(nnz) like 'attribute'")
        }
        let offsets: [Int] = f.withData(offsetsInfo) { copy($0, count: n + 1) }
        let attributes: [Int32] = f.withData(attributeInfo) { copy($0, count: nnz) }
        let scores: [Float] = f.withData(scoreInfo) { copy($0, count: nnz) }

        guard offsets[0] == 0 else {
            throw InputError(file: path, field: "tensor 'offsets'", "entry 0 is \(offsets[0]), expected 0")
        }
        guard offsets[n] == nnz else {
            throw InputError(file: path, field: "tensor 'offsets'", "entry \(n) (the last) is \(offsets[n]), expected \(nnz), the number of detections")
        }
        if let e = offsets.withUnsafeBufferPointer({ o in (0..<n).first { o[$0 + 1] < o[$0] } }) {
            throw InputError(file: path, field: "tensor 'offsets'",
                             "entry \(e + 1) is \(offsets[e + 1]), less than entry \(e) (\(offsets[e])): offsets must not decrease")
        }
        let a = Int32(clamping: vocabulary.count)
        if let i = attributes.withUnsafeBufferPointer({ p in p.firstIndex { $0 < 0 || $0 >= a } }) {
            throw InputError(file: path, field: "tensor 'attribute'",
                             "entry \(i) (example row \(row(of: i, offsets))) is \(attributes[i]), expected an index 0..<\(vocabulary.count) into the attribute vocabulary")
        }
        if let i = scores.withUnsafeBufferPointer({ p in p.firstIndex { !$0.isFinite } }) {
            throw InputError(file: path, field: "tensor 'score'",
                             "entry \(i) (example row \(row(of: i, offsets))) is \(scores[i]), expected a finite number")
        }
        return DetectionTable(offsets: offsets, attributes: attributes, scores: scores)
    }

    private static func checkVocabulary(_ f: SafetensorsFile, vocabulary: [String]) throws {
        guard let text = f.metadata["attributes"] else {
            throw InputError(file: f.path, field: "__metadata__.attributes", "is missing: the file must name its attribute vocabulary")
        }
        guard let names = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String] else {
            throw InputError(file: f.path, field: "__metadata__.attributes", "is not a JSON list of strings")
        }
        guard names == vocabulary else {
            let i = zip(names, vocabulary).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            let detail = i.map { "entry \($0) is '\(names[$0])' where manifest.json has '\(vocabulary[$0])'" }
                ?? "it has \(names.count) words, manifest.json has \(vocabulary.count)"
            throw InputError(file: f.path, field: "__metadata__.attributes", "differs from manifest.json's attributes: \(detail)")
        }
    }

    private static func tensor(_ f: SafetensorsFile, _ name: String, _ dtype: DType) throws -> TensorInfo {
        let t = try f.info(name)
        guard t.dtype == dtype else {
            throw InputError(file: f.path, field: "tensor '\(name)'", "dtype is \(t.dtype.rawValue), expected \(dtype.rawValue)")
        }
        guard t.shape.count == 1 else {
            throw InputError(file: f.path, field: "tensor '\(name)'", "shape is \(t.shape), expected one dimension")
        }
        return t
    }

    /// The example whose row holds entry `i` (offsets may be unchecked, so
    /// this only needs them to be sorted where it looks).
    private static func row(of i: Int, _ offsets: [Int]) -> Int {
        var lo = 0, hi = offsets.count - 1
        while hi - lo > 1 {
            let mid = (lo + hi) / 2
            if offsets[mid] <= i { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// `count` little-endian values of `T` out of the mapping (whose data may
    /// be unaligned, so by bytes).
    private static func copy<T>(_ raw: UnsafeRawBufferPointer, count: Int) -> [T] {
        precondition(raw.count == count * MemoryLayout<T>.stride)
        return [T](unsafeUninitializedCapacity: count) { buf, initialized in
            if count > 0 { memcpy(buf.baseAddress!, raw.baseAddress!, raw.count) }
            initialized = count
        }
    }
}
