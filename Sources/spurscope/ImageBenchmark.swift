import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

/// `bench --suite image`: the native image towers at ViT-B/32's and RN50's
/// size with random weights (written to scratch files first), against
/// PyTorch eager on the same batch and threads when `.venv-extract` has it,
/// and their peak memory by batch size, each measured in a child process.
enum ImageBenchmark {
    struct Tower {
        var name: String
        var checkpoint: String
        /// The PyTorch script of the same model, and its arguments beside `--batch` and `--threads`.
        var torchScript: String
        var torchArguments: [String]
        /// Whether the timed pass computes the spatial map: the ViT script
        /// takes `post_layernorm` of the patch tokens, the RN50 script only
        /// the attention pool's output.
        var spatial: Bool
    }

    struct Speed {
        var name: String
        var batch: Int
        var spatial: Bool
        var flopsPerImage: Double
        /// The best single-batch time of each round.
        var nativeSeconds: [Double] = []
        /// PyTorch's best images/s of each round; empty when it was skipped.
        var torchImagesPerSecond: [Double] = []

        var nativeImagesPerSecond: Double { Double(batch) / (nativeSeconds.min() ?? .infinity) }
        var nativeGFLOPs: Double { nativeImagesPerSecond * flopsPerImage / 1e9 }
        var torchBest: Double? { torchImagesPerSecond.max() }
    }

    struct Memory {
        var name: String
        var batch: Int
        var probe: [String: Double]
    }

    static let memoryBatches = [1, 8, 32, 64]
    static let towerNames = ["ViT-B/32", "RN50"]

    /// The towers' checkpoints in `scratch` (kept from an earlier `--keep` run).
    static func towers(scratch: String, tiny: Bool) throws -> [Tower] {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let vit = scratch + (tiny ? "/vit-tiny.safetensors" : "/vit-b32.safetensors")
        let rn = scratch + (tiny ? "/rn-tiny.safetensors" : "/rn50.safetensors")
        if !FileManager.default.fileExists(atPath: vit) {
            try RandomCLIPCheckpoint.write(tiny ? .small : .vitB32, to: vit + ".partial")
            try FileManager.default.moveItem(atPath: vit + ".partial", toPath: vit)
        }
        if !FileManager.default.fileExists(atPath: rn) {
            try RandomResNetCheckpoint.write(tiny ? .small : .rn50, to: rn + ".partial")
            try FileManager.default.moveItem(atPath: rn + ".partial", toPath: rn)
        }
        return [
            Tower(name: tiny ? "ViT tiny" : towerNames[0], checkpoint: vit, torchScript: "tools/reference/bench/image_tower_torch.py",
                  torchArguments: ["--batches", "1"], spatial: true),
            Tower(name: tiny ? "RN tiny" : towerNames[1], checkpoint: rn, torchScript: "tools/reference/bench/resnet_torch.py",
                  torchArguments: [], spatial: false),
        ]
    }

    static func flopsPerImage(_ tower: any CLIPImageTower, spatial: Bool) -> Double {
        if let vit = tower as? VisionTransformer { return vit.flops(images: 1) }
        if let rn = tower as? ModifiedResNetTower { return rn.flopsPerImage(spatial: spatial) }
        return .nan
    }

    static func randomPixels(count: Int, side: Int) -> [Float] {
        var rng = SeededGenerator(seed: 5, purpose: "bench-image-pixels")
        return (0..<count * 3 * side * side).map { _ in rng.nextGaussian() }
    }

    /// Native and PyTorch alternate, tower by tower, `rounds` times; each
    /// round keeps its best of `repetitions` single batches and measures the
    /// sgemm peak again, so a peak taken while other work had the cores does
    /// not stand as the run's yardstick.
    static func measureSpeed(_ towers: [Tower], batch: Int, rounds: Int, repetitions: Int,
                             torch: TorchRunner?) throws -> (speeds: [Speed], peaks: [Double]) {
        let loaded = try towers.map { try CLIPImageTowers.load(CLIPCheckpoint(path: $0.checkpoint)) }
        var speeds = zip(towers, loaded).map { t, m in
            Speed(name: t.name, batch: batch, spatial: t.spatial, flopsPerImage: flopsPerImage(m, spatial: t.spatial))
        }
        let inputs = loaded.map { randomPixels(count: batch, side: $0.shape.imageSize) }
        for (m, px) in zip(loaded, inputs) {   // warm-up: BLAS threads started, buffers faulted in
            _ = try m.features(pixels: Array(px.prefix(2 * 3 * m.shape.imageSize * m.shape.imageSize)), count: min(2, batch), spatial: true)
        }
        var peaks: [Double] = []
        for _ in 0..<rounds {
            peaks.append(SgemmPeak.measure(size: 2048, repetitions: repetitions).gflops)
            for i in towers.indices {
                var best = Double.infinity
                for _ in 0..<repetitions {
                    let t0 = monotonicSeconds()
                    _ = try loaded[i].features(pixels: inputs[i], count: batch, spatial: towers[i].spatial)
                    best = min(best, monotonicSeconds() - t0)
                }
                speeds[i].nativeSeconds.append(best)
                if let torch {
                    let args = towers[i].torchArguments + ["--batch", String(batch), "--repetitions", String(repetitions)]
                    speeds[i].torchImagesPerSecond.append(try torch.imagesPerSecond(script: towers[i].torchScript, arguments: args))
                }
            }
        }
        return (speeds, peaks)
    }

