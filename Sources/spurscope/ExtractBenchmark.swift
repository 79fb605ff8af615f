import ArgumentParser
import Dispatch
import Foundation
import SpurCLIP
import SpurCore

/// `bench --suite extract`: `spurscope extract --waterbirds` over a folder
/// shaped like WILDS Waterbirds — 4,795 + 1,199 + 5,794 JPEGs of 500 × 375
/// and 375 × 500 pixels, a few greyscale, a few stored sideways with an
/// EXIF orientation — with random ViT-B/32 weights, in a child process (so
/// its peak memory is the extraction's alone), and where its time went.
enum ExtractBenchmark {
    static let waterbirdsSplits = [4_795, 1_199, 5_794]
    static var waterbirdsExamples: Int { waterbirdsSplits.reduce(0, +) }
    /// Bumped when the generated pictures change, so a kept folder of older ones is made again.
    static let generatorVersion = 1

    struct Dataset: Codable, Equatable {
        var version: Int
        var examples: Int
        var splits: [Int]
        var landscape: Int
        var portrait: Int
        var greyscale: Int
        var rotated: Int
        var bytes: Int
    }

    /// Train, val and test sizes: Waterbirds' own, or in its proportions.
    static func splitSizes(_ n: Int) -> [Int] {
        if n == waterbirdsExamples { return waterbirdsSplits }
        let train = n * waterbirdsSplits[0] / waterbirdsExamples, val = n * waterbirdsSplits[1] / waterbirdsExamples
        return [train, val, n - train - val]
    }

    /// How picture `i` is stored. Most CUB photos are landscape; a fifth
    /// portrait, about one in a hundred greyscale, one in fifty a sideways
    /// phone-style file whose EXIF tag turns it upright.
    static func layout(_ i: Int) -> (width: Int, height: Int, greyscale: Bool, orientation: ImageOrientation) {
        let portrait = i % 5 == 4
        let orientation: ImageOrientation = i % 50 == 7 ? (i % 100 == 7 ? .rotateClockwise : .rotateCounterclockwise) : .upright
        return (portrait ? 375 : 500, portrait ? 500 : 375, i % 97 == 3, orientation)
    }

    /// The folder at `directory`, written unless an earlier run left the same one.
    static func prepare(directory: String, examples n: Int) throws -> (Dataset, seconds: Double) {
        let recordPath = directory + "/bench-dataset.json"
        if let data = FileManager.default.contents(atPath: recordPath),
           let kept = try? JSONDecoder().decode(Dataset.self, from: data),
           kept.version == generatorVersion, kept.examples == n {
            return (kept, 0)
        }
        let t0 = monotonicSeconds()
        try? FileManager.default.removeItem(atPath: directory)
        let species = 200
        for s in 0..<species {
            try FileManager.default.createDirectory(atPath: directory + "/" + folder(s), withIntermediateDirectories: true)
        }
        // Splits interleaved over the ids, as in WILDS' metadata.csv.
        var rng = SeededGenerator(seed: 11, purpose: "bench-waterbirds-splits")
        let sizes = splitSizes(n)
        var splitOf = (0..<n).map { $0 < sizes[0] ? 0 : $0 < sizes[0] + sizes[1] ? 1 : 2 }
        splitOf.shuffle(using: &rng)
        var rows: [[String]] = []
        for i in 0..<n {
            let s = i % species, y = s % 4 == 0 ? 1 : 0
            // Train: 95 % of each class on its own background; val and test balanced.
            let agrees = splitOf[i] == 0 ? Int.random(in: 0..<100, using: &rng) < 95 : Bool.random(using: &rng)
            rows.append([String(i + 1), fileName(i, species: s), String(y), String(splitOf[i]), String(agrees ? y : 1 - y)])
        }
        let names = rows.map { $0[1] }
        let errors = LockedErrors()
        DispatchQueue.concurrentPerform(iterations: n) { i in
            let l = layout(i)
            let upright = photo(width: l.width, height: l.height, seed: UInt64(i))
            // Stored turned back, so that the EXIF tag's turn gives the upright picture.
            let stored = l.orientation == .upright ? upright
                : upright.oriented(l.orientation == .rotateClockwise ? .rotateCounterclockwise : .rotateClockwise)
            do {
                try ImageFile.writeJPEG(stored, to: directory + "/" + names[i], quality: 85, greyscale: l.greyscale,
                                        orientation: l.orientation)
            } catch {
                errors.record(error)
            }
        }
        if let e = errors.first { throw e }
        try CSVTable.write(header: ["img_id", "img_filename", "y", "split", "place"], rows: rows, to: directory + "/metadata.csv")
        var bytes = 0
        for r in rows {
            bytes += (try? FileManager.default.attributesOfItem(atPath: directory + "/" + r[1])[.size] as? Int) ?? 0
        }
        let kinds = (0..<n).map(layout)
        let d = Dataset(version: generatorVersion, examples: n, splits: sizes,
                        landscape: kinds.filter { $0.width > $0.height }.count, portrait: kinds.filter { $0.width < $0.height }.count,
                        greyscale: kinds.filter(\.greyscale).count, rotated: kinds.filter { $0.orientation != .upright }.count,
                        bytes: bytes)
        try AtomicFile.write(try JSONEncoder().encode(d), to: recordPath)
        return (d, monotonicSeconds() - t0)
    }

