import Foundation
import Testing
import SpurCore
import SpurEngine
@testable import SpurAudit

struct WilsonIntervalTests {
    @Test func matchesHandComputation() {
        // 3 of 4, z = 1.96: centre (0.75 + 0.4802)/1.9604, half-width
        // 1.96·√(0.1875/4 + 3.8416/64)/1.9604.
        let w = Proportion(successes: 3, total: 4).wilson95
        #expect(abs(w.low - 0.30064) < 1e-4 && abs(w.high - 0.95441) < 1e-4)
        let zero = Proportion(successes: 0, total: 10).wilson95
        #expect(zero.low == 0 && abs(zero.high - 0.27753) < 1e-4)
        let all = Proportion(successes: 20, total: 20).wilson95
        #expect(abs(all.low - 0.83887) < 1e-4 && all.high == 1)
        #expect(Proportion(successes: 0, total: 0).wilson95 == (0, 1))
    }
}

struct DiscrepancyTableTests {
    /// Ten examples of class 0 and four of class 1, attributes 0 ("sky") and 1 ("grass").
    ///
    /// class 0: e0–e5 have sky, e6–e9 do not. Correct: e0,e1,e2,e3,e4 (5 of 6 with sky),
    ///   e6 (1 of 4 without). Wrong: e5 → 1; e7 → 2, e8 → 2, e9 → 1.
    ///   δ(0, sky) = 5/6 − 1/4 = 0.58333; confused without sky: class 2 (two of three).
    /// class 0 grass on e0, e7, e8, e9: with 1/4, without 5/6 → δ = −0.58333;
    ///   failures without grass: only e5 → class 1.
    static let labels = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    static let predictions = [0, 0, 0, 0, 0, 1, 0, 2, 2, 1, 1, 1, 0, 0]
    static let present: [[Int32]] = [[0, 1], [0], [0], [0], [0], [0], [], [1], [1], [1], [0], [0], [1], [1]]

    static var presence: AttributePresence {
        var offsets = [0]; var flat: [Int32] = []
        for p in present { flat += p; offsets.append(flat.count) }
        return AttributePresence(exampleCount: 14, attributeCount: 2, offsets: offsets, attributes: flat)
    }

    @Test func handWorkedTable() throws {
        let t = DiscrepancyTable.compute(labels: Self.labels, predictions: Self.predictions,
                                         presence: Self.presence, classCount: 3, minimumSupport: 1)
        let sky = try #require(t.rows.first { $0.classIndex == 0 && $0.attribute == 0 })
        #expect(sky.with == Proportion(successes: 5, total: 6))
        #expect(sky.without == Proportion(successes: 1, total: 4))
        #expect(abs(sky.delta - (5.0 / 6 - 0.25)) < 1e-12)
        #expect(sky.confusedClass == 2)
        let grass = try #require(t.rows.first { $0.classIndex == 0 && $0.attribute == 1 })
        #expect(grass.with == Proportion(successes: 1, total: 4) && grass.without == Proportion(successes: 5, total: 6))
        #expect(grass.confusedClass == 1)
        // class 1: sky on e10, e11 (both right), grass on e12, e13 (both wrong → class 0).
        let sky1 = try #require(t.rows.first { $0.classIndex == 1 && $0.attribute == 0 })
        #expect(sky1.delta == 1 && sky1.confusedClass == 0)
        #expect(t.classTotals == [Proportion(successes: 6, total: 10), Proportion(successes: 2, total: 4), Proportion(successes: 0, total: 0)])
        // Orders: magnitude ties break by attribute; harm puts grass first for class 0.
        #expect(t.ranked(class: 0).map(\.attribute) == [0, 1])
        #expect(t.ranked(class: 0, by: .harm).map(\.attribute) == [1, 0])
        #expect(t.ranked(by: .delta).first?.classIndex == 1)
    }

    @Test func minimumSupportDropsThinRows() {
        let t = DiscrepancyTable.compute(labels: Self.labels, predictions: Self.predictions,
                                         presence: Self.presence, classCount: 3, minimumSupport: 5)
        #expect(t.rows.isEmpty)   // every pair has a side with fewer than 5
        let t4 = DiscrepancyTable.compute(labels: Self.labels, predictions: Self.predictions,
                                          presence: Self.presence, classCount: 3, minimumSupport: 4)
        #expect(t4.rows.count == 2 && t4.rows.allSatisfy { $0.classIndex == 0 })
    }

