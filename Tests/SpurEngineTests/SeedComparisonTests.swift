import Foundation
import Testing
import SpurCore
@testable import SpurEngine

struct MeanSDTests {
    /// 0.2, 0.4, 0.9 by hand: mean 1.5/3 = 0.5; squared deviations 0.09,
    /// 0.01, 0.16 sum to 0.26; sample variance 0.26/2 = 0.13; sd √0.13.
    @Test func handWorkedThreeSeeds() {
        let m = MeanSD([0.2, 0.4, 0.9])
        #expect(m.count == 3)
        #expect(abs(m.mean - 0.5) < 1e-12)
        #expect(abs(m.sd - 0.13.squareRoot()) < 1e-12)
        #expect(m.percentText == "50.0 ± 36.1")
    }

    @Test func oneSeedHasNoSpreadAndNoSeedsNoMean() {
        let one = MeanSD([0.7])
        #expect(one.mean == 0.7 && one.sd == 0 && one.percentText == "70.0")
        #expect(MeanSD([]).mean.isNaN)
        // Identical values: no spread at all, not a rounding residue.
        #expect(MeanSD([0.3, 0.3, 0.3]).sd == 0)
    }
}

/// Runs scripted by learning rate: validation and test disagree on purpose.
final class ScriptedRuns: ComparisonRunSource {
    var validationScores: [Float: ValidationScore]
    var testWorst: [Float: Double]
    private(set) var validated: [TrainingConfig] = []
    private(set) var tested: [TrainingConfig] = []

    init(validation: [Float: ValidationScore], testWorst: [Float: Double]) {
        validationScores = validation
        self.testWorst = testWorst
    }

    func validation(_ config: TrainingConfig) throws -> ValidationScore {
        validated.append(config)
        return validationScores[config.learningRate]!
    }

    func test(_ config: TrainingConfig) throws -> SplitMetrics {
        tested.append(config)
        // The seed moves the result, so mean and sd have something to aggregate.
        let w = testWorst[config.learningRate]! + 0.01 * Double(config.seed)
        return SplitMetrics(groups: [], average: w + 0.2, adjustedAverage: w + 0.3, worstGroup: w, worstGroupName: "g",
                            aiouAverage: nil, aiouWorstGroup: nil)
    }
}

struct TuningTests {
    func configure(_ m: Method, _ c: TuningCandidate, _ gt: Bool, _ seed: UInt64) -> TrainingConfig {
        var config = TrainingConfig(method: m)
        config.attributes = ["water"]
        config.learningRate = c.learningRate ?? 0.001
        config.sampler = c.sampler ?? .natural
        config.lossForm = c.lossForm ?? .paper
        config.groundTruth = gt
        config.seed = seed
        return config
    }

    /// lr 0.01 is best on val, lr 0.001 on test: the pick follows val, and
    /// test is asked only about the picked configuration, once per seed.
    @Test func pickFollowsValidationNotTest() throws {
        for mode in [TuningMode.firstSeed, .everySeed] {
            let runs = ScriptedRuns(validation: [0.001: .init(worstGroup: 0.30, average: 0.9), 0.01: .init(worstGroup: 0.40, average: 0.8)],
                                    testWorst: [0.001: 0.70, 0.01: 0.20])
            let c = SeedComparison(seeds: [0, 1, 2], tuning: mode, grid: TuningGrid(learningRates: [0.001, 0.01]),
                                   officialFormAvailable: false, groundTruthAvailable: true)
            let r = try c.run(ComparisonRow(method: .groupDRO, groups: .detected), configure: configure, runs: runs)
            #expect(r.candidates.count == 2)
            #expect(r.seeds.allSatisfy { $0.candidate.learningRate == 0.01 && $0.validation.worstGroup == 0.40 })
            #expect(runs.tested.map(\.learningRate) == [0.01, 0.01, 0.01])
            #expect(runs.tested.map(\.seed) == [0, 1, 2])
            // Mean ± sd of 0.20, 0.21, 0.22: 0.21 ± 0.01.
            #expect(abs(r.worstGroup.mean - 0.21) < 1e-12 && abs(r.worstGroup.sd - 0.01) < 1e-12)
            #expect(abs(r.adjustedAverage.mean - 0.51) < 1e-12)
            switch mode {
            case .firstSeed:
                // The grid on seed 0, then only the pick on seeds 1 and 2.
                #expect(runs.validated.map { "\($0.seed)/\($0.learningRate)" } == ["0/0.001", "0/0.01", "1/0.01", "2/0.01"])
                #expect(r.seeds[0].tuningScores?.count == 2 && r.seeds[1].tuningScores == nil)
            default:
                #expect(runs.validated.count == 6 && r.seeds.allSatisfy { $0.tuningScores?.count == 2 })
            }
        }
    }

