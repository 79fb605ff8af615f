import ArgumentParser
import Foundation
import SpurCore

/// Opening a bundle the size of Waterbirds at CLIP RN50 sizes (12,000 images,
/// 7×7×2048 spatial maps in f16, about 2.4 GB): it must read the header and
/// what is asked for, not the file. Each measurement runs in a fresh child
/// process so its resident memory is the open's alone, not the writer's.
enum BundleBenchmark {
    struct Result {
        var examples: Int
        var fileBytes: Int
        var probe: [String: Double]
    }

    static func measure(directory: String, examples: Int, keep: Bool) throws -> Result {
        let fm = FileManager.default
        if !fm.fileExists(atPath: directory + "/" + FeatureBundle.featuresFile) {
            try runChild(["bench-probe", "make-bundle", directory, "--examples", String(examples)])
        }
        defer { if !keep { try? fm.removeItem(atPath: directory) } }
        let output = try runChild(["bench-probe", "open-bundle", directory])
        guard let probe = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Double] else {
            throw InputError(file: directory, "the probe printed no measurements")
        }
        let size = (try fm.attributesOfItem(atPath: directory + "/" + FeatureBundle.featuresFile)[.size] as? Int) ?? 0
        return Result(examples: examples, fileBytes: size, probe: probe)
    }

    @discardableResult
    static func runChild(_ arguments: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw InputError(file: arguments.joined(separator: " "), "child process failed with status \(p.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Resident and peak memory of this process, from /proc/self/status (kB).
enum ProcessMemory {
    static func kilobytes(_ key: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
            return Double(line.split(separator: " ").dropFirst().first.map(String.init) ?? "") ?? -1
        }
        return -1
    }
    static var residentKB: Double { kilobytes("VmRSS") }
    static var peakKB: Double { kilobytes("VmHWM") }
}

/// Child-process steps of the benchmarks; not for users.
struct BenchProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-probe", abstract: "Internal steps of `spurscope bench`.",
        shouldDisplay: false, subcommands: [MakeBundle.self, OpenBundle.self, MakeWideBundle.self, OpenAudit.self, MarkBurst.self, ImageMemory.self, Extract.self])

    /// Records verdicts as fast as it can, printing "ack N" after each commit:
    /// the crash test kills it mid-burst and checks every acknowledged one.
    struct MarkBurst: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "mark-burst")
        @Argument var workspace: String
        @Option var count: Int = 100_000

        func run() throws {
            let ws = try Workspace(path: workspace)
            let verdicts = Verdict.allCases
            for i in 0..<count {
                try ws.record(className: "class\(i % 7)", attribute: "attr\(i % 13)", verdict: verdicts[i % 3], note: "burst \(i)")
                print("ack \(i)")
                fflush(nil)   // the acknowledgement leaves the process now
            }
        }
    }

    struct MakeBundle: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "make-bundle")
        @Argument var directory: String
        @Option var examples: Int = 12_000

        func run() throws {
            let (dv, dt, e, h, w) = (2048, 1024, 1024, 7, 7)
            let classes = ["landbird", "waterbird"]
            let prompts = classes.flatMap { c in CLIPTemplates.imagenet80.map { FeatureBundle.fill($0, with: c) } }
            try BundleWriter.writeDirectory(directory, overwrite: true) { staging in
                let manifest = BundleManifest(
                    model: "bench-RN50-sizes", textEncoder: "random", dims: .init(imageDim: dv, textDim: dt, embeddingDim: e),
                    grid: .init(height: h, width: w), pooling: .mean, classes: classes, templates: CLIPTemplates.imagenet80,
                    attributes: ["water", "land"],
                    tensors: ["image_pooled", "image_spatial", "text_prompts", "W_v", "W_t", "logit_scale"])
                try manifest.write(to: staging + "/" + FeatureBundle.manifestFile)
                let splits: [Split] = [.train, .val, .test]
                let rows = (0..<examples).map { Example(id: "b\($0)", image: "img/\($0).png", label: $0 % 2, split: splits[$0 % 3]) }
                try BundleWriter.writeExamples(rows, classes: classes, to: staging + "/" + FeatureBundle.examplesFile)
                try CSVTable.write(header: ["prompt"], rows: prompts.map { [$0] }, to: staging + "/" + FeatureBundle.promptsFile)
                let writer = try SafetensorsStreamWriter(path: staging + "/" + FeatureBundle.featuresFile, tensors: [
                    .init("image_pooled", .f32, [examples, dv]),
                    .init("image_spatial", .f16, [examples, h, w, dv]),
                    .init("text_prompts", .f32, [prompts.count, dt]),
                    .init("W_v", .f32, [e, dv]), .init("W_t", .f32, [e, dt]), .init("logit_scale", .f32, []),
                ])
                var rng = SeededGenerator(seed: 3, purpose: "bench-bundle")
                for _ in 0..<examples { try writer.append(rng.gaussianMatrix(rows: 1, cols: dv).storage) }
                // One random map reused: the benchmark measures I/O, not values.
                let map = rng.gaussianMatrix(rows: h * w, cols: dv).storage
                for _ in 0..<examples { try writer.append(map) }
                try writer.append(rng.gaussianMatrix(rows: prompts.count, cols: dt).storage)
                try writer.append(rng.gaussianMatrix(rows: e, cols: dv, std: 0.02).storage)
                try writer.append(rng.gaussianMatrix(rows: e, cols: dt, std: 0.02).storage)
                try writer.append([logf(100)])
                try writer.finish()
            }
        }
    }

    struct OpenBundle: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "open-bundle")
        @Argument var directory: String

        func run() throws {
            let before = ProcessMemory.residentKB
            let t0 = monotonicSeconds()
            let bundle = try FeatureBundle.open(directory)
            let t1 = monotonicSeconds()
            let afterOpen = ProcessMemory.residentKB
            let map = try bundle.spatialMap(example: bundle.examples.count / 2)
            let t2 = monotonicSeconds()
            let afterMap = ProcessMemory.residentKB
            let pooled = try bundle.pooledFeatures()
            let t3 = monotonicSeconds()
            precondition(map.rows == 49 && pooled.rows == bundle.examples.count)
            print(try JSONOutput.line([
                "rss_start_kb": before, "open_ms": (t1 - t0) * 1000, "rss_after_open_kb": afterOpen,
                "spatial_map_ms": (t2 - t1) * 1000, "rss_after_spatial_map_kb": afterMap,
                "pooled_all_ms": (t3 - t2) * 1000, "rss_after_pooled_kb": ProcessMemory.residentKB,
                "peak_rss_kb": ProcessMemory.peakKB,
            ]))
        }
    }
}
