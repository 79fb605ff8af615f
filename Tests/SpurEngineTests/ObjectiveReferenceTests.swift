import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// Every term and its gradient against `make_loss_reference.py`: an
/// independent float64 implementation in numpy, differentiated by central
/// finite differences, on a batch written by Python's `safetensors`.
struct ObjectiveReferenceTests {
    struct Reference: Decodable {
        var value: Double
        var W_v: [Double]
        var W_t: [Double]
        var logit_scale: Double
    }

    static func fixture() throws -> (LossBatch, ProjectionHeads, [String: Reference]) {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let file = try SafetensorsFile(path: dir.appendingPathComponent("loss_batch.safetensors").path)
        let (batch, heads) = try LossBatchFile.load(file)
        let json = try Data(contentsOf: dir.appendingPathComponent("loss_reference.json"))
        return (batch, heads, try JSONDecoder().decode([String: Reference].self, from: json))
    }

    static func assertClose(_ got: [Float], _ want: [Double], tolerance: Double, _ what: String) {
        #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)")
        let scaleOf = max(want.map(abs).max() ?? 0, 1e-3)
        for (i, (g, w)) in zip(got, want).enumerated() {
            #expect(abs(Double(g) - w) <= tolerance * scaleOf, "\(what)[\(i)] = \(g), reference \(w)")
        }
    }

    @Test(arguments: LossTerm.allCases.filter { $0 != .star })
    func termMatchesReference(_ term: LossTerm) throws {
        let (batch, heads, reference) = try Self.fixture()
        let ref = try #require(reference[term.rawValue])
        let result = Objective(terms: [term]).evaluate(heads, on: batch)
        let value = try #require(result.values[term])
        #expect(abs(Double(value) - ref.value) < 1e-5 * max(1, abs(ref.value)), "\(term) value \(value) vs \(ref.value)")
        #expect(abs(Double(result.total) - ref.value) < 1e-5 * max(1, abs(ref.value)))
        Self.assertClose(result.gradients.image.storage, ref.W_v, tolerance: 1e-4, "\(term) dW_v")
        Self.assertClose(result.gradients.text.storage, ref.W_t, tolerance: 1e-4, "\(term) dW_t")
        Self.assertClose([result.gradients.logitScale], [ref.logit_scale], tolerance: 1e-4, "\(term) dlogit_scale")
    }

    @Test func weightedTotalIsTheWeightedSumOfTerms() throws {
        let (batch, heads, reference) = try Self.fixture()
        let weights: [LossTerm: Float] = [.clip: 1, .vc: 0.5, .lc: 2, .vs: 0.25, .ls: 3]
        let result = Objective(terms: LossTerm.contrastive, weights: weights).evaluate(heads, on: batch)
        var want = 0.0
        var wantWv = [Double](repeating: 0, count: heads.image.storage.count)
        for term in LossTerm.contrastive {
            let ref = reference[term.rawValue]!
            want += Double(weights[term]!) * ref.value
            for i in wantWv.indices { wantWv[i] += Double(weights[term]!) * ref.W_v[i] }
        }
        #expect(abs(Double(result.total) - want) < 1e-4)
        Self.assertClose(result.gradients.image.storage, wantWv, tolerance: 1e-4, "weighted dW_v")
    }
}

/// The authors' form (`--loss-form official`) against the `official_*`
/// entries of the same numpy reference.
struct OfficialReferenceTests {
    @Test(arguments: [LossTerm.clip, .vc, .lc, .vs, .ls])
    func officialTermMatchesReference(_ term: LossTerm) throws {
        let (batch, heads, reference) = try ObjectiveReferenceTests.fixture()
        let ref = try #require(reference["official_" + term.rawValue])
        let result = Objective(terms: [term], form: .official).evaluate(heads, on: batch)
        let value = try #require(result.values[term])
        #expect(abs(Double(value) - ref.value) < 1e-5 * max(1, abs(ref.value)), "official \(term) value \(value) vs \(ref.value)")
        ObjectiveReferenceTests.assertClose(result.gradients.image.storage, ref.W_v, tolerance: 1e-4, "official \(term) dW_v")
        ObjectiveReferenceTests.assertClose(result.gradients.text.storage, ref.W_t, tolerance: 1e-4, "official \(term) dW_t")
        ObjectiveReferenceTests.assertClose([result.gradients.logitScale], [ref.logit_scale], tolerance: 1e-4, "official \(term) dlogit_scale")
    }

    @Test func officialTotalSumsTheTermsWithClassifierGradientsSharingTheClassTexts() throws {
        // clip, lc, ls and ce all reach W_t through the class-template texts.
        let (batch, heads, reference) = try ObjectiveReferenceTests.fixture()
        let weights: [LossTerm: Float] = [.clip: 1, .vc: 0.5, .lc: 2, .vs: 0.25, .ls: 3, .ce: 1.5]
        let result = Objective(terms: Array(weights.keys), weights: weights, form: .official).evaluate(heads, on: batch)
        var want = 0.0
        var wantWt = [Double](repeating: 0, count: heads.text.storage.count)
        for (term, w) in weights {
            let ref = reference[term == .ce ? "ce" : "official_" + term.rawValue]!
            want += Double(w) * ref.value
            for i in wantWt.indices { wantWt[i] += Double(w) * ref.W_t[i] }
        }
        #expect(abs(Double(result.total) - want) < 1e-4)
        ObjectiveReferenceTests.assertClose(result.gradients.text.storage, wantWt, tolerance: 1e-4, "weighted official dW_t")
    }
}