    @Test func tiesGoToTheHigherAverageThenTheEarlierCandidate() {
        let s: [ValidationScore] = [.init(worstGroup: 0.5, average: 0.7), .init(worstGroup: 0.5, average: 0.8),
                                    .init(worstGroup: 0.5, average: 0.8), .init(worstGroup: 0.4, average: 0.99)]
        #expect(Tuning.pick(Array(s.indices)) { s[$0] }.index == 1)
    }

    /// The untuned baseline row of a tuned comparison trains the defaults only.
    @Test func untunedBaselineRowIgnoresTheGrid() throws {
        let runs = ScriptedRuns(validation: [0.001: .init(worstGroup: 0.3, average: 0.9), 0.01: .init(worstGroup: 0.9, average: 0.9)],
                                testWorst: [0.001: 0.5, 0.01: 0.6])
        let c = SeedComparison(seeds: [0, 1], tuning: .everySeed, grid: TuningGrid(learningRates: [0.001, 0.01]),
                               officialFormAvailable: false, groundTruthAvailable: false)
        let r = try c.run(ComparisonRow(method: .erm, groups: .none, untuned: true), configure: configure, runs: runs)
        #expect(r.candidates == [.defaults] && runs.tested.allSatisfy { $0.learningRate == 0.001 })
    }

    @Test func untunedComparisonTrainsTheDefaultsOnly() throws {
        let runs = ScriptedRuns(validation: [0.001: .init(worstGroup: 0.3, average: 0.9)], testWorst: [0.001: 0.5])
        let c = SeedComparison(seeds: [3, 4], tuning: .off, officialFormAvailable: true, groundTruthAvailable: true)
        let r = try c.run(ComparisonRow(method: .oursVS, groups: .groundTruth), configure: configure, runs: runs)
        #expect(r.candidates == [.defaults])
        #expect(runs.validated.count == 2 && runs.tested.allSatisfy { $0.groundTruth && $0.learningRate == 0.001 })
        #expect(r.seeds.map(\.seed) == [3, 4])
    }

    @Test func gridsPerMethod() {
        let g = TuningGrid(learningRates: [0.001, 0.01])
        #expect(g.candidates(for: .zeroshot, officialFormAvailable: true) == [.defaults])
        #expect(g.candidates(for: .dfr, officialFormAvailable: true) == [.defaults])
        #expect(g.candidates(for: .groupDRO, officialFormAvailable: true).count == 2)
        #expect(g.candidates(for: .erm, officialFormAvailable: true).count == 4)
        #expect(g.candidates(for: .oursLS, officialFormAvailable: true).count == 8)
        #expect(g.candidates(for: .oursLS, officialFormAvailable: false).allSatisfy { $0.lossForm == .paper })
        #expect(g.candidates(for: .oursLS, officialFormAvailable: true).allSatisfy { $0.termWeight == nil })
        // Term weights multiply the ours-* grid only.
        let weighted = TuningGrid(learningRates: [0.001, 0.01], termWeights: [0.3, 1, 3])
        let ours = weighted.candidates(for: .oursVS, officialFormAvailable: false)
        #expect(ours.count == 2 * 2 * 3 && Set(ours.compactMap(\.termWeight)) == [0.3, 1, 3])
        #expect(Set(ours).count == ours.count, "no candidate twice")
        #expect(weighted.candidates(for: .erm, officialFormAvailable: true).count == 4)
        #expect(weighted.candidates(for: .erm, officialFormAvailable: true).allSatisfy { $0.termWeight == nil })
    }

