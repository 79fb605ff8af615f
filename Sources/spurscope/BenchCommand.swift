import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure BLAS peak, training steps, CLIP's towers and extraction on this machine (--suite).",
        discussion: """
        Reports the OpenBLAS kernel and thread count with every figure, the sgemm peak \
        measured in this run, and one training step of the paper's objective \
        (clip + vc + lc + vs + ls, batch 128, 2 classes × 80 templates, SGD update) at \
        CLIP RN50 and ViT-L/14 projection sizes on random features. Speeds are quoted as \
        ratios to the sgemm peak of the same run: absolute times on shared machines are noisy. \
        Other suites (--suite) time bundles, the audit, training epochs, UI frames, CLIP's text \
        and image towers (against PyTorch when .venv-extract exists) and a Waterbirds-sized extraction.
        """)

    @Flag(name: .long, help: "Print one JSON object instead of a report.")
    var json = false

    @Flag(name: .long, help: "Fewer repetitions (a smoke run, for the demo).")
    var quick = false

    @Option(name: .long, help: "Timed training steps per model size.")
    var steps: Int = 20

    @Option(name: .long, help: "What to measure: step (BLAS peak and training step), bundle (open a 2.4 GB bundle, in child processes) audit (δ ranking at ImageNet scale), train (epochs on the default bundle and at Waterbirds scale), ui (frame times), text (CLIP's tokenizer and text tower at ViT-B/32 size), image (ViT-B/32 and RN50 image towers against PyTorch, and their memory by batch size), extract (`spurscope extract` over a Waterbirds-sized folder of JPEGs, stage by stage) or cam (Grad-CAM from the cached tail at ViT-B/32 and RN50 sizes).")
    var suite: String = "step"

    @Option(name: .long, help: "Where the bundle, image and extract suites write their files (removed afterwards unless --keep).")
    var scratch: String?

    @Option(name: .long, help: "Examples in the bundle suite's bundle (default 12,000) or the extract suite's folder (default 11,788, Waterbirds').")
    var examples: Int?

    @Flag(name: .long, help: "Keep the bundle suite's bundle (the image suite's checkpoints, the extract suite's folder and checkpoint) for the next run.")
    var keep = false

    @Option(name: .long, help: "Images per forward pass in the image and extract suites.")
    var batch: Int = 32

    @Flag(name: .long, help: .hidden)   // tests: 64-pixel towers instead of ViT-B/32 and RN50, no PyTorch
    var tiny = false

    static let suites = ["step", "bundle", "audit", "train", "ui", "text", "image", "extract", "cam", "report"]

    func run() throws {
        guard steps >= 1 else { throw InputError(file: "--steps", "is \(steps), expected at least 1") }
        guard batch >= 1 else { throw InputError(file: "--batch", "is \(batch), expected at least 1") }
        switch suite {
        case "step": try runStepSuite()
        case "bundle": try runBundleSuite()
        case "audit": try runAuditSuite()
        case "train": try runTrainSuite()
        case "ui": try runUISuite()
        case "text": try runTextSuite()
        case "cam": try runCAMSuite()
        case "report": try runReportSuite()
        case "image": try runImageSuite()
        case "extract": try runExtractSuite()
        default:
            throw InputError(file: "--suite", "'\(suite)' is not a suite (expected \(Self.suites.dropLast().joined(separator: ", ")) or \(Self.suites.last!))")
        }
    }

    func runReportSuite() throws {
        let sample = FileManager.default.fileExists(atPath: bundle + "/" + FeatureBundle.manifestFile) ? bundle : nil
        if sample == nil { FileHandle.standardError.write(Data("\(bundle) not found (make sample builds it): skipping its row\n".utf8)) }
        let rows = try ReportBenchmark.measure(sample: sample, scratch: scratch ?? NSTemporaryDirectory() + "spurscope-bench-report-\(getpid())")
        for r in rows {
            if json {
                print(try JSONOutput.line(["name": r.name, "examples": r.examples, "seconds": r.seconds, "bytes": r.bytes, "files": r.files]))
            } else {
                print(String(format: "report, %@ (%d examples): %.2f s, %d files, %.1f kB", r.name, r.examples, r.seconds, r.files, Double(r.bytes) / 1000))
            }
        }
    }

    @Option(name: .long, help: "The bundle suite's generated bundles for timing commands' start, comma-separated sizes, or none to skip that part (default 100000,1280000; with --quick 100000).")
    var commandExamples: String?

    func commandSizes() throws -> [Int]? {
        let text = commandExamples ?? (quick ? "100000" : "100000,1280000")
        if text == "none" { return nil }
        return try text.split(separator: ",").map { part in
            guard let n = Int(part), n >= 1 else { throw InputError(file: "--command-examples", "'\(part)' is not a positive number of examples") }
            return n
        }
    }

    func runBundleSuite() throws {
        let examples = self.examples ?? 12_000
        guard examples >= 1 else { throw InputError(file: "--examples", "is \(examples), expected at least 1") }
        let r = try BundleBenchmark.measure(directory: scratch ?? NSTemporaryDirectory() + "spurscope-bench-bundle", examples: examples, keep: keep)
        let p = r.probe
        let starts = try commandSizes() == nil ? [] : CommandStartBenchmark.measure(
            sample: FileManager.default.fileExists(atPath: bundle) ? bundle : nil,
            sizes: try commandSizes(),
            scratch: scratch ?? NSTemporaryDirectory() + "spurscope-bench-commands", keep: keep)
        if json {
            var object: [String: Any] = ["examples": r.examples, "file_bytes": r.fileBytes]
            for (k, v) in p { object[k] = v }
            if !starts.isEmpty { object["commands"] = starts.map { s -> [String: Any] in
                ["bundle": s.name, "examples": s.examples, "detections": s.detections,
                 "command_ms": s.commandMs, "open_csv_ms": s.openCSVMs, "open_cached_ms": s.openCachedMs,
                 "legacy_examples_parse_ms": s.legacyParseMs, "legacy_scaled": s.legacyScaled,
                 "legacy_over_cached_open": s.legacyParseMs / s.openCachedMs]
            } }
            print(try JSONOutput.line(object))
            return
        }
        let mb = { (kb: Double) in String(format: "%.1f MB", kb / 1024) }
        print(String(format: "bundle: %d examples, RN50 sizes (7×7×2048 f16 maps), features.safetensors %.2f GB",
                     r.examples, Double(r.fileBytes) / 1e9))
        print(String(format: "open (manifest, CSVs, safetensors header):  %8.1f ms   RSS %@ → %@",
                     p["open_ms"]!, mb(p["rss_start_kb"]!), mb(p["rss_after_open_kb"]!)))
        print(String(format: "read one spatial map (49×2048):             %8.3f ms   RSS %@",
                     p["spatial_map_ms"]!, mb(p["rss_after_spatial_map_kb"]!)))
        print(String(format: "read all pooled features (%d×2048 f32):  %8.1f ms   RSS %@",
                     r.examples, p["pooled_all_ms"]!, mb(p["rss_after_pooled_kb"]!)))
        print("peak RSS of the probe: \(mb(p["peak_rss_kb"]!))")
        if starts.isEmpty { return }
        print("")
        print("starting commands (whole processes, median of 5, ms) and opening for the audit (child process, ms)")
        print("bundle             examples   --help  decisions     mark     info   open: CSV  cached   CSV.swift examples.csv (before)  ratio")
        for s in starts {
            print(s.name.padding(toLength: 17, withPad: " ", startingAt: 0)
                  + String(format: " %9d %8.1f %10.1f %8.1f %8.1f %11.1f %7.1f %14.0f%@ %13.0f×", s.examples,
                           s.commandMs["--help"]!, s.commandMs["decisions"]!, s.commandMs["mark"]!, s.commandMs["info"]!,
                           s.openCSVMs, s.openCachedMs, s.legacyParseMs, s.legacyScaled ? " (scaled)" : "         ",
                           s.legacyParseMs / s.openCachedMs))
        }
        for s in starts { print("  \(s.name): detections in \(s.detections)") }
    }

    @Option(name: .long, help: "The bundle the train suite times epochs on (default: the sample bundle).")
    var bundle: String = "sample-data/waterbirds-synth"

    func runTrainSuite() throws {
        var rows: [TrainBenchmark.Row] = []
        let epochs = quick ? 2 : 3
        if FileManager.default.fileExists(atPath: bundle + "/" + FeatureBundle.manifestFile) {
            let b = try FeatureBundle.open(bundle)
            for m in [Method.erm, .groupDRO, .oursLS, .oursVS] {
                rows.append(try TrainBenchmark.measure(bundle: b, method: m, epochs: epochs, name: "default bundle"))
            }
        } else {
            FileHandle.standardError.write(Data("\(bundle) not found (make sample builds it): skipping the default-bundle rows\n".utf8))
        }
        let dir = NSTemporaryDirectory() + "spurscope-bench-waterbirds-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = try TrainBenchmark.waterbirdsScaleBundle(at: dir)
        for m in [Method.erm, .oursLS, .oursVS] {
            rows.append(try TrainBenchmark.measure(bundle: big, method: m, epochs: epochs, name: "Waterbirds scale, RN50 sizes"))
        }
        if json {
            print(try JSONOutput.line(["blas_core": BLASInfo.coreName, "blas_threads": BLASInfo.threads, "rows": rows.map {
                ["data": $0.name, "method": $0.method.rawValue, "train_examples": $0.trainExamples, "steps_per_epoch": $0.stepsPerEpoch,
                 "epoch_s": $0.epochSeconds, "validation_s": $0.evalSeconds, "epochs_per_s": 1 / ($0.epochSeconds + $0.evalSeconds)] as [String: Any]
            }]))
            return
        }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads; batch 128; median of \(epochs) epochs")
        print("data                           method     train  steps  epoch s  validation s  epochs/s")
        for r in rows {
            print(r.name.padding(toLength: 30, withPad: " ", startingAt: 0) + " " + r.method.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                  + String(format: " %6d %6d %8.3f %13.3f %9.2f", r.trainExamples, r.stepsPerEpoch, r.epochSeconds, r.evalSeconds,
                           1 / (r.epochSeconds + r.evalSeconds)))
        }
    }

    @Option(name: .long, help: ArgumentHelp("The text suite's tokenizer vocabulary (default: openai-clip's in .venv-extract, else bytes).", valueName: "PATH"))
    var vocab: String?

    func runTextSuite() throws {
        let reps = quick ? 2 : 5
        let peak = SgemmPeak.measure(size: 2048, repetitions: reps)
        let r = try TextBenchmark.measure(scratch: NSTemporaryDirectory() + "spurscope-bench-text-\(getpid())", vocab: vocab, repetitions: reps)
        let gflops = r.batchFLOPs / r.batchSeconds / 1e9
        let unsharedGFLOPs = r.unsharedFLOPs / r.unsharedSeconds / 1e9
        if json {
            print(try JSONOutput.line([
                "blas_core": BLASInfo.coreName, "blas_threads": BLASInfo.threads, "sgemm_peak_gflops": peak.gflops,
                "vocabulary": r.vocabulary, "load_s": r.loadSeconds, "verdict_s": r.verdictSeconds, "verdict_tokens": r.verdictTokens,
                "batch_prompts": r.batchPrompts, "batch_tokens": r.batchTokens, "batch_s": r.batchSeconds,
                "prompts_per_s": Double(r.batchPrompts) / r.batchSeconds, "gflops": gflops, "ratio_to_peak": gflops / peak.gflops,
                "tokenize_s": r.tokenizeSeconds, "unshared_batch_s": r.unsharedSeconds, "unshared_gflops": unsharedGFLOPs,
                "unshared_ratio_to_peak": unsharedGFLOPs / peak.gflops, "verdict_floor_at_peak_s": r.verdictFloorFLOPs / peak.gflops / 1e9,
            ]))
            return
        }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads")
        print(String(format: "sgemm peak (%d³, best of %d): %.1f GFLOP/s", peak.size, reps, peak.gflops))
        print("text tower at ViT-B/32 size (width 512, 12 layers, 8 heads), random weights; vocabulary: \(r.vocabulary)")
        print(String(format: "  load (weights mapped):                          %7.3f s", r.loadSeconds))
        print(String(format: "  one phrase × 80 templates, tokenized + encoded: %7.3f s   (%d tokens, best of %d)", r.verdictSeconds, r.verdictTokens, reps))
        print(String(format: "  %d prompts (%d tokens) through the tower:     %7.3f s   %.0f prompts/s, %.1f GFLOP/s, %.0f%% of peak",
                     r.batchPrompts, r.batchTokens, r.batchSeconds, Double(r.batchPrompts) / r.batchSeconds, gflops, 100 * gflops / peak.gflops))
        print(String(format: "  the same, every row computed (no shared prefixes): %7.3f s   %.0f prompts/s, %.1f GFLOP/s, %.0f%% of peak",
                     r.unsharedSeconds, Double(r.batchPrompts) / r.unsharedSeconds, unsharedGFLOPs, 100 * unsharedGFLOPs / peak.gflops))
        print(String(format: "  tokenizing them (cold word cache):              %7.3f s", r.tokenizeSeconds))
        print(String(format: "  one phrase × 80 templates at the sgemm peak would take %.3f s (%.1f GFLOP after sharing)",
                     r.verdictFloorFLOPs / peak.gflops / 1e9, r.verdictFloorFLOPs / 1e9))
    }

    func runUISuite() throws {
        let r = try UIBenchmark.measure(bundle: bundle)
        if json {
            print(try JSONOutput.line(["attributes_frame_ms": r.attributesMs, "key_and_frame_ms": r.keyAndFrameMs,
                                       "preview_frame_ms": r.previewMs, "new_preview_frame_ms": r.newPreviewMs, "frames": r.frames]))
            return
        }
        print("UI frames (120×40 cell grid, median of \(r.frames); drawing to ncurses not included)")
        print(String(format: "  Attributes screen, 10,000 ranked rows:      %7.2f ms", r.attributesMs))
        print(String(format: "  the same after a key (↓ or PgDn):            %7.2f ms", r.keyAndFrameMs))
        print(String(format: "  Preview, a new 224×224 image + heatmap:      %7.2f ms", r.newPreviewMs))
        print(String(format: "  Preview, the same picture again:              %7.2f ms", r.previewMs))
    }

    func runAuditSuite() throws {
        let dir = NSTemporaryDirectory() + "spurscope-bench-audit-\(getpid())"
        let r = quick ? try AuditBenchmark.measure(examples: 128_000, classes: 100, attributes: 300, naiveSample: 5, scratch: dir)
                      : try AuditBenchmark.measure(scratch: dir)
        if json {
            print(try JSONOutput.line([
                "examples": r.examples, "classes": r.classes, "attributes": r.attributes, "detections": r.detections,
                "file_bytes": r.fileBytes, "write_s": r.writeSeconds,
                "cold_read_s": r.coldRead.seconds, "cold_resident_before": r.coldRead.residentBefore,
                "warm_read_s": r.warmRead.seconds, "warm_resident_before": r.warmRead.residentBefore,
                "rows": r.rows, "presence_s": r.presenceSeconds, "table_s": r.tableSeconds, "rank_s": r.rankSeconds,
                "audit_s": r.auditSeconds, "cold_total_s": r.coldTotalSeconds, "warm_total_s": r.warmTotalSeconds,
                "csv_examples": r.csvExamples, "csv_detections": r.csvDetections, "csv_bytes": r.csvBytes,
                "csv_read_s": r.csvReadSeconds, "binary_slice_read_s": r.binarySliceReadSeconds,
                "csv_over_binary": r.csvReadSeconds / r.binarySliceReadSeconds,
                "naive_s_per_attribute": r.naiveSecondsPerAttribute,
                "naive_attributes_timed": r.naiveAttributesTimed, "naive_total_s": r.naiveSeconds,
                "speedup": r.naiveSeconds / r.warmTotalSeconds,
            ]))
            return
        }
        print("δ ranking: \(r.examples) examples, \(r.classes) classes, \(r.attributes) attributes, \(r.detections) detections")
        print(String(format: "  detections.safetensors: %.1f MB, written and fsynced in %.3f s", Double(r.fileBytes) / 1e6, r.writeSeconds))
        print(String(format: "  read + check, first (%3.0f%% of pages cached before): %7.3f s", 100 * r.coldRead.residentBefore, r.coldRead.seconds))
        print(String(format: "  read + check, again (%3.0f%% of pages cached before): %7.3f s", 100 * r.warmRead.residentBefore, r.warmRead.seconds))
        print(String(format: "  presence (one scan of the rows, dedupe):        %7.3f s", r.presenceSeconds))
        print(String(format: "  discrepancy table (one pass):                   %7.3f s   %d rows with 10+ on both sides", r.tableSeconds, r.rows))
        print(String(format: "  ranking:                                        %7.3f s", r.rankSeconds))
        print(String(format: "  total with the first read:                      %7.3f s", r.coldTotalSeconds))
        print(String(format: "  total with the second read:                     %7.3f s", r.warmTotalSeconds))
        print(String(format: "attributes.csv for %d examples (%d rows, %.1f MB): parse %.3f s, the same in binary %.4f s → %.0f× faster",
                     r.csvExamples, r.csvDetections, Double(r.csvBytes) / 1e6, r.csvReadSeconds, r.binarySliceReadSeconds,
                     r.csvReadSeconds / r.binarySliceReadSeconds))
        print(String(format: "naive per-attribute scan: %.3f s per attribute (%d timed) → %.0f s for all %d",
                     r.naiveSecondsPerAttribute, r.naiveAttributesTimed, r.naiveSeconds, r.attributes))
        print(String(format: "one pass is %.0f× faster than the naive scan", r.naiveSeconds / r.warmTotalSeconds))
    }

    func runStepSuite() throws {
        let reps = quick ? 2 : 5
        let peak = SgemmPeak.measure(size: 2048, repetitions: reps)
        let sizes: [StepBenchmark.Size] = [
            .init(name: "RN50", imageDim: 2048, textDim: 512, embeddingDim: 1024),
            .init(name: "ViT-L/14", imageDim: 1024, textDim: 768, embeddingDim: 768),
        ]
        let results = sizes.map { StepBenchmark.measure($0, steps: quick ? 3 : steps) }

        if json {
            let object: [String: Any] = [
                "blas_core": BLASInfo.coreName,
                "blas_threads": BLASInfo.threads,
                "sgemm_peak_gflops": peak.gflops,
                "training_step": results.map { r -> [String: Any] in
                    ["model": r.size.name, "batch": r.batch, "templates": r.templates,
                     "step_ms": r.stepSeconds * 1000, "objective_ms": r.objectiveSeconds * 1000,
                     "optimizer_ms": r.optimizerSeconds * 1000,
                     "examples_per_s": Double(r.batch) / r.stepSeconds,
                     "gflop_per_step": r.flops / 1e9, "gflops": r.gflops,
                     "ratio_to_peak": r.gflops / peak.gflops]
                },
            ]
            print(try JSONOutput.line(object))
            return
        }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads")
        print(String(format: "sgemm peak (%d³, best of %d): %.1f GFLOP/s", peak.size, reps, peak.gflops))
        print("")
        print("training step: clip+vc+lc+vs+ls, batch 128, 2 classes × 80 templates, SGD")
        print("model      step ms  (objective / optimizer)  examples/s  GFLOP/step  GFLOP/s  of peak")
        for r in results {
            print(r.size.name.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: " %8.2f  (%7.2f / %6.2f)       %10.0f  %10.2f  %7.1f  %6.1f%%",
                         r.stepSeconds * 1000, r.objectiveSeconds * 1000,
                         r.optimizerSeconds * 1000, Double(r.batch) / r.stepSeconds, r.flops / 1e9,
                         r.gflops, 100 * r.gflops / peak.gflops))
        }
    }
}

func monotonicSeconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// The best sgemm rate of this run: the yardstick every other figure is divided by.
enum SgemmPeak {
    struct Result { var size: Int; var gflops: Double }

    static func measure(size n: Int, repetitions: Int) -> Result {
        var rng = SeededGenerator(seed: 1, purpose: "bench-sgemm")
        let a = rng.gaussianMatrix(rows: n, cols: n)
        let b = rng.gaussianMatrix(rows: n, cols: n)
        var c = Matrix(rows: n, cols: n)
        Matrix.gemm(a, b, into: &c)   // warm-up: threads started, pages touched
        var best = Double.infinity
        for _ in 0..<repetitions {
            let t0 = monotonicSeconds()
            Matrix.gemm(a, b, into: &c)
            best = min(best, monotonicSeconds() - t0)
        }
        return Result(size: n, gflops: 2 * Double(n * n * n) / best / 1e9)
    }
}

/// One optimisation step of the paper's objective at a model's projection sizes.
enum StepBenchmark {
    struct Size { var name: String; var imageDim: Int; var textDim: Int; var embeddingDim: Int }

    struct Result {
        var size: Size
        var batch: Int
        var templates: Int
        var stepSeconds: Double       // median over the timed steps
        var objectiveSeconds: Double  // median, forward + backward
        var optimizerSeconds: Double  // median, SGD update
        var flops: Double
        var gflops: Double { flops / stepSeconds / 1e9 }
    }

