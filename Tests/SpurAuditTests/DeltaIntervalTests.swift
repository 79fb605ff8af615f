import Testing
@testable import SpurAudit

/// Newcombe's interval for δ, against a float64 reference computed with
/// Python from the textbook formulas (Wilson score limits, then
/// L = δ − √((p₁−l₁)² + (u₂−p₂)²), U = δ + √((u₁−p₁)² + (p₂−l₂)²)).
struct DeltaIntervalTests {
    @Test func matchesTheReference() {
        let strong = DiscrepancyRow(classIndex: 0, attribute: 0, with: Proportion(successes: 89, total: 103),
                                    without: Proportion(successes: 32, total: 97), confusedClass: nil)
        let (l, u) = strong.delta95
        #expect(abs(strong.delta - 0.5341807626864177) < 1e-12)
        #expect(abs(l - 0.40769571222540657) < 1e-12 && abs(u - 0.6348933200513757) < 1e-12)
        #expect(abs(strong.evidence - 0.40769571222540657) < 1e-12 && !strong.hasLittleSupport)

        // n = 13 with a large negative δ whose interval still reaches above 0.
        let weak = DiscrepancyRow(classIndex: 0, attribute: 1, with: Proportion(successes: 5, total: 13),
                                  without: Proportion(successes: 60, total: 100), confusedClass: nil)
        let (wl, wu) = weak.delta95
        #expect(abs(wl - -0.44181777216580825) < 1e-12 && abs(wu - 0.0626162503916482) < 1e-12)
        #expect(weak.evidence == 0 && weak.hasLittleSupport)
        #expect(abs(weak.delta) < abs(strong.delta))
    }

    @Test func evidenceOfANegativeDeltaIsTheDistanceOfItsUpperEndFromZero() {
        let harm = DiscrepancyRow(classIndex: 0, attribute: 0, with: Proportion(successes: 32, total: 97),
                                  without: Proportion(successes: 89, total: 103), confusedClass: nil)
        // The mirror image of the strong row above: the interval is [−0.6349, −0.4077].
        #expect(abs(harm.delta95.high - -0.40769571222540657) < 1e-12)
        #expect(abs(harm.evidence - 0.40769571222540657) < 1e-12)
    }

    /// `detect --sort evidence` and screen 1: a large δ on a handful of
    /// examples (interval across zero) ranks below a moderate one on
    /// hundreds; rows with no evidence fall back to |δ|.
    @Test func evidenceOrderPrefersSupportedDeltas() {
        let moderate = DiscrepancyRow(classIndex: 0, attribute: 0, with: Proportion(successes: 180, total: 200),
                                      without: Proportion(successes: 150, total: 200), confusedClass: nil)   // δ 0.15
        let noisyBig = DiscrepancyRow(classIndex: 0, attribute: 1, with: Proportion(successes: 4, total: 4),
                                      without: Proportion(successes: 2, total: 4), confusedClass: nil)       // δ 0.5
        let noisySmall = DiscrepancyRow(classIndex: 0, attribute: 2, with: Proportion(successes: 3, total: 4),
                                        without: Proportion(successes: 2, total: 4), confusedClass: nil)     // δ 0.25
        #expect(moderate.evidence > 0 && noisyBig.evidence == 0 && noisySmall.evidence == 0)
        let table = DiscrepancyTable(rows: [noisySmall, noisyBig, moderate], classCount: 1, classTotals: [])
        #expect(table.ranked(class: 0, by: .evidence).map(\.attribute) == [0, 1, 2])
        #expect(table.ranked(class: 0, by: .magnitude).map(\.attribute) == [1, 2, 0])
    }
}