    static func folder(_ species: Int) -> String { String(format: "%03d.Species_%03d", species + 1, species + 1) }

    static func fileName(_ i: Int, species: Int) -> String {
        folder(species) + String(format: "/Species_%03d_%06d.jpg", species + 1, i + 1)
    }

    /// A photo-like picture: a sky and a ground of two colours split by a
    /// wavy horizon, low-frequency texture, a bird-sized ellipse, and grain,
    /// so that JPEG files come out at photographs' sizes (tens of kB), not
    /// at a flat picture's or at noise's.
    static func photo(width w: Int, height h: Int, seed: UInt64) -> RGBImage {
        var rng = SeededGenerator(seed: seed, purpose: "bench-waterbirds-photo")
        func colour() -> [Float] { (0..<3).map { _ in Float.random(in: 30...225, using: &rng) } }
        let sky = colour(), ground = colour(), bird = colour()
        let horizon = Float.random(in: 0.3...0.7, using: &rng) * Float(h)
        let fx = Float.random(in: 0.02...0.06, using: &rng), fy = Float.random(in: 0.02...0.06, using: &rng)
        let (p1, p2, p3) = (Float.random(in: 0...6.3, using: &rng), Float.random(in: 0...6.3, using: &rng), Float.random(in: 0...6.3, using: &rng))
        let waveX = (0..<w).map { x in 14 * sinf(fx * Float(x) + p1) + 6 * sinf(3.7 * fx * Float(x) + p2) }
        let waveY = (0..<h).map { y in 12 * sinf(fy * Float(y) + p3) }
        let cx = Float.random(in: 0.3...0.7, using: &rng) * Float(w), cy = Float.random(in: 0.3...0.7, using: &rng) * Float(h)
        let rx = Float.random(in: 0.1...0.25, using: &rng) * Float(w), ry = Float.random(in: 0.1...0.25, using: &rng) * Float(h)
        var grain = rng.next() | 1
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            for y in 0..<h {
                let fy = Float(y)
                for x in 0..<w {
                    let dx = (Float(x) - cx) / rx, dy = (fy - cy) / ry
                    let base = dx * dx + dy * dy < 1 ? bird : (fy < horizon + 2 * waveX[x] ? sky : ground)
                    let texture = waveX[x] + waveY[y]
                    for c in 0..<3 {
                        grain ^= grain << 13; grain ^= grain >> 7; grain ^= grain << 17
                        let v = base[c] + texture + Float(Int(grain & 15) - 8)
                        out[(y * w + x) * 3 + c] = UInt8(max(0, min(255, v)))
                    }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: pixels)
    }
}

/// The first error of `concurrentPerform`'s workers.
private final class LockedErrors: @unchecked Sendable {
    // @unchecked: `errors` is touched only under `lock`.
    private var errors: [Error] = []
    private let lock = NSLock()
    func record(_ e: Error) { lock.lock(); errors.append(e); lock.unlock() }
    var first: Error? { lock.lock(); defer { lock.unlock() }; return errors.first }
}

extension BenchProbeCommand {
    /// One `extract --waterbirds` run, as the command does it, printing its
    /// stage times, walls and peak memory as one JSON line (progress on stderr).
    struct Extract: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "extract")
        @Argument var waterbirds: String
        @Option var checkpoint: String
        @Option var vocab: String
        @Option var out: String
        @Option var batch: Int = 32

        func run() throws {
            let t0 = monotonicSeconds()
            var options = ExtractionPlan.Options(checkpoint: checkpoint)
            options.vocabulary = vocab
            let plan = try ExtractionPlan(dataset: try .waterbirds(waterbirds), options: options)
            let setup = monotonicSeconds() - t0
            let extraction = Extraction(plan: plan, out: out)
            extraction.batchSize = batch
            let progress = ProgressLine(quiet: false)
            try extraction.run(overwrite: true) { progress.show($0) }
            let t = extraction.timings
            var object: [String: Any] = [
                "images": plan.rows.count, "prompts": plan.prompts.count, "setup_s": setup,
                "images_wall_s": t.imagesWallSeconds, "total_wall_s": t.totalWallSeconds,
                "main_thread_s": t.mainThreadSeconds, "peak_rss_kb": ProcessMemory.peakKB,
                "bundle_bytes": Self.bytes(under: out),
            ]
            for stage in ExtractionTimings.Stage.allCases {
                object[stage.rawValue + "_s"] = t[stage].seconds
                object[stage.rawValue + "_count"] = t[stage].count
            }
            print(try JSONOutput.line(object))
        }

