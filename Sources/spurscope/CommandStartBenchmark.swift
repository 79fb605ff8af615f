import ArgumentParser
import CSV
import Foundation
import SpurCore

/// How long commands take before they do their work, on bundles of 7 k
/// (the sample), 100 k and 1.28 M examples (issue 25): `mark`, `decisions`,
/// `info` and `--help` as whole processes of this binary (median of five),
/// and opening the bundle for the audit (examples table, detections,
/// prompts, header) in a child process, first with no examples cache (the
/// CSV parsed, the cache written) and then with it. The reference ("before")
/// is CSV.swift's character-by-character decoding of `examples.csv`, which
/// every command did before the cache: timed on the file (on 128 k rows of
/// it, scaled, for the 1.28 M bundle: the whole would take a minute).
enum CommandStartBenchmark {
    struct Row {
        var name: String
        var examples: Int
        var commandMs: [String: Double]
        var openCSVMs: Double, openCachedMs: Double
        var legacyParseMs: Double, legacyScaled: Bool
        var detections: String
    }

    static let commands = ["--help", "decisions", "mark", "info"]

    static func measure(sample: String?, sizes: [Int]?, scratch: String, keep: Bool) throws -> [Row] {
        let sizes = sizes ?? []
        var rows: [Row] = []
        if let sample, FileManager.default.fileExists(atPath: sample + "/" + FeatureBundle.manifestFile) {
            rows.append(try measure(name: "sample bundle", directory: sample, detections: "attributes.csv"))
        }
        for n in sizes {
            let dir = scratch + "/commands-\(n)"
            let binary = n >= 1_000_000
            if !FileManager.default.fileExists(atPath: dir + "/" + FeatureBundle.featuresFile) {
                try BundleBenchmark.runChild(["bench-probe", "make-wide-bundle", dir, "--examples", String(n)]
                                             + (binary ? ["--binary-detections"] : []))
            }
            defer { if !keep { try? FileManager.default.removeItem(atPath: dir) } }
            rows.append(try measure(name: "\(n) examples", directory: dir,
                                    detections: binary ? "detections.safetensors, 10 per example" : "attributes.csv, 3 per example"))
        }
        return rows
    }

    static func measure(name: String, directory: String, detections: String) throws -> Row {
        let workspace = NSTemporaryDirectory() + "spurscope-bench-commands-ws-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: workspace) }
        // The first open after the cache is removed parses the CSV and writes the cache.
        try? FileManager.default.removeItem(atPath: ExamplesCache.path(directory: directory))
        let csvOpen = try probe(directory)
        let cachedOpen = try probe(directory)
        guard cachedOpen.outcome == ExamplesCache.Outcome.used.rawValue else {
            throw InputError(file: directory, "the examples cache was not used on the second open (\(cachedOpen.outcome))")
        }
        let manifest = try FeatureBundle.openManifest(directory)
        let arguments: [String: [String]] = [
            "--help": ["--help"], "decisions": ["decisions", directory, "--workspace", workspace],
            "mark": ["mark", directory, "--class", manifest.classes[0], "--attribute", manifest.attributes[0],
                     "--verdict", "undecided", "--workspace", workspace],
            "info": ["info", directory],
        ]
        var times: [String: Double] = [:]
        for c in commands { times[c] = try median(5) { try runQuiet(arguments[c]!) } * 1000 }

        let csv = directory + "/" + FeatureBundle.examplesFile
        let lines = try lineCount(csv)
        let limit = 128_001
        let (seconds, rowsRead) = try legacyParse(csv, maxRows: lines > limit ? limit - 1 : nil)
        let scale = Double(lines - 1) / Double(max(rowsRead, 1))
        return Row(name: name, examples: lines - 1, commandMs: times, openCSVMs: csvOpen.ms, openCachedMs: cachedOpen.ms,
                   legacyParseMs: seconds * scale * 1000, legacyScaled: lines > limit, detections: detections)
    }

    static func probe(_ directory: String) throws -> (ms: Double, outcome: String) {
        let out = try BundleBenchmark.runChild(["bench-probe", "open-audit", directory])
        guard let o = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any],
              let ms = o["open_ms"] as? Double, let outcome = o["examples_cache"] as? String else {
            throw InputError(file: directory, "the probe printed no measurements")
        }
        return (ms, outcome)
    }

    static func runQuiet(_ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw InputError(file: arguments.joined(separator: " "), "exited with status \(p.terminationStatus)")
        }
    }

    static func median(_ n: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<n {
            let t0 = monotonicSeconds()
            try body()
            times.append(monotonicSeconds() - t0)
        }
        return times.sorted()[n / 2]
    }

    static func lineCount(_ path: String) throws -> Int {
        let f = try MappedFile(path: path)
        return f.withBytes(0..<f.size) { raw in raw.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } }
    }

    /// The reader every command used before: the file decoded to a String,
    /// then CSV.swift row by row.
    static func legacyParse(_ path: String, maxRows: Int?) throws -> (seconds: Double, rows: Int) {
        let t0 = monotonicSeconds()
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: path, "cannot be read")
        }
        var end = text.endIndex
        if let maxRows {
            var seen = 0
            if let cut = text.utf8.firstIndex(where: { c in
                if c == 0x0A { seen += 1 }
                return seen > maxRows
            }) { end = cut }
        }
        let reader = try CSVReader(string: String(text[..<end]), hasHeaderRow: true, trimFields: true)
        var rows = 0
        while reader.next() != nil { rows += 1 }
        return (monotonicSeconds() - t0, rows)
    }
}

