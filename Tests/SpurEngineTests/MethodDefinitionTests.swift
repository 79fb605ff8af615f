import Testing
@testable import SpurEngine
import SpurCore

/// The rules every method's definition must keep, checked over all of them,
/// so that a new method file cannot contradict the loop that runs it.
@Suite struct MethodDefinitionTests {
    @Test func everyDefinitionIsConsistentWithHowItTrains() {
        for m in Method.allCases {
            let d = m.definition
            switch d.training {
            case .none:
                #expect(d.terms.isEmpty && !d.seedMatters, "\(m.rawValue)")
            case .replacesClassifier:
                #expect(d is any ClassSideMethod && d.terms.isEmpty, "\(m.rawValue): a class-side method is a ClassSideMethod with no loss terms")
            case .projections:
                #expect(!(d is any ClassSideMethod) && !d.terms.isEmpty, "\(m.rawValue): a method trained by gradient has terms")
            }
            if let own = d.ownTerm { #expect(d.terms.contains(own), "\(m.rawValue): its own term is one of its terms") }
            #expect(d.hasLossForm == (d.summary(lossForm: .official) != d.summary), "\(m.rawValue): only loss-form methods change their summary")
            if d.needsImageGroups { #expect(d.needsAttribute && d.usesAttribute, "\(m.rawValue)") }
            if d.needsAttribute { #expect(d.usesAttribute, "\(m.rawValue)") }
            let grid = TuningGrid(termWeights: [0.5, 2])
            let candidates = d.tuningCandidates(grid, officialFormAvailable: true)
            #expect(!candidates.isEmpty && Set(candidates).count == candidates.count, "\(m.rawValue): candidates are distinct")
            if d.training != .projections { #expect(candidates == [.defaults], "\(m.rawValue) has nothing to tune") }
            if !d.hasLossForm { #expect(candidates.allSatisfy { $0.lossForm == nil && $0.termWeight == nil }, "\(m.rawValue)") }
        }
    }

    /// The grids as the comparison has always trained them: sizes pin the
    /// order-independent part, the first candidate the tie-break order.
    @Test func tuningGridsPerMethod() {
        let g = TuningGrid(termWeights: [0.5, 2])
        func count(_ m: Method, official: Bool = true) -> Int { g.candidates(for: m, officialFormAvailable: official).count }
        #expect(count(.erm) == 4 && count(.clipFT) == 4 && count(.sfr) == 4 && count(.starFT) == 4)
        #expect(count(.groupDRO) == 2 && g.candidates(for: .groupDRO, officialFormAvailable: true).allSatisfy { $0.sampler == .natural })
        #expect(count(.oursLS) == 2 * 2 * 2 * 2 && count(.oursLS, official: false) == 2 * 2 * 2)
        #expect(g.candidates(for: .oursVS, officialFormAvailable: true).first
                == TuningCandidate(learningRate: 1e-3, sampler: .natural, lossForm: .paper, termWeight: 0.5))
    }
}
