import Foundation
import SpurCore

/// Where a comparison row's training groups come from.
public enum GroupSource: String, Codable, Sendable, CaseIterable {
    /// The method's runs use no per-image attribute values.
    case none
    /// Values from the bundle's detections (what a user without labels has).
    case detected
    /// Values from the bundle's ground truth (`--ground-truth`).
    case groundTruth = "ground-truth"
}

/// One line of a multi-seed comparison: a method, and its group source.
/// Group-aware methods get two lines, so the detector's errors can be told
/// apart from the method's.
public struct ComparisonRow: Codable, Equatable, Hashable, Sendable {
    public var method: Method
    public var groups: GroupSource
    /// Trained at the options' values even when the comparison tunes: the
    /// untuned baseline the tuned rows are measured against.
    public var untuned: Bool

    public init(method: Method, groups: GroupSource, untuned: Bool = false) {
        self.method = method
        self.groups = groups
        self.untuned = untuned
    }

    public var label: String {
        if untuned { return "\(method.rawValue), defaults (untuned)" }
        switch groups {
        case .none: return method.rawValue
        case .detected: return "\(method.rawValue), detected groups"
        case .groundTruth: return "\(method.rawValue), true groups"
        }
    }
}

/// When `compare --tune` picks a row's candidate.
public enum TuningMode: String, Codable, Sendable {
    /// No tuning: every method at the options' values.
    case off
    /// Pick on the first seed's runs (validation only), train the other
    /// seeds with that pick: the grid costs one seed's worth of runs.
    case firstSeed = "first-seed"
    /// Pick separately for every seed: the spread then includes the
    /// instability of the choice itself; the grid costs every seed.
    case everySeed = "every-seed"
}

/// What the comparison needs from runs: a run per configuration (trained
/// now, or an earlier one with the identical configuration) and its
/// best checkpoint's metrics on val and on test.
public protocol ComparisonRunSource {
    func validation(_ config: TrainingConfig) throws -> ValidationScore
    func test(_ config: TrainingConfig) throws -> SplitMetrics
}

/// One seed of one row: what was picked, on what evidence, and the test result.
public struct SeedResult: Codable, Equatable, Sendable {
    public var seed: UInt64
    public var candidate: TuningCandidate
    public var config: TrainingConfig
    public var validation: ValidationScore
    /// Every candidate's validation score when this seed tuned (grid order).
    public var tuningScores: [ValidationScore]?
    public var test: SplitMetrics
}

public struct RowResult: Codable, Equatable, Sendable {
    public var row: ComparisonRow
    public var candidates: [TuningCandidate]
    public var seeds: [SeedResult]

    public var average: MeanSD { MeanSD(seeds.map(\.test.average)) }
    public var adjustedAverage: MeanSD { MeanSD(seeds.map(\.test.adjustedAverage)) }
    public var worstGroup: MeanSD { MeanSD(seeds.map(\.test.worstGroup)) }
    public var validationWorstGroup: MeanSD { MeanSD(seeds.map(\.validation.worstGroup)) }
}

/// Every method over several seeds, optionally tuned on validation.
public struct SeedComparison {
    public var seeds: [UInt64]
    public var tuning: TuningMode
    public var grid: TuningGrid
    /// Whether `ours-*` may try the official loss form (its words are known).
    public var officialFormAvailable: Bool
    /// Whether the bundle has ground-truth values of the run's attribute(s).
    public var groundTruthAvailable: Bool

    public init(seeds: [UInt64], tuning: TuningMode, grid: TuningGrid = TuningGrid(), officialFormAvailable: Bool,
                groundTruthAvailable: Bool) {
        self.seeds = seeds
        self.tuning = tuning
        self.grid = grid
        self.officialFormAvailable = officialFormAvailable
        self.groundTruthAvailable = groundTruthAvailable
    }

    /// Builds the configuration of one method at one candidate, group source and seed.
    public typealias Configure = (_ method: Method, _ candidate: TuningCandidate, _ groundTruth: Bool, _ seed: UInt64) throws -> TrainingConfig

    public func candidates(for method: Method) -> [TuningCandidate] {
        tuning == .off ? [.defaults] : grid.candidates(for: method, officialFormAvailable: officialFormAvailable)
    }