        static func bytes(under directory: String) -> Int {
            let fm = FileManager.default
            guard let e = fm.enumerator(atPath: directory) else { return 0 }
            var total = 0
            while let name = e.nextObject() as? String {
                total += (try? fm.attributesOfItem(atPath: directory + "/" + name)[.size] as? Int) ?? 0
            }
            return total
        }
    }
}

extension BenchCommand {
    func runExtractSuite() throws {
        let n = examples ?? ExtractBenchmark.waterbirdsExamples
        guard n >= 3 else { throw InputError(file: "--examples", "is \(n), expected at least 3 (one a split)") }
        let dir = scratch ?? NSTemporaryDirectory() + "spurscope-bench-extract"
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { if !keep { try? fm.removeItem(atPath: dir) } }
        let (dataset, generation) = try ExtractBenchmark.prepare(directory: dir + "/waterbirds", examples: n)
        let checkpoint = dir + (tiny ? "/clip-tiny.safetensors" : "/clip-vit-b32.safetensors")
        if !fm.fileExists(atPath: checkpoint) {
            // The tiny text tower keeps CLIP's vocabulary size: the tokenizer's ids must fit.
            let size = tiny ? RandomCLIPCheckpoint.Size(text: .init(vocabularySize: 49_408, contextLength: 77, width: 64, layers: 2, embeddingDim: 32),
                                                        vision: RandomCLIPCheckpoint.Size.small.vision) : .vitB32
            try RandomCLIPCheckpoint.write(size, to: checkpoint + ".partial")
            try fm.moveItem(atPath: checkpoint + ".partial", toPath: checkpoint)
        }
        let openAIVocab = ".venv-extract/lib/python3.11/site-packages/clip/" + VocabularyFiles.openAIName
        let vocabulary: String
        if let vocab { vocabulary = vocab } else if fm.fileExists(atPath: openAIVocab) { vocabulary = openAIVocab } else {
            vocabulary = dir + "/bytes-vocabulary/vocab.json"
            try VocabularyFiles.writeBytesOnly(to: dir + "/bytes-vocabulary")
        }
        let out = dir + "/bundle"
        let output = try BundleBenchmark.runChild(["bench-probe", "extract", dir + "/waterbirds", "--checkpoint", checkpoint,
                                                   "--vocab", vocabulary, "--out", out, "--batch", String(batch)])
        guard var r = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any] else {
            throw InputError(file: out, "the extraction probe printed no measurements")
        }
        if !keep { try? fm.removeItem(atPath: out) }
        r["blas_core"] = BLASInfo.coreName
        r["blas_threads"] = BLASInfo.threads
        r["batch"] = batch
        r["vocabulary"] = vocabulary
        r["dataset_bytes"] = dataset.bytes
        r["dataset_splits"] = dataset.splits
        r["dataset_greyscale"] = dataset.greyscale
        r["dataset_rotated"] = dataset.rotated
        r["dataset_portrait"] = dataset.portrait
        r["dataset_written_s"] = generation
        if json {
            print(try JSONOutput.line(r))
            return
        }
        let number = { (k: String) in r[k] as? Double ?? Double(r[k] as? Int ?? 0) }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads; model \(tiny ? "tiny (tests)" : "ViT-B/32"), random weights, batch \(batch); vocabulary \(vocabulary)")
        print(String(format: "folder: %d JPEGs (%@ train / val / test), %d landscape 500×375, %d portrait 375×500, %d greyscale, %d EXIF-rotated; %.0f MB",
                     n, dataset.splits.map(String.init).joined(separator: " / "), dataset.landscape, dataset.portrait,
                     dataset.greyscale, dataset.rotated, Double(dataset.bytes) / 1e6)
              + (generation > 0 ? String(format: ", written in %.1f s", generation) : ", kept from an earlier run"))
        print(String(format: "setup (checkpoint mapped, towers, tokenizer, examples.csv): %.1f s; %d prompts", number("setup_s"), r["prompts"] as? Int ?? 0))
        let t = ExtractionTimings()
        for stage in ExtractionTimings.Stage.allCases {
            t.add(stage, seconds: number(stage.rawValue + "_s"), count: r[stage.rawValue + "_count"] as? Int ?? 0)
        }
        t.setWalls(images: number("images_wall_s"), total: number("total_wall_s"))
        for line in t.breakdown(images: n) { print(line) }
        print(String(format: "peak RSS %.0f MB; bundle %.0f MB", number("peak_rss_kb") / 1024, number("bundle_bytes") / 1e6))
        if n < ExtractBenchmark.waterbirdsExamples {
            print(String(format: "extrapolated to Waterbirds' %d images at this rate: %.1f min of images", ExtractBenchmark.waterbirdsExamples,
                         number("images_wall_s") / Double(n) * Double(ExtractBenchmark.waterbirdsExamples) / 60))
        }
    }
}
