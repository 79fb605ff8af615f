import Foundation
import SpurAudit
import SpurCore
import SpurEngine
#if canImport(Glibc)
import Glibc
#endif

/// The discrepancy ranking at ImageNet scale — 1.28 M examples, 1,000
/// classes, 3,000 attributes, ~10 detections per image — starting from the
/// bundle's binary detections file on disk, against a naive per-attribute
/// scan (one pass over the detections and the examples for every attribute),
/// measured on a sample of attributes and extrapolated. Predictions are
/// given (the classifier's cost is the training suite's business).
///
/// The file is read twice: first right after its pages were dropped from
/// the page cache (`posix_fadvise(DONTNEED)` on the fsynced file, which
/// needs no root; how much stayed resident is measured with `mincore` and
/// reported), then again warm. `attributes.csv` is parsed for a tenth of
/// the examples and compared with the binary read of the same tenth.
enum AuditBenchmark {
    struct FileRead {
        var seconds: Double
        /// Share of the file's pages in the page cache just before the read.
        var residentBefore: Double
    }

    struct Result {
        var examples: Int, classes: Int, attributes: Int, detections: Int
        var fileBytes: Int, writeSeconds: Double
        var coldRead: FileRead, warmRead: FileRead
        var presenceSeconds: Double, tableSeconds: Double, rankSeconds: Double, rows: Int
        var csvExamples: Int, csvDetections: Int, csvBytes: Int, csvReadSeconds: Double, binarySliceReadSeconds: Double
        var naiveSecondsPerAttribute: Double, naiveAttributesTimed: Int
        var auditSeconds: Double { presenceSeconds + tableSeconds + rankSeconds }
        var coldTotalSeconds: Double { coldRead.seconds + auditSeconds }
        var warmTotalSeconds: Double { warmRead.seconds + auditSeconds }
        var naiveSeconds: Double { naiveSecondsPerAttribute * Double(attributes) }
    }