    /// One child process per tower and batch size, so each peak is that run's alone.
    static func measureMemory(_ towers: [Tower]) throws -> [Memory] {
        var rows: [Memory] = []
        for t in towers {
            for b in memoryBatches {
                let out = try BundleBenchmark.runChild(["bench-probe", "image-memory", t.checkpoint, "--batch", String(b)])
                guard let probe = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Double] else {
                    throw InputError(file: t.checkpoint, "the memory probe printed no measurements")
                }
                rows.append(Memory(name: t.name, batch: b, probe: probe))
            }
        }
        return rows
    }
}

/// PyTorch's side of a speed comparison: a script of tools/reference/bench
/// run by the venv's Python, printing one JSON line.
struct TorchRunner {
    static let python = ".venv-extract/bin/python"
    var threads: Int

    /// Nil, with the reason, when the venv or the scripts are not there.
    static func find(threads: Int) -> (TorchRunner?, String) {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            return (nil, "skipped: no \(python) (make extract-deps builds it)")
        }
        guard FileManager.default.fileExists(atPath: "tools/reference/bench") else {
            return (nil, "skipped: tools/reference/bench not found (run from the repository's root)")
        }
        return (TorchRunner(threads: threads), "")
    }

    func run(script: String, arguments: [String]) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.python)
        p.arguments = [script, "--threads", String(threads)] + arguments
        // A PYTHONPATH of the caller's would put other packages before the venv's pinned ones.
        var env = ProcessInfo.processInfo.environment
        env["PYTHONPATH"] = nil
        p.environment = env
        // stderr to a file: a pipe read only after stdout could fill and stall the child.
        let errorPath = NSTemporaryDirectory() + "spurscope-bench-torch-\(getpid()).err"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: errorPath)
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let errorText = FileManager.default.contents(atPath: errorPath) ?? Data()
        let lastLine = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard p.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any] else {
            throw InputError(file: script, "PyTorch run failed (status \(p.terminationStatus)): \(String(decoding: errorText.suffix(600), as: UTF8.self))")
        }
        return object
    }

    func imagesPerSecond(script: String, arguments: [String]) throws -> Double {
        guard let rate = try run(script: script, arguments: arguments)["images_per_s"] as? Double else {
            throw InputError(file: script, "printed no images_per_s")
        }
        return rate
    }
}

extension BenchProbeCommand {
    /// Peak memory of one tower at one batch size, as an extraction runs it
    /// (the spatial map included): loads the checkpoint, runs one batch of
    /// random pixels, prints VmRSS / VmHWM in kB.
    struct ImageMemory: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "image-memory")
        @Argument var checkpoint: String
        @Option var batch: Int = 32

        func run() throws {
            let start = ProcessMemory.residentKB
            let tower = try CLIPImageTowers.load(CLIPCheckpoint(path: checkpoint))
            let afterLoad = ProcessMemory.residentKB, loadPeak = ProcessMemory.peakKB
            let pixels = ImageBenchmark.randomPixels(count: batch, side: tower.shape.imageSize)
            let t0 = monotonicSeconds()
            // What extraction asks for: the pooled feature and the Grad-CAM tail input.
            let f = try tower.features(pixels: pixels, count: batch, spatial: false, tailInput: true)
            let seconds = monotonicSeconds() - t0
            precondition(f.count == batch)
            print(try JSONOutput.line([
                "rss_start_kb": start, "rss_after_load_kb": afterLoad, "peak_after_load_kb": loadPeak,
                "pixels_kb": Double(pixels.count * 4) / 1024, "peak_kb": ProcessMemory.peakKB,
                "rss_end_kb": ProcessMemory.residentKB, "seconds": seconds,
            ]))
        }
    }
}

