import SpurCore
import SpurEngine

/// A proportion with its 95 % Wilson score interval (better behaved than
/// the normal approximation for small supports and accuracies near 0 or 1).
public struct Proportion: Equatable, Sendable {
    public var successes: Int
    public var total: Int

    public init(successes: Int, total: Int) { self.successes = successes; self.total = total }

    public var value: Double { total == 0 ? 0 : Double(successes) / Double(total) }

    public var wilson95: (low: Double, high: Double) {
        guard total > 0 else { return (0, 1) }
        let z = 1.959963984540054, n = Double(total), p = value
        let z2n = z * z / n
        let centre = (p + z2n / 2) / (1 + z2n)
        let half = z * (p * (1 - p) / n + z2n / (4 * n)).squareRoot() / (1 + z2n)
        return (max(0, centre - half), min(1, centre + half))
    }
}

/// `δ(D_c, s) = acc(D_c | s present) − acc(D_c | s absent)` for one class and attribute.
public struct DiscrepancyRow: Equatable, Sendable {
    public var classIndex: Int
    public var attribute: Int
    public var with: Proportion
    public var without: Proportion
    /// The class predicted most often for the misclassified examples
    /// without the attribute (the paper's "most confusing class").
    public var confusedClass: Int?

    public init(classIndex: Int, attribute: Int, with: Proportion, without: Proportion, confusedClass: Int?) {
        self.classIndex = classIndex; self.attribute = attribute; self.with = with; self.without = without
        self.confusedClass = confusedClass
    }

    public var delta: Double { with.value - without.value }
}

/// Every (class, attribute) pair with enough support on both sides, from
/// one pass over the present attributes.
public struct DiscrepancyTable: Sendable {
    public var rows: [DiscrepancyRow]
    public var classCount: Int
    /// Per class: examples and correct predictions.
    public var classTotals: [Proportion]

    public init(rows: [DiscrepancyRow], classCount: Int, classTotals: [Proportion]) {
        self.rows = rows; self.classCount = classCount; self.classTotals = classTotals
    }

    public enum Order: String, Sendable, CaseIterable {
        /// Largest `evidence` first (the smallest |δ| the data support, from
        /// the δ's 95 % interval), ties by |δ|: a large δ on a handful of
        /// examples does not outrank a moderate one on hundreds.
        case evidence
        /// Largest |δ| first: presence changes accuracy most.
        case magnitude
        /// Largest δ first: the paper's order (the model relies on the
        /// attribute: accuracy falls when it is absent).
        case delta
        /// Smallest δ first: the attribute whose presence hurts most
        /// (for a waterbird, being on land).
        case harm
        /// Largest smaller support first: the best-supported discrepancies.
        case support
    }

    /// `labels`, `predictions` and `presence` cover the same examples.
    public static func compute(labels: [Int], predictions: [Int], presence: AttributePresence,
                               classCount c: Int, minimumSupport: Int = 10) -> DiscrepancyTable {
        let a = presence.attributeCount, n = labels.count
        precondition(predictions.count == n && presence.exampleCount == n, "labels, predictions and presence differ in size")
        var total = [Int](repeating: 0, count: c), correct = [Int](repeating: 0, count: c)
        var withTotal = [Int32](repeating: 0, count: c * a), withCorrect = [Int32](repeating: 0, count: c * a)
        var wrong = [[Int32]](repeating: [], count: c)   // misclassified examples, per class
        for e in 0..<n {
            let y = labels[e], ok = predictions[e] == y
            total[y] += 1
            if ok { correct[y] += 1 } else { wrong[y].append(Int32(e)) }
            for s in presence.present(in: e) {
                let key = y * a + Int(s)
                withTotal[key] += 1
                if ok { withCorrect[key] += 1 }
            }
        }
        // The confused class is needed only for rows that pass the support
        // bar: count the predictions of that class's failures lacking the
        // attribute (a short scan of each failure's sorted attribute list).
        var tally = [Int](repeating: 0, count: c)
        var touched: [Int] = []
        var rows: [DiscrepancyRow] = []
        for y in 0..<c {
            for s in 0..<a {
                let key = y * a + s
                let nWith = Int(withTotal[key]), nWithout = total[y] - nWith
                guard nWith >= minimumSupport, nWithout >= minimumSupport else { continue }
                for e in wrong[y] where !presence.present(in: Int(e)).contains(Int32(s)) {
                    let p = predictions[Int(e)]
                    if tally[p] == 0 { touched.append(p) }
                    tally[p] += 1
                }
                var confused: Int?
                var best = 0
                for p in touched.sorted() where tally[p] > best { best = tally[p]; confused = p }
                for p in touched { tally[p] = 0 }
                touched.removeAll(keepingCapacity: true)
                let kWith = Int(withCorrect[key])
                rows.append(DiscrepancyRow(classIndex: y, attribute: s,
                                           with: Proportion(successes: kWith, total: nWith),
                                           without: Proportion(successes: correct[y] - kWith, total: nWithout),
                                           confusedClass: confused))
            }
        }
        return DiscrepancyTable(rows: rows, classCount: c,
                                classTotals: (0..<c).map { Proportion(successes: correct[$0], total: total[$0]) })
    }

    static func precedes(_ x: DiscrepancyRow, _ y: DiscrepancyRow, _ order: Order) -> Bool {
        let (kx, ky): (Double, Double)
        switch order {
        case .evidence:
            if x.evidence != y.evidence { return x.evidence > y.evidence }
            (kx, ky) = (abs(x.delta), abs(y.delta))
        case .magnitude: (kx, ky) = (abs(x.delta), abs(y.delta))
        case .delta: (kx, ky) = (x.delta, y.delta)
        case .harm: (kx, ky) = (-x.delta, -y.delta)
        case .support: (kx, ky) = (Double(min(x.with.total, x.without.total)), Double(min(y.with.total, y.without.total)))
        }
        if kx != ky { return kx > ky }
        return (x.classIndex, x.attribute) < (y.classIndex, y.attribute)
    }

    /// One class's rows, best first.
    public func ranked(class y: Int, by order: Order = .magnitude) -> [DiscrepancyRow] {
        rows.filter { $0.classIndex == y }.sorted { Self.precedes($0, $1, order) }
    }

    /// All classes' rows, best first (the paper's cross-class ranking).
    public func ranked(by order: Order = .magnitude) -> [DiscrepancyRow] {
        rows.sorted { Self.precedes($0, $1, order) }
    }
}