    static func measure(examples n: Int = 1_280_000, classes c: Int = 1000, attributes a: Int = 3000,
                        perImage: Int = 10, naiveSample: Int = 20, scratch: String) throws -> Result {
        var rng = SeededGenerator(seed: 12, purpose: "bench-audit")
        let labels = (0..<n).map { _ in Int(rng.next() % UInt64(c)) }
        let predictions = labels.map { y in rng.next() % 10 < 7 ? y : Int(rng.next() % UInt64(c)) }
        // Half of each image's detections come from 20 attributes typical of
        // its class, so many (class, attribute) pairs have real support.
        var attrs = [Int32](), scores = [Float]()
        attrs.reserveCapacity(n * perImage)
        scores.reserveCapacity(n * perImage)
        for e in 0..<n {
            for k in 0..<perImage {
                attrs.append(Int32(k % 2 == 0 ? (labels[e] * 7 + Int(rng.next() % 20)) % a : Int(rng.next() % UInt64(a))))
                scores.append(Float(rng.next() % 1000) / 1000)
            }
        }
        let generated = DetectionTable(offsets: (0...n).map { $0 * perImage }, attributes: attrs, scores: scores)
        let vocabulary = (0..<a).map { "attribute \($0)" }

        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let path = scratch + "/" + DetectionsFile.defaultName
        let w0 = monotonicSeconds()
        try DetectionsFile.write(generated, vocabulary: vocabulary, to: path)   // fsynced
        let writeSeconds = monotonicSeconds() - w0

        func timedRead(_ path: String, examples: Int) throws -> (DetectionTable, FileRead) {
            let resident = residentShare(path)
            let t0 = monotonicSeconds()
            let table = try DetectionsFile.read(path: path, exampleCount: examples, vocabulary: vocabulary)
            return (table, FileRead(seconds: monotonicSeconds() - t0, residentBefore: resident))
        }
        dropFromPageCache(path)
        let (cold, coldRead) = try timedRead(path, examples: n)
        let (table, warmRead) = try timedRead(path, examples: n)
        precondition(cold == generated && table == generated, "the detections file did not read back as written")

        let t0 = monotonicSeconds()
        let presence = AttributePresence.fromDetections(table, attributeCount: a, threshold: 0.3)
        let t1 = monotonicSeconds()
        let discrepancies = DiscrepancyTable.compute(labels: labels, predictions: predictions, presence: presence,
                                                     classCount: c, minimumSupport: 10)
        let t2 = monotonicSeconds()
        let ranked = discrepancies.ranked(by: .magnitude)
        let t3 = monotonicSeconds()

        // attributes.csv against the binary file for the first tenth of the examples.
        let m = max(1, n / 10)
        let slice = DetectionTable(offsets: Array(table.offsets[0...m]), attributes: Array(table.attributes[0..<table.offsets[m]]),
                                   scores: Array(table.scores[0..<table.offsets[m]]))
        let sliceExamples = (0..<m).map { Example(id: "img\($0)", image: "img\($0).jpg", label: labels[$0], split: .val) }
        let csvPath = scratch + "/" + FeatureBundle.attributesFile
        try BundleWriter.writeDetections(slice.detections, examples: sliceExamples, vocabulary: vocabulary, to: csvPath)
        let slicePath = scratch + "/slice.safetensors"
        try DetectionsFile.write(slice, vocabulary: vocabulary, to: slicePath)
        let c0 = monotonicSeconds()
        var problems: [InputError] = []
        let parsed = try BundleCheck.parseDetections(CSVTable(path: csvPath), examples: sliceExamples,
                                                     vocabulary: vocabulary, into: &problems)
        let fromCSV = DetectionTable(exampleCount: m, detections: parsed)
        let c1 = monotonicSeconds()
        let (fromBinary, sliceRead) = try timedRead(slicePath, examples: m)
        precondition(problems.isEmpty && fromCSV == slice && fromBinary == slice, "the CSV and binary slices differ")

        // Naive: for each attribute, mark the examples that have it by a scan
        // of all detections, then count per class with and without it.
        let sample = Array(stride(from: 0, to: a, by: max(1, a / naiveSample)).prefix(naiveSample))
        var checksum = 0
        let t4 = monotonicSeconds()
        for s in sample {
            var has = [Bool](repeating: false, count: n)
            for e in 0..<n {
                for i in table.range(of: e) where Int(table.attributes[i]) == s && table.scores[i] >= 0.3 { has[e] = true }
            }
            var withTotal = [Int](repeating: 0, count: c), withCorrect = [Int](repeating: 0, count: c)
            var total = [Int](repeating: 0, count: c), correct = [Int](repeating: 0, count: c)
            for e in 0..<n {
                let y = labels[e], ok = predictions[e] == y ? 1 : 0
                total[y] += 1; correct[y] += ok
                if has[e] { withTotal[y] += 1; withCorrect[y] += ok }
            }
            checksum &+= withTotal.reduce(0, +) &+ correct.reduce(0, +)
        }
        let t5 = monotonicSeconds()
        precondition(checksum != 0 && ranked.count == discrepancies.rows.count)
        return Result(examples: n, classes: c, attributes: a, detections: table.count,
                      fileBytes: fileSize(path), writeSeconds: writeSeconds, coldRead: coldRead, warmRead: warmRead,
                      presenceSeconds: t1 - t0, tableSeconds: t2 - t1, rankSeconds: t3 - t2, rows: discrepancies.rows.count,
                      csvExamples: m, csvDetections: slice.count, csvBytes: fileSize(csvPath),
                      csvReadSeconds: c1 - c0, binarySliceReadSeconds: sliceRead.seconds,
                      naiveSecondsPerAttribute: (t5 - t4) / Double(sample.count), naiveAttributesTimed: sample.count)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Asks the kernel to drop the (clean, fsynced) file's cached pages.
    static func dropFromPageCache(_ path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED))
    }

    /// The share of the file's pages in the page cache (`mincore` on a map).
    static func residentShare(_ path: String) -> Double {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return .nan }
        defer { close(fd) }
        let size = fileSize(path)
        guard size > 0, let p = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else { return .nan }
        defer { munmap(p, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var vec = [UInt8](repeating: 0, count: pages)
        guard mincore(p, size, &vec) == 0 else { return .nan }
        return Double(vec.reduce(0) { $0 + Int($1 & 1) }) / Double(pages)
    }
}