    /// The one-pass table equals a direct per-pair count on random data.
    @Test func onePassEqualsDirectCounting() {
        var rng = SeededGenerator(seed: 4)
        let n = 3000, c = 5, a = 7
        let labels = (0..<n).map { _ in Int(rng.next() % UInt64(c)) }
        let predictions = labels.map { y in rng.next() % 3 == 0 ? Int(rng.next() % UInt64(c)) : y }
        let detections = (0..<(n * 3)).map { _ in
            Detection(example: Int(rng.next() % UInt64(n)), attribute: Int(rng.next() % UInt64(a)), score: Float(rng.next() % 100) / 100)
        }
        let presence = AttributePresence.fromDetections(detections, exampleCount: n, attributeCount: a, threshold: 0.3)
        let t = DiscrepancyTable.compute(labels: labels, predictions: predictions, presence: presence, classCount: c, minimumSupport: 1)
        let present = Set(detections.filter { $0.score >= 0.3 }.map { $0.example * a + $0.attribute })
        for row in t.rows {
            var w = (0, 0), wo = (0, 0)
            var confusedCounts = [Int](repeating: 0, count: c)
            for e in 0..<n where labels[e] == row.classIndex {
                let has = present.contains(e * a + row.attribute)
                let ok = predictions[e] == labels[e]
                if has { w.0 += ok ? 1 : 0; w.1 += 1 } else {
                    wo.0 += ok ? 1 : 0; wo.1 += 1
                    if !ok { confusedCounts[predictions[e]] += 1 }
                }
            }
            #expect(row.with == Proportion(successes: w.0, total: w.1))
            #expect(row.without == Proportion(successes: wo.0, total: wo.1))
            let best = confusedCounts.max()!
            #expect(row.confusedClass == (best == 0 ? nil : confusedCounts.firstIndex(of: best)))
        }
        #expect(t.rows.count == c * a)
    }
}

struct AttributePresenceTests {
    @Test func detectionsAreThresholdedDeduplicatedAndExcluded() {
        let d = [Detection(example: 1, attribute: 2, score: 0.9), Detection(example: 1, attribute: 2, score: 0.7),
                 Detection(example: 1, attribute: 0, score: 0.6), Detection(example: 0, attribute: 1, score: 0.4),
                 Detection(example: 2, attribute: 1, score: 0.35), Detection(example: 2, attribute: 3, score: 0.99)]
        let p = AttributePresence.fromDetections(d, exampleCount: 3, attributeCount: 4, threshold: 0.5,
                                                 perAttribute: [1: 0.3], excluded: [3])
        #expect(Array(p.present(in: 0)) == [1])       // 0.4 ≥ the override 0.3
        #expect(Array(p.present(in: 1)) == [0, 2])    // sorted, the repeated detection once
        #expect(Array(p.present(in: 2)) == [1])       // attribute 3 excluded
        #expect(AttributePresence.excludedAttributes(vocabulary: ["Water", "landbird", "tree"], classes: ["LandBird", "waterbird"]) == [1])
        #expect(p.restricted(to: [2, 0]) == AttributePresence(exampleCount: 2, attributeCount: 4, offsets: [0, 1, 2], attributes: [1, 1]))
    }

    /// The compressed-row path (the bundle's detection table) gives the
    /// same presence as the list path, and both match a direct set count.
    @Test func tablePathEqualsListPathAndADirectCount() {
        var rng = SeededGenerator(seed: 9)
        let n = 500, a = 11
        let d = (0..<(n * 6)).map { _ in
            Detection(example: Int(rng.next() % UInt64(n)), attribute: Int(rng.next() % UInt64(a)), score: Float(rng.next() % 100) / 100)
        }
        let overrides: [Int: Float] = [2: 0.9, 5: 0.1], excluded: Set<Int> = [7]
        let list = AttributePresence.fromDetections(d, exampleCount: n, attributeCount: a, threshold: 0.4,
                                                    perAttribute: overrides, excluded: excluded)
        let table = AttributePresence.fromDetections(DetectionTable(exampleCount: n, detections: d), attributeCount: a,
                                                     threshold: 0.4, perAttribute: overrides, excluded: excluded)
        #expect(table == list)
        for e in 0..<n {
            let direct = Set(d.filter { $0.example == e && !excluded.contains($0.attribute) && $0.score >= (overrides[$0.attribute] ?? 0.4) }
                              .map { Int32($0.attribute) }).sorted()
            #expect(Array(table.present(in: e)) == direct)
        }
    }
}