extension BenchProbeCommand {
    /// A bundle of many examples and narrow features (Dv = Dt = E = 8, no
    /// spatial maps): what it costs to start is the examples' and
    /// detections' business, not the features'. Classes: 1,000 from 1 M
    /// examples (ImageNet), else N / 1,280; 80 templates; 3,000 attributes;
    /// one ground-truth column.
    struct MakeWideBundle: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "make-wide-bundle")
        @Argument var directory: String
        @Option var examples: Int = 100_000
        @Flag var binaryDetections = false

        func run() throws {
            let n = examples, d = 8
            let classCount = n >= 1_000_000 ? 1000 : max(2, n / 1280)
            let classes = (0..<classCount).map { "class \($0)" }
            let vocabulary = (0..<3000).map { "attribute \($0)" }
            let templates = CLIPTemplates.imagenet80
            let prompts = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
            var rng = SeededGenerator(seed: 25, purpose: "bench-commands")
            try BundleWriter.writeDirectory(directory, overwrite: true) { staging in
                var manifest = BundleManifest(
                    model: "bench-wide", textEncoder: "random", dims: .init(imageDim: d, textDim: d, embeddingDim: d),
                    grid: .init(height: 1, width: 1), pooling: .mean, classes: classes, templates: templates,
                    attributes: vocabulary, tensors: ["image_pooled", "text_prompts", "W_v", "W_t", "logit_scale"])
                if binaryDetections { manifest.detections = DetectionsFile.defaultName }
                try manifest.write(to: staging + "/" + FeatureBundle.manifestFile)
                // Written directly: no field needs quoting, and CSV.swift's writer is slow at this size.
                let splits = ["train", "val", "test"]
                var csv = "id,image,label,split,attr:water\n"
                var labels = [Int](repeating: 0, count: n)
                for i in 0..<n {
                    labels[i] = Int(rng.next() % UInt64(classCount))
                    csv += "e\(i),images/\(i / 1000)/\(i).jpg,class \(labels[i]),\(splits[i % 3]),\(rng.next() % 2)\n"
                }
                try AtomicFile.write(Data(csv.utf8), to: staging + "/" + FeatureBundle.examplesFile)
                if binaryDetections {
                    var attrs = [Int32](), scores = [Float]()
                    attrs.reserveCapacity(n * 10)
                    scores.reserveCapacity(n * 10)
                    for e in 0..<n {
                        for k in 0..<10 {
                            attrs.append(Int32((labels[e] * 7 + k * 31 + Int(rng.next() % 20)) % vocabulary.count))
                            scores.append(Float(rng.next() % 1000) / 1000)
                        }
                    }
                    try DetectionsFile.write(DetectionTable(offsets: (0...n).map { $0 * 10 }, attributes: attrs, scores: scores),
                                             vocabulary: vocabulary, to: staging + "/" + DetectionsFile.defaultName)
                } else {
                    var text = "id,attribute,score\n"
                    for e in 0..<n {
                        for k in 0..<3 {
                            text += "e\(e),attribute \((labels[e] * 7 + k * 31) % vocabulary.count),0.\(rng.next() % 1000)\n"
                        }
                    }
                    try AtomicFile.write(Data(text.utf8), to: staging + "/" + FeatureBundle.attributesFile)
                }
                try CSVTable.write(header: ["prompt"], rows: prompts.map { [$0] }, to: staging + "/" + FeatureBundle.promptsFile)
                let writer = try SafetensorsStreamWriter(path: staging + "/" + FeatureBundle.featuresFile, tensors: [
                    .init("image_pooled", .f32, [n, d]), .init("text_prompts", .f32, [prompts.count, d]),
                    .init("W_v", .f32, [d, d]), .init("W_t", .f32, [d, d]), .init("logit_scale", .f32, []),
                ])
                try writer.append(rng.gaussianMatrix(rows: n, cols: d).storage)
                try writer.append(rng.gaussianMatrix(rows: prompts.count, cols: d).storage)
                try writer.append(rng.gaussianMatrix(rows: d, cols: d).storage)
                try writer.append(rng.gaussianMatrix(rows: d, cols: d).storage)
                try writer.append([logf(100)])
                try writer.finish()
            }
        }
    }

    /// Opens a bundle as `detect` does and makes its `Example` values; prints
    /// the time and whether the examples cache was used.
    struct OpenAudit: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "open-audit")
        @Argument var directory: String

        func run() throws {
            let t0 = monotonicSeconds()
            let report = BundleCheck.run(directory: directory, deep: false)
            guard let b = report.bundle else { throw report.problems.first ?? InputError(file: directory, "did not open") }
            let examples = b.examples.count
            let t1 = monotonicSeconds()
            print(try JSONOutput.line(["open_ms": (t1 - t0) * 1000, "examples": examples,
                                       "detections": b.detectionTable.count,
                                       "examples_cache": report.examplesCache?.rawValue ?? "none",
                                       "peak_rss_kb": ProcessMemory.peakKB]))
        }
    }
}
