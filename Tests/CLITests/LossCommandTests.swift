import Foundation
import Testing
import SpurCore

/// `spurscope loss` end to end, against the numpy reference of SpurEngineTests.
struct LossCommandTests {
    static let fixtures = CLIRunner.repository.appendingPathComponent("Tests/SpurEngineTests/Fixtures")
    static let batch = fixtures.appendingPathComponent("loss_batch.safetensors").path

    struct Reference: Decodable { var value: Double; var W_v: [Double]; var W_t: [Double]; var logit_scale: Double }
    static func reference() throws -> [String: Reference] {
        try JSONDecoder().decode([String: Reference].self,
                                 from: Data(contentsOf: fixtures.appendingPathComponent("loss_reference.json")))
    }

    @Test func jsonHasEveryTermAndTheirSum() throws {
        let r = try CLIRunner.run(["loss", "--input", Self.batch, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double])
        #expect(Set(object.keys) == ["clip", "vc", "lc", "vs", "ls", "total"])
        let ref = try Self.reference()
        var sum = 0.0
        for term in ["clip", "vc", "lc", "vs", "ls"] {
            #expect(abs(object[term]! - ref[term]!.value) < 1e-5, "\(term)")
            sum += ref[term]!.value
        }
        #expect(abs(object["total"]! - sum) < 1e-4)
    }

    @Test func selectedTermsMakeTheTotalAndTheGradients() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("grads-\(getpid()).safetensors").path
        let r = try CLIRunner.run(["loss", "--input", Self.batch, "--terms", "clip,vs", "--grads", out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double])
        let ref = try Self.reference()
        #expect(abs(object["total"]! - (ref["clip"]!.value + ref["vs"]!.value)) < 1e-4)
        let g = try SafetensorsFile(path: out)
        #expect(g.names == ["W_t", "W_v", "logit_scale"])
        let wv = try g.floats("W_v")
        for i in wv.indices {
            #expect(abs(Double(wv[i]) - (ref["clip"]!.W_v[i] + ref["vs"]!.W_v[i])) < 1e-4)
        }
        let ls = try g.floats("logit_scale")[0]
        #expect(abs(Double(ls) - (ref["clip"]!.logit_scale + ref["vs"]!.logit_scale)) < 1e-4)
    }

    @Test func badInputExitsWithStatusTwoAndNamesTheProblem() throws {
        let missing = try CLIRunner.run(["loss", "--input", "/nonexistent/batch.safetensors"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "error: /nonexistent/batch.safetensors: No such file or directory\n")
        let term = try CLIRunner.run(["loss", "--input", Self.batch, "--terms", "clip,xx"])
        #expect(term.status == 2)
        #expect(term.stderr.contains("unknown term 'xx'"))
        let usage = try CLIRunner.run(["loss"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("Missing expected argument '--input <input>'"))
        let notSafetensors = try CLIRunner.run(["loss", "--input", Self.fixtures.appendingPathComponent("loss_reference.json").path])
        #expect(notSafetensors.status == 2)
        #expect(notSafetensors.stderr.contains("header: declares"))
    }
}

struct BenchCommandTests {
    @Test func quickJSONReportIsSelfConsistent() throws {
        let r = try CLIRunner.run(["bench", "--quick", "--json", "--steps", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect((object["blas_core"] as? String)?.isEmpty == false)
        #expect((object["blas_threads"] as? Int ?? 0) >= 1)
        let peak = try #require(object["sgemm_peak_gflops"] as? Double)
        let steps = try #require(object["training_step"] as? [[String: Any]])
        #expect(steps.map { $0["model"] as? String } == ["RN50", "ViT-L/14"])
        for s in steps {
            let ms = s["step_ms"] as! Double, gflop = s["gflop_per_step"] as! Double
            #expect(abs(s["examples_per_s"] as! Double - 128 / (ms / 1000)) < 1e-6 * (s["examples_per_s"] as! Double))
            #expect(abs(s["ratio_to_peak"] as! Double - gflop / (ms / 1000) / peak) < 1e-9)
        }
        // Shapes fix the count: RN50 projections 2·2·1024·(128·2048 + 608·512) plus similarity products.
        #expect(abs((steps[0]["gflop_per_step"] as! Double) - 3.437232128) < 1e-9)
    }
}

struct BundleBenchmarkTests {
    /// Opening maps the features instead of reading them: resident memory
    /// grows by far less than the file, and one spatial map reads one map.
    @Test func openingReadsOnlyTheHeader() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bench-bundle-\(getpid())").path
        let r = try CLIRunner.run(["bench", "--suite", "bundle", "--examples", "400", "--scratch", scratch, "--command-examples", "none", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double])
        let fileKB = o["file_bytes"]! / 1024
        #expect(fileKB > 78_000)   // 400 × 49 × 2048 × 2 bytes of maps alone
        // A few MB of CSVs, code pages and allocator slack; never the file.
        #expect(o["rss_after_open_kb"]! - o["rss_start_kb"]! < 16_000)
        #expect(o["rss_after_spatial_map_kb"]! - o["rss_start_kb"]! < 16_000)
        // Reading every pooled feature does touch them: the probe measures what it claims.
        #expect(o["rss_after_pooled_kb"]! - o["rss_start_kb"]! > 3_000)
        #expect(!FileManager.default.fileExists(atPath: scratch), "the scratch bundle is removed without --keep")
    }
}

/// `spurscope loss --loss-form official` against the `official_*` entries of the numpy reference.
struct OfficialLossCommandTests {
    @Test func officialTermsMatchTheReference() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("grads-official-\(getpid()).safetensors").path
        let r = try CLIRunner.run(["loss", "--input", LossCommandTests.batch, "--loss-form", "official", "--terms", "clip,ls",
                                   "--grads", out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Double])
        let ref = try LossCommandTests.reference()
        for term in ["clip", "vc", "lc", "vs", "ls"] {
            #expect(abs(object[term]! - ref["official_" + term]!.value) < 1e-5, "\(term)")
        }
        #expect(abs(object["total"]! - (ref["official_clip"]!.value + ref["official_ls"]!.value)) < 1e-4)
        let wt = try SafetensorsFile(path: out).floats("W_t")
        for i in wt.indices {
            #expect(abs(Double(wt[i]) - (ref["official_clip"]!.W_t[i] + ref["official_ls"]!.W_t[i])) < 1e-4)
        }
    }

    @Test func officialFormNamesTheMissingTensor() throws {
        // The fixture without attr_prompts.
        let source = try SafetensorsFile(path: LossCommandTests.batch)
        var w = SafetensorsWriter()
        for name in source.names where name != "attr_prompts" {
            let info = try source.info(name)
            if info.dtype.isFloatingPoint {
                w.add(name, shape: info.shape, floats: try source.floats(name))
            } else {
                w.add(name, shape: info.shape, int32s: try source.integers(name).map(Int32.init))
            }
        }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-attr-prompts-\(getpid()).safetensors").path
        try w.write(to: path)
        let paper = try CLIRunner.run(["loss", "--input", path, "--json"])
        #expect(paper.status == 0, "\(paper.stderr)")
        let official = try CLIRunner.run(["loss", "--input", path, "--loss-form", "official"])
        #expect(official.status == 2)
        #expect(official.stderr.contains("tensor 'attr_prompts': is missing"))
        let bad = try CLIRunner.run(["loss", "--input", path, "--loss-form", "authors"])
        #expect(bad.status == 2 && bad.stderr.contains("The value 'authors' is invalid for '--loss-form <loss-form>'"))
    }
}