extension BenchCommand {
    func runImageSuite() throws {
        let reps = quick ? 2 : 5, rounds = quick ? 1 : 3
        let dir = scratch ?? NSTemporaryDirectory() + "spurscope-bench-image"
        let towers = try ImageBenchmark.towers(scratch: dir, tiny: tiny)
        defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
        let (torch, skipped) = tiny ? (nil, "skipped: --tiny sizes are not the scripts'") : TorchRunner.find(threads: BLASInfo.threads)
        let (speeds, peaks) = try ImageBenchmark.measureSpeed(towers, batch: batch, rounds: rounds, repetitions: reps, torch: torch)
        let peak = (gflops: peaks.max()!, size: 2048)
        let memory = try ImageBenchmark.measureMemory(towers)
        if json {
            print(try JSONOutput.line([
                "blas_core": BLASInfo.coreName, "blas_threads": BLASInfo.threads, "sgemm_peak_gflops": peak.gflops, "sgemm_peak_rounds_gflops": peaks,
                "batch": batch, "rounds": rounds, "repetitions": reps, "torch": torch == nil ? skipped : "ran",
                "towers": speeds.map { s -> [String: Any] in
                    var o: [String: Any] = [
                        "model": s.name, "spatial": s.spatial, "gflop_per_image": s.flopsPerImage / 1e9,
                        "native_batch_s": s.nativeSeconds, "native_images_per_s": s.nativeImagesPerSecond,
                        "native_gflops": s.nativeGFLOPs, "ratio_to_peak": s.nativeGFLOPs / peak.gflops,
                    ]
                    if let t = s.torchBest {
                        o["torch_images_per_s"] = s.torchImagesPerSecond
                        o["native_over_torch"] = s.nativeImagesPerSecond / t
                    }
                    return o
                },
                "memory": memory.map { m -> [String: Any] in
                    var o: [String: Any] = ["model": m.name, "batch": m.batch]
                    for (k, v) in m.probe { o[k] = v }
                    return o
                },
            ]))
            return
        }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads")
        print(String(format: "sgemm peak (2048³, best of %d in each round, the best round): %.1f GFLOP/s (rounds: %@)", reps, peak.gflops,
                     peaks.map { String(format: "%.1f", $0) }.joined(separator: ", ")))
        print("image towers, random weights, batch \(batch), f32; best single batch of \(reps), \(rounds) round\(rounds == 1 ? "" : "s") alternating with PyTorch")
        print("model      map   GFLOP/img   native img/s  GFLOP/s  of peak   PyTorch img/s   native/PyTorch")
        for s in speeds {
            var line = s.name.padding(toLength: 10, withPad: " ", startingAt: 0) + (s.spatial ? " yes " : " no  ")
                + String(format: "%10.2f %14.1f %8.1f %7.1f%%", s.flopsPerImage / 1e9, s.nativeImagesPerSecond, s.nativeGFLOPs,
                         100 * s.nativeGFLOPs / peak.gflops)
            if let t = s.torchBest { line += String(format: " %15.1f %15.2f×", t, s.nativeImagesPerSecond / t) }
            print(line)
        }
        if torch == nil { print("PyTorch: \(skipped)") }
        print("rounds (native s per batch | PyTorch img/s): " + speeds.map { s in
            s.name + " " + s.nativeSeconds.map { String(format: "%.3f", $0) }.joined(separator: "/")
                + (s.torchImagesPerSecond.isEmpty ? "" : " | " + s.torchImagesPerSecond.map { String(format: "%.1f", $0) }.joined(separator: "/"))
        }.joined(separator: "; "))
        print("")
        print("peak memory (VmHWM of a child process: load the tower, one batch of random pixels with the spatial map;")
        print("f32 weights stay mapped from the file and count once the pass has touched them)")
        print("model      batch   after load MB   peak MB   over batch 1 MB")
        for m in memory {
            let load = m.probe["rss_after_load_kb"] ?? 0, top = m.probe["peak_kb"] ?? 0
            let one = memory.first { $0.name == m.name && $0.batch == 1 }?.probe["peak_kb"] ?? top
            print(m.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + String(format: " %5d %15.1f %9.1f %17.1f", m.batch, load / 1024, top / 1024, (top - one) / 1024))
        }
    }
}
