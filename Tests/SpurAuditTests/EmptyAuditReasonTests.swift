import Testing
@testable import SpurAudit
import SpurCore
import SpurEngine

/// An empty table says why (issue 24): the four ways a class ends up with
/// no attribute, each from the presence the audit used.
struct EmptyAuditReasonTests {
    /// `n` examples of class 0 (and 4 of class 1), attribute `a` present in
    /// the examples `present[a]` says (indices among class 0's).
    static func result(n: Int, present: [[Int]], minimumSupport: Int = 10) -> Audit.Result {
        let labels = [Int](repeating: 0, count: n) + [1, 1, 1, 1]
        var offsets = [0], flat: [Int32] = []
        for e in labels.indices {
            for (a, members) in present.enumerated() where e < n && members.contains(e) { flat.append(Int32(a)) }
            offsets.append(flat.count)
        }
        let presence = AttributePresence(exampleCount: labels.count, attributeCount: present.count, offsets: offsets, attributes: flat)
        let table = DiscrepancyTable.compute(labels: labels, predictions: labels, presence: presence, classCount: 2,
                                             minimumSupport: minimumSupport)
        return Audit.Result(table: table, classes: ["duck", "sparrow"], attributes: (0..<present.count).map { "word\($0)" },
                            rows: Array(labels.indices), presence: presence, labels: labels)
    }

    @Test func everyAttributeEverywhereOrNowhere() {
        let all = Self.result(n: 30, present: [Array(0..<30), Array(0..<30)])
        #expect(all.emptyTableReason(class: 0, minimumSupport: 10) == "every attribute was detected in all 30 examples of duck")
        let none = Self.result(n: 30, present: [[], []])
        #expect(none.emptyTableReason(class: 0, minimumSupport: 10) == "no attribute was detected in any of the 30 examples of duck")
    }

    @Test func tooFewExamplesForTheSupport() {
        let r = Self.result(n: 12, present: [Array(0..<6), []])
        #expect(r.emptyTableReason(class: 0, minimumSupport: 10) == "duck has 12 examples; an attribute needs 10 with it and 10 without")
        // With a support the class can meet, the attribute is ranked and there is no reason.
        #expect(Self.result(n: 12, present: [Array(0..<6), []], minimumSupport: 5).emptyTableReason(class: 0, minimumSupport: 5) == nil)
    }

    @Test func theClosestAttributeAndItsCounts() {
        let r = Self.result(n: 40, present: [Array(0..<7), Array(0..<40), [0]])
        #expect(r.emptyTableReason(class: 0, minimumSupport: 10)
                == "the closest, 'word0', is in 7 of 40 examples and missing from 33 (attributes in every example: 1; in none: 0)")
    }

    @Test func aClassWithoutExamples() {
        var r = Self.result(n: 0, present: [[]])
        r.classes = ["duck", "sparrow"]
        #expect(r.emptyTableReason(class: 0, minimumSupport: 10) == "no example of duck in the audited split")
    }
}
