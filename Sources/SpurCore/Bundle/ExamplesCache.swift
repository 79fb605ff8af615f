import CCrypto
import CZlib
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `.examples-cache.safetensors` in the bundle directory: `examples.csv`
/// parsed and checked, as the columns of an `ExampleTable`, so that opening
/// a bundle reads a memory map instead of parsing text (DESIGN.md, "The
/// examples cache"). The CSV stays the file people edit; the cache is only
/// ever a copy of it:
///
/// - it records the CSV's size, mtime, ctime, inode and device, and its
///   SHA-256. When the stat matches, the cache is used; when it does not
///   (the CSV was edited, or the bundle was copied), the CSV's bytes are
///   hashed and the cache is used only if they are the same bytes;
/// - it records the manifest's classes its labels index, and is not used
///   when they differ;
/// - every array is checked (lengths, offsets, ranges, UTF-8, its own
///   CRC-32), so a damaged cache is rebuilt, never trusted. Labels, splits
///   and ground truth are checked on open; ids, paths, masks and boxes on
///   first use (`ExampleStrings`), which `info` and the counts never make;
/// - it is written only from a CSV that parsed without a problem, and only
///   where the directory is writable (a read-only bundle parses its CSV).
///
/// | tensor | dtype | shape |
/// |---|---|---|
/// | `label` | I32 | `[N]` |
/// | `split` | U8 | `[N]` (train 0, val 1, test 2) |
/// | `attributes` | I8 | `[N, A]` (1, 0, -1 blank) |
/// | `id_offsets`, `image_offsets`, `mask_offsets` | I64 | `[N + 1]` |
/// | `id_bytes`, `image_bytes`, `mask_bytes` | U8 | UTF-8 back to back |
/// | `bbox` | F32 | `[N, 4]`, NaN: no box (absent without a bbox column) |
public enum ExamplesCache {
    public static let name = ".examples-cache.safetensors"
    public static let format = "spurscope-examples-cache"
    public static let version = "2"

    /// What identifies one version of `examples.csv` without reading it.
    public struct Stamp: Equatable, Sendable {
        var size, mtimeNanoseconds, ctimeNanoseconds, inode, device: Int64

        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            size = Int64(st.st_size)
            mtimeNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            ctimeNanoseconds = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
            inode = Int64(bitPattern: UInt64(st.st_ino))
            device = Int64(bitPattern: UInt64(st.st_dev))
        }