    /// Whether a configuration's training reads per-image attribute values:
    /// the method needs them, or the sampler balances groups.
    public static func usesTrainGroups(_ c: TrainingConfig) -> Bool {
        c.method.needsImageGroups || (c.sampler == .groupBalanced && c.method.training == .projections)
    }

    /// Methods whose result does not depend on the seed.
    public static func seedMatters(_ m: Method) -> Bool { m.seedMatters }

    /// The configuration with every field that cannot change the result set
    /// to one value, so identical runs are found and reused rather than
    /// trained again under another name.
    public static func canonical(_ config: TrainingConfig) -> TrainingConfig {
        var c = config
        if !usesTrainGroups(c) { c.groundTruth = false }
        if !seedMatters(c.method) { c.seed = 0 }
        if c.method.training != .projections { c.sampler = .natural }
        return c
    }

    /// A method's rows: two (detected, true groups) when any of its
    /// candidates trains on groups and the bundle has ground truth. Tuned,
    /// `erm` also gets a row at the options' values, the baseline a user
    /// who tunes nothing has.
    public func rows(for methods: [Method], configure: Configure) throws -> [ComparisonRow] {
        try methods.flatMap { m -> [ComparisonRow] in
            var rows: [ComparisonRow] = []
            if tuning != .off && m == .erm, !Self.usesTrainGroups(try configure(m, .defaults, false, seeds[0])) {
                rows.append(ComparisonRow(method: m, groups: .none, untuned: true))
            }
            let aware = try candidates(for: m).contains { Self.usesTrainGroups(try configure(m, $0, false, seeds[0])) }
            guard aware else { return rows + [ComparisonRow(method: m, groups: .none)] }
            return rows + (groundTruthAvailable ? [ComparisonRow(method: m, groups: .detected), ComparisonRow(method: m, groups: .groundTruth)]
                : [ComparisonRow(method: m, groups: .detected)])
        }
    }

    /// Runs one row over every seed. Tuning calls only `runs.validation`;
    /// `runs.test` is called once per seed, for the picked candidate.
    public func run(_ row: ComparisonRow, configure: Configure, runs: ComparisonRunSource,
                    progress: (String) -> Void = { _ in }) throws -> RowResult {
        let grid = row.untuned ? [TuningCandidate.defaults] : candidates(for: row.method)
        var picked: Int? = grid.count == 1 ? 0 : nil
        var results: [SeedResult] = []
        for seed in seeds {
            let configs = try grid.map { Self.canonical(try configure(row.method, $0, row.groups == .groundTruth, seed)) }
            var scores: [ValidationScore]?
            if tuning == .everySeed && grid.count > 1 || picked == nil {
                progress("\(row.label), seed \(seed): tuning over \(grid.count) candidates on val")
                let p = try Tuning.pick(configs, validate: runs.validation)
                picked = p.index
                scores = p.scores
                progress("\(row.label), seed \(seed): picked \(TuningCandidate.describe(grid[p.index], config: configs[p.index]))"
                         + String(format: " (val worst group %.1f%%)", 100 * p.scores[p.index].worstGroup))
            }
            let i = picked!
            let validation = try scores?[i] ?? runs.validation(configs[i])
            results.append(SeedResult(seed: seed, candidate: grid[i], config: configs[i], validation: validation,
                                      tuningScores: scores, test: try runs.test(configs[i])))
        }
        return RowResult(row: row, candidates: grid, seeds: results)
    }
}

extension TuningCandidate {
    /// "lr 0.01, group-balanced, official form": the knobs as the configuration has them.
    public static func describe(_ candidate: TuningCandidate, config c: TrainingConfig) -> String {
        var parts: [String] = []
        if c.method.training == .projections {
            parts.append("lr \(c.learningRate)")
            parts.append(c.sampler.rawValue)
        }
        if c.method.hasLossForm { parts.append("\(c.lossForm.rawValue) form") }
        if candidate.termWeight != nil, let term = c.method.ownTerm {
            parts.append("λ_\(term.rawValue) " + String(format: "%g", c.lambda(term)))
        }
        return parts.isEmpty ? "—" : parts.joined(separator: ", ")
    }
}
