import Foundation
import Testing
import SpurCore
import SpurEngine

/// `dfr` and `orth-proj` from the command line: a run whose checkpoint
/// holds its own class side, read back by eval, compare and cam; and `probe`.
struct ClassifierMethodCommandTests {
    func object(_ text: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func dfrRunIsStoredAndEvaluatedFromItsCheckpoint() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("dfr")
        let r = try CLIRunner.run(["train", bundle, "--method", "dfr", "--attribute", "water", "--ground-truth",
                                   "--workspace", ws, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = jsonLines(r.stdout)
        #expect(lines.filter { $0["event"] as? String == "epoch" }.count == 1)
        let summary = try #require(lines.last)
        #expect(summary["uses_val_group_labels"] as? Bool == true)
        #expect((summary["note"] as? String)?.contains("val group labels (ground truth)") == true)
        #expect(try SafetensorsFile(path: ws + "/runs/1/best.safetensors").names.contains("classifier.weight"))
        // The classifier read back from the checkpoint gives the trainer's validation numbers.
        let validation = try #require(summary["validation"] as? [String: Double])
        let val = try object(try CLIRunner.run(["eval", bundle, "--run", "1", "--split", "val", "--no-aiou", "--workspace", ws, "--json"]).stdout)
        #expect(val["worst_group"] as? Double == validation["worst_group"] && val["average"] as? Double == validation["average"])
        let test = try object(try CLIRunner.run(["eval", bundle, "--run", "1", "--no-aiou", "--workspace", ws, "--json"]).stdout)
        let zeroShot = try object(try CLIRunner.run(["eval", bundle, "--zeroshot", "--no-aiou", "--json"]).stdout)
        #expect(test["method"] as? String == "dfr" && test["uses_val_group_labels"] as? Bool == true)
        // Refitting the head on balanced data beats the biased zero-shot head's worst group.
        #expect(try #require(test["worst_group"] as? Double) > (try #require(zeroShot["worst_group"] as? Double)))
        let text = try CLIRunner.run(["eval", bundle, "--run", "1", "--no-aiou", "--workspace", ws])
        #expect(text.stdout.contains("note: dfr fitted its classifier on the val split's group labels"))
        let cam = try CLIRunner.run(["cam", bundle, "--example", "s00007", "--run", "1", "--ascii", "--workspace", ws])
        #expect(cam.status == 0 && cam.stdout.contains("run 1"), "\(cam.stderr)")
    }

    /// An orth-proj run evaluates exactly as the library's preview says.
    @Test func orthProjRunMatchesThePreview() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("orth")
        let r = try CLIRunner.run(["train", bundle, "--method", "orth-proj", "--attribute", "water", "--workspace", ws])
        #expect(r.status == 0 && r.stdout.contains("projected out of the class prompts: 'with water', 'without water'"), "\(r.stderr)")
        let test = try object(try CLIRunner.run(["eval", bundle, "--run", "1", "--no-aiou", "--workspace", ws, "--json"]).stdout)
        let preview = try OrthogonalProjection.preview(bundle: try FeatureBundle.open(bundle), attributes: ["water"], decisions: [])
        // The two paths sum in different orders, so an example on the decision
        // boundary may fall either way: at most one example of a group.
        let worst = try #require(test["worst_group"] as? Double), average = try #require(test["average"] as? Double)
        #expect(abs(worst - preview.projected.worstGroup) <= 1.0 / 300 + 1e-9, "run \(worst), preview \(preview.projected.worstGroup)")
        #expect(abs(average - preview.projected.average) <= 1.0 / 1200 + 1e-9, "run \(average), preview \(preview.projected.average)")
        #expect(preview.zeroShot.worstGroup != preview.projected.worstGroup)
        // No attribute given or marked: the bundle's benchmark groups (water), the same projection.
        let fallback = try CLIRunner.run(["train", bundle, "--method", "orth-proj", "--workspace", ws])
        #expect(fallback.status == 0 && fallback.stdout.contains("projected out of the class prompts: 'with water', 'without water'"), "\(fallback.stderr)")
    }

    @Test func compareMarksTheMethodThatUsesValidationLabels() throws {
        let bundle = try SampleData.bundle(), ws = temporaryWorkspace("compare-dfr")
        let r = try CLIRunner.run(["compare", bundle, "--workspace", ws, "--methods", "zeroshot,orth-proj,dfr", "--attribute", "water"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines[2].hasPrefix("| zeroshot | 1 |") && lines[3].hasPrefix("| orth-proj | 2 |") && lines[4].hasPrefix("| dfr* | 3 |"))
        #expect(r.stdout.contains("* fits its classifier on the val split's group labels"))
    }

    @Test func probeReportsEveryLineDeterministically() throws {
        let bundle = try SampleData.bundle()
        let a = try CLIRunner.run(["probe", bundle, "--json"]), b = try CLIRunner.run(["probe", bundle, "--json"])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stdout == b.stdout)
        let o = try object(a.stdout)
        #expect(o["attribute"] as? String == "water" && o["groupsFrom"] as? String == "ground truth")
        let lines = try #require(o["lines"] as? [[String: Any]])
        #expect(lines.map { $0["key"] as! String } == ["erm", "erm-reweighted", "dfr-ceiling", "attribute", "words"])
        for line in lines {
            let groups = try #require(line["groups"] as? [[String: Any]])
            #expect(groups.count == 4)
            #expect(line["worstGroup"] as? Double == groups.map { $0["accuracy"] as! Double }.min())
        }
        let words = try #require(o["words"] as? [String: Any])
        #expect(words["prompt"] as? String == "a photo of water." && words["versusPrompt"] as? String == "a photo of land.")
        let text = try CLIRunner.run(["probe", bundle])
        #expect(text.status == 0 && text.stdout.contains("DFR ceiling") && text.stdout.contains("worst group"))
        let bad = try CLIRunner.run(["probe", bundle, "--attribute", "unicorn"])
        #expect(bad.status == 2 && bad.stderr.contains("--attribute: 'unicorn' is neither in the attribute vocabulary"))
        let versus = try object(try CLIRunner.run(["probe", bundle, "--versus", "boat", "--json"]).stdout)
        #expect((versus["words"] as? [String: Any])?["versusPrompt"] as? String == "a photo of boat.")
    }
}