        var text: String { "\(size) \(mtimeNanoseconds) \(ctimeNanoseconds) \(inode) \(device)" }
    }

    /// Why the cache was or was not used, for the benchmark and the tests.
    public enum Outcome: String, Sendable {
        case used, usedAfterHash = "used-after-hash", missing, stale, damaged
    }

    public static func path(directory: String) -> String { (directory as NSString).appendingPathComponent(name) }

    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard let context = EVP_MD_CTX_new() else { return "" }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        if bytes.count > 0 { EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) }
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }

    /// The table, if the cache is there, sound and of this very CSV;
    /// otherwise nil and why.
    public static func read(directory: String, classes: [String]) -> (ExampleTable?, Outcome) {
        let csv = (directory as NSString).appendingPathComponent(FeatureBundle.examplesFile)
        let cachePath = path(directory: directory)
        guard FileManager.default.fileExists(atPath: cachePath) else { return (nil, .missing) }
        guard let f = try? SafetensorsFile(path: cachePath), f.metadata["format"] == format,
              f.metadata["version"] == version else { return (nil, .damaged) }
        guard let stamp = Stamp(path: csv) else { return (nil, .stale) }
        guard let classText = f.metadata["classes"],
              let cachedClasses = (try? JSONSerialization.jsonObject(with: Data(classText.utf8))) as? [String],
              cachedClasses == classes else { return (nil, .stale) }
        var outcome = Outcome.used
        if f.metadata["csv_stat"] != stamp.text {
            guard let file = try? MappedFile(path: csv),
                  file.withBytes(0..<file.size, sha256) == f.metadata["csv_sha256"] else { return (nil, .stale) }
            outcome = .usedAfterHash
        }
        guard let table = decode(f, classCount: classes.count, directory: directory, classes: classes) else { return (nil, .damaged) }
        if outcome == .usedAfterHash, let sha = f.metadata["csv_sha256"] {
            // Same bytes under a new stat (a copied bundle): record it, so the next open skips the hash.
            try? write(table, classes: classes, stamp: stamp, csvSHA256: sha, directory: directory)
        }
        return (table, outcome)
    }

    /// Writes the cache of a table just parsed from the CSV whose stat and
    /// hash are given (taken before and from the bytes that were parsed).
    public static func write(_ t: ExampleTable, classes: [String], stamp: Stamp, csvSHA256: String, directory: String) throws {
        var w = SafetensorsWriter()
        var crcs: [String: String] = [:]
        func add<T>(_ name: String, _ dtype: DType, _ shape: [Int], _ a: [T]) {
            let bytes = a.withUnsafeBytes { Data($0) }
            crcs["crc32." + name] = String(bytes.withUnsafeBytes(crc))
            w.add(name, dtype: dtype, shape: shape, bytes: bytes)
        }
        let s = t.strings.columns
        add("label", .i32, [t.count], t.labels)
        add("split", .u8, [t.count], t.splits)
        add("attributes", .i8, [t.count, t.attributeNames.count], t.attributeValues)
        for (key, column) in [("id", s.ids), ("image", s.images), ("mask", s.masks)] {
            add("\(key)_offsets", .i64, [t.count + 1], column.offsets.map(Int64.init))
            add("\(key)_bytes", .u8, [column.bytes.count], column.bytes)
        }
        if let b = s.boxes { add("bbox", .f32, [t.count, 4], b) }
        let names = try JSONSerialization.data(withJSONObject: t.attributeNames)
        let classText = try JSONSerialization.data(withJSONObject: classes)
        w.metadata = ["format": format, "version": version, "csv_stat": stamp.text, "csv_sha256": csvSHA256,
                      "attribute_names": String(decoding: names, as: UTF8.self),
                      "classes": String(decoding: classText, as: UTF8.self)].merging(crcs) { a, _ in a }
        try AtomicFile.write(w.encoded(), to: path(directory: directory))
    }

    static func crc(_ raw: UnsafeRawBufferPointer) -> UInt {
        raw.count == 0 ? 0 : UInt(crc32_z(0, raw.baseAddress!.assumingMemoryBound(to: Bytef.self), raw.count))
    }

    /// Each tensor carries its own CRC, so a column is checked when it is
    /// read: labels, splits and ground truth here, the strings on first use
    /// (`ExampleStrings`).
    private static func decode(_ f: SafetensorsFile, classCount: Int, directory: String, classes: [String]) -> ExampleTable? {
        guard let namesText = f.metadata["attribute_names"],
              let names = (try? JSONSerialization.jsonObject(with: Data(namesText.utf8))) as? [String] else { return nil }
        let stringTensors = ["id_offsets", "id_bytes", "image_offsets", "image_bytes", "mask_offsets", "mask_bytes", "bbox"]
        guard Set(f.tensors.keys).isSubset(of: Set(["label", "split", "attributes"] + stringTensors)) else { return nil }
        func tensor(_ name: String, _ dtype: DType, _ shape: [Int]?) -> TensorInfo? {
            guard let t = f.tensors[name], t.dtype == dtype else { return nil }
            if let shape, t.shape != shape { return nil }
            guard let want = f.metadata["crc32." + name].flatMap(UInt.init), f.withData(t, crc) == want else { return nil }
            return t
        }
        guard let labelInfo = tensor("label", .i32, nil), labelInfo.shape.count == 1 else { return nil }
        let n = labelInfo.shape[0]
        guard let splitInfo = tensor("split", .u8, [n]),
              let attrInfo = tensor("attributes", .i8, [n, names.count]) else { return nil }
        // The string tensors' shapes are checked now (a foreign cache is
        // refused on open); their bytes when first read.
        for key in ["id", "image", "mask"] {
            guard f.tensors["\(key)_offsets"].map({ $0.dtype == .i64 && $0.shape == [n + 1] }) == true,
                  f.tensors["\(key)_bytes"].map({ $0.dtype == .u8 && $0.shape.count == 1 }) == true else { return nil }
        }
        if let b = f.tensors["bbox"], b.dtype != .f32 || b.shape != [n, 4] { return nil }

        let labels = copy(f, labelInfo, as: Int32.self)
        let c = Int32(clamping: classCount)
        guard !labels.contains(where: { $0 < 0 || $0 >= c }) else { return nil }
        let splits = copy(f, splitInfo, as: UInt8.self)
        guard !splits.contains(where: { $0 >= UInt8(Split.allCases.count) }) else { return nil }
        let values = copy(f, attrInfo, as: Int8.self)
        guard !values.contains(where: { $0 < -1 || $0 > 1 }) else { return nil }
        let strings = ExampleStrings(loading: {
            if let columns = decodeStrings(f, count: n) { return columns }
            return columnsFromCSV(directory: directory, classes: classes, count: n)
        })
        return ExampleTable(labels: labels, splits: splits, attributeNames: names, attributeValues: values, strings: strings)
    }

    private static func copy<T>(_ f: SafetensorsFile, _ t: TensorInfo, as _: T.Type) -> [T] {
        f.withData(t) { raw in
            let n = raw.count / MemoryLayout<T>.stride
            return [T](unsafeUninitializedCapacity: n) { buf, count in
                if n > 0 { memcpy(buf.baseAddress!, raw.baseAddress!, raw.count) }
                count = n
            }
        }
    }

    /// The string columns and boxes, if every one is sound.
    static func decodeStrings(_ f: SafetensorsFile, count n: Int) -> ExampleStrings.Columns? {
        func checked(_ name: String) -> TensorInfo? {
            guard let t = f.tensors[name], let want = f.metadata["crc32." + name].flatMap(UInt.init),
                  f.withData(t, crc) == want else { return nil }
            return t
        }
        var columns: [ExampleTable.StringColumn] = []
        for key in ["id", "image", "mask"] {
            guard let o = checked("\(key)_offsets"), let b = checked("\(key)_bytes") else { return nil }
            let offsets = copy(f, o, as: Int64.self).map { Int($0) }
            let bytes = copy(f, b, as: UInt8.self)
            guard offsets.count == n + 1, offsets.first == 0, offsets.last == bytes.count,
                  !zip(offsets, offsets.dropFirst()).contains(where: { $0 > $1 }) else { return nil }
            // Each string must be UTF-8 by itself (a whole blob can be valid while a cut through a character is not).
            let valid = bytes.withUnsafeBufferPointer { p -> Bool in
                if !p.contains(where: { $0 >= 0x80 }) { return true }
                return (0..<n).allSatisfy { String(validating: UnsafeBufferPointer(rebasing: p[offsets[$0] ..< offsets[$0 + 1]]), as: UTF8.self) != nil }
            }
            guard valid else { return nil }
            columns.append(.init(offsets: offsets, bytes: bytes))
        }
        var boxes: [Float]?
        if f.tensors["bbox"] != nil {
            guard let b = checked("bbox") else { return nil }
            boxes = copy(f, b, as: Float.self)
        }
        return .init(ids: columns[0], images: columns[1], masks: columns[2], boxes: boxes)
    }

    /// The string columns from `examples.csv`, when the cache's turn out
    /// damaged after it was opened. The CSV's stat matched the cache's at
    /// open, so this parse is of the bytes the cache was made from; the
    /// damaged cache is removed, so the next open rebuilds it.
    static func columnsFromCSV(directory: String, classes: [String], count n: Int) -> ExampleStrings.Columns {
        let csvPath = (directory as NSString).appendingPathComponent(FeatureBundle.examplesFile)
        unlink(path(directory: directory))
        var problems: [InputError] = []
        if let t = try? CSVTable(path: csvPath), let parsed = try? BundleCheck.parseExamples(t, classes: classes, into: &problems),
           problems.isEmpty, parsed.examples.count == n {
            return ExampleTable(examples: parsed.examples, attributeNames: parsed.groundTruth).strings.columns
        }
        // Both copies changed under a running command: nothing sound is left to read.
        fatalError("\(csvPath) changed while spurscope was reading it, and \(path(directory: directory)) is damaged: run the command again")
    }
}
