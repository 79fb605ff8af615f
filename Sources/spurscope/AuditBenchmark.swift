import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// The discrepancy ranking at ImageNet scale — 1.28 M examples, 1,000
/// classes, 3,000 attributes, ~10 detections per image — against a naive
/// per-attribute scan (one pass over the detections and the examples for
/// every attribute), measured on a sample of attributes and extrapolated.
enum AuditBenchmark {
    struct Result {
        var examples: Int, classes: Int, attributes: Int, detections: Int
        var presenceSeconds: Double, tableSeconds: Double, rankSeconds: Double, rows: Int
        var naiveSecondsPerAttribute: Double, naiveAttributesTimed: Int
        var totalSeconds: Double { presenceSeconds + tableSeconds + rankSeconds }
        var naiveSeconds: Double { naiveSecondsPerAttribute * Double(attributes) }
    }

    static func measure(examples n: Int = 1_280_000, classes c: Int = 1000, attributes a: Int = 3000,
                        perImage: Int = 10, naiveSample: Int = 20) -> Result {
        var rng = SeededGenerator(seed: 12, purpose: "bench-audit")
        let labels = (0..<n).map { _ in Int(rng.next() % UInt64(c)) }
        let predictions = labels.map { y in rng.next() % 10 < 7 ? y : Int(rng.next() % UInt64(c)) }
        // Half of each image's detections come from 20 attributes typical of
        // its class, so many (class, attribute) pairs have real support.
        var detections: [Detection] = []
        detections.reserveCapacity(n * perImage)
        for e in 0..<n {
            for k in 0..<perImage {
                let attr = k % 2 == 0 ? (labels[e] * 7 + Int(rng.next() % 20)) % a : Int(rng.next() % UInt64(a))
                detections.append(Detection(example: e, attribute: attr, score: Float(rng.next() % 1000) / 1000))
            }
        }
        let t0 = monotonicSeconds()
        let presence = AttributePresence.fromDetections(detections, exampleCount: n, attributeCount: a, threshold: 0.3)
        let t1 = monotonicSeconds()
        let table = DiscrepancyTable.compute(labels: labels, predictions: predictions, presence: presence,
                                             classCount: c, minimumSupport: 10)
        let t2 = monotonicSeconds()
        let ranked = table.ranked(by: .magnitude)
        let t3 = monotonicSeconds()

        // Naive: for each attribute, mark the examples that have it by a scan
        // of all detections, then count per class with and without it.
        let sample = Array(stride(from: 0, to: a, by: max(1, a / naiveSample)).prefix(naiveSample))
        var checksum = 0
        let t4 = monotonicSeconds()
        for s in sample {
            var has = [Bool](repeating: false, count: n)
            for d in detections where d.attribute == s && d.score >= 0.3 { has[d.example] = true }
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
        precondition(checksum != 0 && ranked.count == table.rows.count)
        return Result(examples: n, classes: c, attributes: a, detections: detections.count,
                      presenceSeconds: t1 - t0, tableSeconds: t2 - t1, rankSeconds: t3 - t2, rows: table.rows.count,
                      naiveSecondsPerAttribute: (t5 - t4) / Double(sample.count), naiveAttributesTimed: sample.count)
    }
}