    static func measure(_ size: Size, steps: Int, batch b: Int = 128, classes c: Int = 2, templates k: Int = 80) -> Result {
        var rng = SeededGenerator(seed: 7, purpose: "bench-step-\(size.name)")
        let (dv, dt, e) = (size.imageDim, size.textDim, size.embeddingDim)
        let labels = (0..<b).map { $0 % c }
        let batch = LossBatch(
            images: rng.gaussianMatrix(rows: b, cols: dv),
            labels: labels,
            attributes: (0..<b).map { ($0 / c) % 2 },
            captions: rng.gaussianMatrix(rows: b, cols: dt),
            classTemplates: rng.gaussianMatrix(rows: c * k, cols: dt),
            groupTemplates: rng.gaussianMatrix(rows: c * 2 * k, cols: dt),
            classCount: c, templateCount: k)
        var heads = ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv, std: 1 / Float(dv).squareRoot()),
                                    text: rng.gaussianMatrix(rows: e, cols: dt, std: 1 / Float(dt).squareRoot()),
                                    logitScale: logf(1 / 0.07))
        let objective = Objective(terms: LossTerm.contrastive)
        var optimizer = SGD(learningRate: 1e-5, momentum: 0.9, weightDecay: 1e-4)
        var stepTimes: [Double] = [], objectiveTimes: [Double] = [], optimizerTimes: [Double] = []
        for i in 0..<(steps + 2) {   // two warm-up steps
            let t0 = monotonicSeconds()
            let r = objective.evaluate(heads, on: batch)
            let t1 = monotonicSeconds()
            optimizer.step(&heads, gradients: r.gradients)
            let t2 = monotonicSeconds()
            if i >= 2 {
                stepTimes.append(t2 - t0); objectiveTimes.append(t1 - t0); optimizerTimes.append(t2 - t1)
            }
        }
        return Result(size: size, batch: b, templates: k,
                      stepSeconds: median(stepTimes), objectiveSeconds: median(objectiveTimes),
                      optimizerSeconds: median(optimizerTimes),
                      flops: gemmFlops(b: b, c: c, k: k, dv: dv, dt: dt, e: e))
    }

    /// Floating-point operations of the step's matrix products, counted from
    /// the shapes (2·m·n·k each): the projections forward and their weight
    /// gradients, plus each term's similarity matrix and its two backward products.
    static func gemmFlops(b: Int, c: Int, k: Int, dv: Int, dt: Int, e: Int) -> Double {
        let texts = b + c * k + 2 * c * k
        let projections = 2.0 * 2 * Double(e) * (Double(b * dv) + Double(texts * dt))
        func similarity(_ n: Int) -> Double { 3 * 2 * Double(n * n * e) }
        let terms = similarity(b) /* clip */ + 2 * similarity(b) /* vc, vs */
            + similarity(c * k) /* lc */ + similarity(2 * c * k) /* ls */
        return projections + terms
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
