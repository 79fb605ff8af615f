import Foundation
import Testing
import SpurCore

/// `compare --seeds` end to end on a synthetic bundle small enough to build
/// and train in seconds.
struct SeedCompareCommandTests {
    /// 40 train / 16 val / 16 test examples, a tiny encoder (as SpurSynthTests' tinyRecipe).
    static func tinyBundle(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seeds-\(name)-\(getpid())").path
        let recipe = dir + ".recipe.json"
        try Data("""
            {"seed": 3, "image_size": 32, "train": 40, "val": 16, "test": 16, "pretrain_examples": 96, "pretrain_steps": 8,
             "encoder_widths": [8, 16, 16, 16], "encoder_corpus": 96, "encoder_steps": 4}
            """.utf8).write(to: URL(fileURLWithPath: recipe))
        let r = try CLIRunner.run(["synth", "--recipe", recipe, "--out", dir, "--force", "--quiet"])
        try #require(r.status == 0, "\(r.stderr)")
        return dir
    }

    func object(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func rows(_ report: [String: Any]) throws -> [String: [String: Any]] {
        let rows = try #require(report["rows"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["label"] as! String, $0) })
    }

    /// The mean and sd of a row's metric equal those of its seeds' test values
    /// (sample sd, recomputed here).
    func expectAggregated(_ row: [String: Any], _ key: String, seeds: Int) throws {
        let perSeed = try #require(row["seeds"] as? [[String: Any]]).map { ($0["test"] as! [String: Any])[key] as! Double }
        #expect(perSeed.count == seeds)
        let summary = try #require(row[key] as? [String: Any])
        let mean = perSeed.reduce(0, +) / Double(perSeed.count)
        let sd = (perSeed.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(perSeed.count - 1)).squareRoot()
        #expect(abs((summary["mean"] as! Double) - mean) < 1e-9, "\(row["label"]!) \(key)")
        #expect(abs((summary["sd"] as! Double) - sd) < 1e-9, "\(row["label"]!) \(key)")
    }

    @Test func seedsReportMeanAndSpreadWithDetectedAndTrueGroups() throws {
        let bundle = try Self.tinyBundle("plain"), ws = temporaryWorkspace("seeds-plain")
        let args = ["compare", bundle, "--workspace", ws, "--seeds", "0,1,2", "--methods", "zeroshot,erm,groupdro",
                    "--epochs", "2", "--batch-size", "8", "--attribute", "water", "--json"]
        let r = try CLIRunner.run(args)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try object(r.stdout)
        #expect(report["seeds"] as? [Int] == [0, 1, 2])
        let byLabel = try rows(report)
        #expect(Set(byLabel.keys) == ["zeroshot", "erm", "groupdro, detected groups", "groupdro, true groups"])
        for row in byLabel.values {
            for key in ["average", "adjusted_average", "worst_group"] { try expectAggregated(row, key, seeds: 3) }
        }
        // The pre-trained model does not depend on the seed: one run, no spread.
        #expect((byLabel["zeroshot"]!["worst_group"] as! [String: Any])["sd"] as? Double == 0)
        let trueGroups = try #require(byLabel["groupdro, true groups"]?["seeds"] as? [[String: Any]])
        #expect(trueGroups.allSatisfy { ($0["config"] as! [String: Any])["ground_truth"] as? Bool == true })
        // zeroshot 1 + erm 3 + groupdro 3 + 3.
        #expect(report["trained_runs"] as? Int == 10 && report["reused_runs"] as? Int == 0)
        let purity = try #require(report["purity"] as? [[String: Any]])
        #expect(purity.count == 4 && purity.map { $0["detected"] as! Int }.reduce(0, +) == 40)
        #expect(purity.allSatisfy { ($0["true_members"] as! Int) <= ($0["detected"] as! Int) })

        // The same command again reuses every run and gives the same numbers.
        let again = try CLIRunner.run(args)
        #expect(again.status == 0, "\(again.stderr)")
        let second = try object(again.stdout)
        #expect(second["trained_runs"] as? Int == 0 && second["reused_runs"] as? Int == 10)
        #expect(try rows(second)["groupdro, detected groups"]?["worst_group"] as? [String: Double]
                == byLabel["groupdro, detected groups"]?["worst_group"] as? [String: Double])

        // Markdown: the table, the verdict and the purity table.
        let md = try CLIRunner.run(Array(args.dropLast()))
        #expect(md.status == 0)
        #expect(md.stdout.contains("| groupdro, true groups | lr 0.001, natural |"))
        #expect(md.stdout.contains("**Best worst group:**") && md.stdout.contains("| landbird, water (minority) |"))
    }