    /// Group-aware methods get a detected and a true-groups row (the latter
    /// only with ground truth); the others one row.
    @Test func rowsAndCanonicalConfigurations() throws {
        let withTruth = SeedComparison(seeds: [0], tuning: .off, officialFormAvailable: false, groundTruthAvailable: true)
        #expect(try withTruth.rows(for: [.zeroshot, .erm, .groupDRO, .dfr], configure: configure).map(\.label)
                == ["zeroshot", "erm", "groupdro, detected groups", "groupdro, true groups", "dfr, detected groups", "dfr, true groups"])
        // Tuned, erm may pick the group-balanced sampler: then it reads groups.
        let tuned = SeedComparison(seeds: [0], tuning: .firstSeed, officialFormAvailable: false, groundTruthAvailable: false)
        #expect(try tuned.rows(for: [.erm, .orthProj], configure: configure).map(\.label)
                == ["erm, defaults (untuned)", "erm, detected groups", "orth-proj"])

        var erm = configure(.erm, .defaults, true, 5)
        #expect(SeedComparison.canonical(erm).groundTruth == false && SeedComparison.canonical(erm).seed == 5)
        erm.sampler = .groupBalanced
        #expect(SeedComparison.canonical(erm).groundTruth == true)
        var zs = configure(.zeroshot, .defaults, false, 7)
        zs.sampler = .groupBalanced
        #expect(SeedComparison.canonical(zs).seed == 0 && SeedComparison.canonical(zs).sampler == .natural)
    }
}

struct DetectedGroupPurityTests {
    /// Hand-made: 5 of 190 landbirds on land are falsely detected with water,
    /// 2 of 10 landbirds on water are missed. Detected "landbird, water":
    /// 8 true + 5 false = 13 members, purity 8/13, found 8/10. Detected
    /// "landbird, no water": 185 + 2 = 187, purity 185/187, found 185/190.
    @Test func handMadeBundle() throws {
        var contents = ProbeBundle.contents(classSignal: 1)
        let waterSlot = contents.manifest.attributes.firstIndex(of: "water")!
        let train = contents.examples.indices.filter { contents.examples[$0].split == .train }
        let landOnLand = train.filter { contents.examples[$0].label == 0 && contents.examples[$0].attributes["water"] == 0 }
        let landOnWater = train.filter { contents.examples[$0].label == 0 && contents.examples[$0].attributes["water"] == 1 }
        let falseAlarms = Set(landOnLand.prefix(5)), misses = Set(landOnWater.prefix(2))
        contents.detections = contents.examples.indices.compactMap { e in
            let truth = contents.examples[e].attributes["water"] == 1
            let detected = falseAlarms.contains(e) ? true : misses.contains(e) ? false : truth
            return Detection(example: e, attribute: waterSlot, score: detected ? 0.9 : 0.1)
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-purity-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try BundleWriter.write(contents, to: dir)
        let b = try FeatureBundle.open(dir)
        var config = TrainingConfig(method: .zeroshot)
        config.attributes = ["water"]
        let data = try TrainingData.prepare(bundle: b, config: config, decisions: [])
        let p = try #require(DetectedGroupPurity.measure(data: data, trainedOnGroundTruth: false))
        #expect(p.map(\.name) == ["landbird, no water", "landbird, water", "waterbird, no water", "waterbird, water"])
        #expect(p.map(\.detected) == [187, 13, 10, 190])
        #expect(p.map(\.trueMembers) == [185, 8, 10, 190])
        #expect(p.map(\.groundTruth) == [190, 10, 10, 190])
        #expect(p.map(\.isMinority) == [false, true, true, false])
        #expect(abs(p[1].purity! - 8.0 / 13) < 1e-12 && abs(p[1].coverage! - 0.8) < 1e-12)
        #expect(abs(p[0].purity! - 185.0 / 187) < 1e-12)
        // Groups trained on the ground truth have nothing to measure.
        #expect(DetectedGroupPurity.measure(data: data, trainedOnGroundTruth: true) == nil)
    }

    /// Unknown values (−1) count on neither side.
    @Test func unknownValuesAreLeftOut() {
        let p = DetectedGroupPurity.measure(labels: [0, 0, 0, 1], detected: [1, -1, 1, 0], truth: [1, 1, -1, 0],
                                            classCount: 2, valueCount: 2, name: { "\($0)/\($1)" })
        #expect(p.map(\.detected) == [0, 2, 1, 0])
        #expect(p.map(\.trueMembers) == [0, 1, 1, 0])
        #expect(p.map(\.groundTruth) == [0, 2, 1, 0])
        #expect(p[0].purity == nil && p[1].purity == 0.5)
    }
}
