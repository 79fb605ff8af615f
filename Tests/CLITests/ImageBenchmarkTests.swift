import Foundation
import Testing

/// `bench --suite image` and `--suite extract` on 64-pixel towers (`--tiny`):
/// not their speed (that is what they measure), but that their reports add
/// up, so a figure copied from them means what it says.
struct ImageBenchmarkTests {
    static func scratch(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(name)-\(getpid())").path
    }

    static func json(_ r: CLIResult) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)\n\(r.stderr)")
    }

    @Test func anUnknownSuiteIsAUsageError() throws {
        let r = try CLIRunner.run(["bench", "--suite", "imagez"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("'imagez' is not a suite"), "\(r.stderr)")
        #expect(r.stderr.contains("image, extract, cam or report"), "\(r.stderr)")
        let batch = try CLIRunner.run(["bench", "--suite", "image", "--batch", "0"])
        #expect(batch.status == 2)
        #expect(batch.stderr.contains("--batch"), "\(batch.stderr)")
    }

    @Test func theImageSuitesFiguresAreConsistent() throws {
        let dir = Self.scratch("image")
        let r = try CLIRunner.run(["bench", "--suite", "image", "--tiny", "--quick", "--json", "--batch", "4", "--scratch", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try Self.json(r)
        let peak = try #require(o["sgemm_peak_gflops"] as? Double)
        #expect(peak > 0)
        #expect((o["torch"] as? String)?.hasPrefix("skipped") == true)
        let towers = try #require(o["towers"] as? [[String: Any]])
        #expect(towers.count == 2)
        for t in towers {
            let seconds = try #require(t["native_batch_s"] as? [Double])
            let rate = try #require(t["native_images_per_s"] as? Double), gflops = try #require(t["native_gflops"] as? Double)
            #expect(seconds.count == 1 && seconds.allSatisfy { $0 > 0 })
            #expect(abs(rate - 4 / seconds.min()!) <= 1e-9 * rate)
            #expect(abs(gflops - rate * (t["gflop_per_image"] as! Double)) <= 1e-9 * gflops)
            #expect(abs((t["ratio_to_peak"] as! Double) - gflops / peak) < 1e-12)
            #expect(t["native_over_torch"] == nil)
        }
        let memory = try #require(o["memory"] as? [[String: Any]])
        #expect(memory.map { $0["batch"] as? Int } == [1, 8, 32, 64, 1, 8, 32, 64])
        for m in memory {
            let load = m["rss_after_load_kb"] as! Double, top = m["peak_kb"] as! Double
            #expect(load > 0 && top >= load, "\(m)")
            // The batch's own pixels are resident at the peak: 3 × 64 × 64 floats an image.
            #expect(top - (m["rss_start_kb"] as! Double) >= (m["pixels_kb"] as! Double), "\(m)")
        }
        let peaks = memory.map { $0["peak_kb"] as! Double }
        #expect(peaks[3] > peaks[0] && peaks[7] > peaks[4], "64 images need more than one: \(peaks)")
        #expect(!FileManager.default.fileExists(atPath: dir), "the checkpoints are removed without --keep")
    }

    @Test func theExtractSuitesBreakdownAddsUp() throws {
        let dir = Self.scratch("extract")
        let r = try CLIRunner.run(["bench", "--suite", "extract", "--tiny", "--json", "--examples", "12", "--batch", "5", "--scratch", dir])
        #expect(r.status == 0, "\(r.stderr)")
        let o = try Self.json(r)
        func n(_ k: String) -> Double { (o[k] as? Double) ?? Double(o[k] as? Int ?? -1) }
        #expect(o["images"] as? Int == 12)
        #expect(o["dataset_splits"] as? [Int] == [4, 1, 7])
        // Every image decoded, pre-processed and stored as a view once; three batches through the tower.
        for stage in ["decode", "preprocess", "views"] { #expect(o[stage + "_count"] as? Int == 12, "\(stage)") }
        #expect(o["tower_count"] as? Int == 3)
        #expect(o["write_count"] as? Int == 3)
        #expect(o["waiting_count"] as? Int == 4, "three batches and the end")
        let mainStages = ["prompts", "waiting", "tower", "write"].map { n($0 + "_s") }
        #expect(mainStages.allSatisfy { $0 >= 0 })
        #expect(abs(mainStages.reduce(0, +) - n("main_thread_s")) < 1e-9)
        // The main thread's stages follow one another inside the run.
        #expect(n("main_thread_s") <= n("total_wall_s"))
        // Those of the images, inside the images' wall time.
        #expect(n("tower_s") + n("write_s") + n("waiting_s") <= n("images_wall_s"))
        #expect(n("prompts_s") + n("images_wall_s") <= n("total_wall_s"))
        #expect(n("images_wall_s") <= n("total_wall_s"))
        #expect(n("decode_s") > 0 && n("preprocess_s") > 0 && n("views_s") > 0 && n("tower_s") > 0)
        #expect(n("peak_rss_kb") > 0 && n("bundle_bytes") > 0 && n("dataset_bytes") > 12 * 5_000)
        #expect(!FileManager.default.fileExists(atPath: dir), "the folder and checkpoint are removed without --keep")
    }

    /// `extract --timings` prints the same breakdown after a real run.
    @Test func extractTimingsPrintsWhereTheTimeWent() throws {
        let dir = Self.scratch("extract-timings")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bench = try CLIRunner.run(["bench", "--suite", "extract", "--tiny", "--json", "--examples", "6", "--keep", "--scratch", dir])
        #expect(bench.status == 0, "\(bench.stderr)")
        let vocabulary = try #require(try Self.json(bench)["vocabulary"] as? String)
        let r = try CLIRunner.run(["extract", "--waterbirds", dir + "/waterbirds", "--checkpoint", dir + "/clip-tiny.safetensors",
                                   "--vocab", vocabulary, "--out", dir + "/again", "--batch", "4", "--timings"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("for 6 images"), "\(r.stderr)")
        for label in ["text prompts", "image tower", "write rows", "waiting for the prefetch", "decode", "resize, crop, normalise", "views and masks"] {
            #expect(r.stderr.contains(label), "\(label) missing from \(r.stderr)")
        }
        let quiet = try CLIRunner.run(["extract", "--waterbirds", dir + "/waterbirds", "--checkpoint", dir + "/clip-tiny.safetensors",
                                       "--vocab", vocabulary, "--out", dir + "/again", "--force", "--quiet"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("where the time went"), "\(quiet.stderr)")
    }
}