    /// --tune: the grid is trained on the first seed only, the pick is the
    /// best validation worst group, and the other seeds reuse it.
    @Test func tunePicksByValidationOnTheFirstSeed() throws {
        let bundle = try Self.tinyBundle("tune"), ws = temporaryWorkspace("seeds-tune")
        let r = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--seeds", "0,1", "--methods", "erm", "--tune",
                                   "--tune-lr", "0.001,0.05", "--epochs", "2", "--batch-size", "8", "--attribute", "water", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let report = try object(r.stdout)
        #expect(report["tuning"] as? String == "first-seed")
        let byLabel = try rows(report)
        #expect(Set(byLabel.keys) == ["erm, defaults (untuned)", "erm, detected groups", "erm, true groups"])
        // The baseline trains the options' lr with the natural sampler on every seed.
        let baseline = try #require(byLabel["erm, defaults (untuned)"]?["seeds"] as? [[String: Any]])
        #expect(baseline.allSatisfy { ($0["config"] as! [String: Any])["learning_rate"] as? Double == 0.001 && $0["tuning_scores"] == nil })
        for (label, row) in byLabel where label != "erm, defaults (untuned)" {
            let seeds = try #require(row["seeds"] as? [[String: Any]])
            let scores = try #require(seeds[0]["tuning_scores"] as? [[String: Double]])
            #expect(scores.count == 4 && seeds[1]["tuning_scores"] == nil)
            let best = scores.indices.max { (scores[$0]["worst_group"]!, scores[$0]["average"]!, -$0) < (scores[$1]["worst_group"]!, scores[$1]["average"]!, -$1) }!
            let candidates = try #require(row["candidates"] as? [[String: Any]])
            #expect(seeds[0]["candidate"] as? NSDictionary == candidates[best] as NSDictionary)
            #expect(seeds[1]["candidate"] as? NSDictionary == candidates[best] as NSDictionary)
        }
        // 4 candidates on seed 0 per row, the natural ones the same runs in both
        // rows (and the baseline's seed 0); a pick and the baseline on seed 1.
        #expect((report["trained_runs"] as! Int) <= 4 + 2 + 2 + 1)
    }

    /// `--tune-lambda`: the weight of ours-ls' own term joins its grid; the
    /// pick trains with it and says so.
    @Test func tuneLambdaAddsTheTermWeightToTheOursGrid() throws {
        let bundle = try Self.tinyBundle("tune-lambda"), ws = temporaryWorkspace("seeds-tune-lambda")
        let r = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--seeds", "0", "--methods", "ours-ls", "--tune", "--tune-lr", "0.01",
                                   "--tune-lambda", "0.5,2", "--epochs", "2", "--batch-size", "8", "--attribute", "water", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let detected = try #require(try rows(object(r.stdout))["ours-ls, detected groups"])
        let candidates = try #require(detected["candidates"] as? [[String: Any]])
        // lr 0.01 × 2 samplers × 2 weights (paper form only: no --absent-word).
        #expect(candidates.count == 4 && Set(candidates.compactMap { $0["term_weight"] as? Double }) == [0.5, 2])
        let seed = try #require((detected["seeds"] as? [[String: Any]])?.first)
        let weight = try #require((seed["candidate"] as? [String: Any])?["term_weight"] as? Double)
        #expect((seed["config"] as? [String: Any])?["lambdas"] as? [String: Double] == ["ls": weight])
        let markdown = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--seeds", "0", "--methods", "ours-ls", "--tune", "--tune-lr", "0.01",
                                          "--tune-lambda", "0.5,2", "--epochs", "2", "--batch-size", "8", "--attribute", "water"])
        #expect(markdown.stdout.contains("λ of the method's own term (L_ls, L_vs) ∈ {0.5, 2} for ours-*"), "\(markdown.stdout)")
        // Which method tunes which knob comes from the methods' own grids.
        #expect(markdown.stdout.contains("sampler ∈ {natural, group-balanced} for clip-ft, erm, sfr, starft, ours-*; loss form ∈ {paper, official} for ours-* "),
                "\(markdown.stdout)")
        #expect(markdown.stdout.contains("zeroshot, dfr and orth-proj have nothing to tune."), "\(markdown.stdout)")
        #expect(markdown.stdout.contains(String(format: "λ_ls %g", weight)), "\(markdown.stdout)")
        for (args, message) in [(["--tune", "--tune-lambda", "1,-2"], "'-2' in '1,-2' is not a weight"),
                                (["--tune-lambda", "1"], "tunes nothing without --tune")] {
            let bad = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--methods", "ours-ls", "--seeds", "0"] + args)
            #expect(bad.status == 2 && bad.stderr.contains("--tune-lambda") && bad.stderr.contains(message), "\(bad.stderr)")
        }
    }

    @Test func badSeedsAreRefused() throws {
        let bundle = try Self.tinyBundle("bad")
        for (args, flag) in [(["--seeds", "0,x"], "--seeds"), (["--seeds", "1,1"], "--seeds"), (["--tune", "--tune-lr", "0.1,-1"], "--tune-lr")] {
            let command: [String] = ["compare", bundle, "--workspace", temporaryWorkspace("seeds-bad"), "--methods", "erm"] + args
            let r = try CLIRunner.run(command)
            #expect(r.status == 2 && r.stderr.contains(flag), "\(args): \(r.status) \(r.stderr)")
        }
    }
}
