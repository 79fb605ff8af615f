import Foundation
import SpurCore
import SpurEngine

/// `bench --suite cam`: true Grad-CAM from a bundle's cached tail input at
/// ViT-B/32's and RN50's sizes (random tails, random inputs: the cost does
/// not depend on the values), as the UI asks for it (one map of one class,
/// upsampled to a 500 × 375 photo) and as `eval` does for AIoU (every
/// class's map against a mask), with the old through-the-head map of the
/// same bundle shape for the ratio.
enum CAMBenchmark {
    struct Tower {
        var name: String
        var kind: CAMTailRecord.Kind
        var width: Int, pooledWidth: Int, embedding: Int, textWidth: Int, heads: Int, hidden: Int?
        var grid: Int
        var tokens: Int { kind == .visionLastBlock ? grid * grid + 1 : grid * grid }
    }

    static let towers = [
        Tower(name: "ViT-B/32", kind: .visionLastBlock, width: 768, pooledWidth: 768, embedding: 512, textWidth: 512,
              heads: 12, hidden: 3072, grid: 7),
        Tower(name: "RN50", kind: .attentionPool, width: 2048, pooledWidth: 1024, embedding: 1024, textWidth: 512,
              heads: 32, hidden: nil, grid: 7),
    ]

    struct Result {
        var tower: String
        /// Bytes per example of `image_tail_input` in f16, and of the tail file.
        var tailInputBytes: Int, tailFileBytes: Int
        /// One map in the UI: read, tail forward and backward, upsample.
        var mapMs: Double
        /// The same for the through-the-head map of a bundle of that shape.
        var throughHeadMs: Double
        /// AIoU (both classes' maps against a 500 × 375 mask) per example.
        var aiouMs: Double
    }

    static func measure(scratch: String, examples: Int, repetitions: Int) throws -> [Result] {
        try towers.map { t in
            let directory = scratch + "-" + t.name.replacingOccurrences(of: "/", with: "")
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try write(t, to: directory, examples: examples)
            let bundle = try FeatureBundle.open(directory)
            let classifier = HeadClassifier(heads: try bundle.pretrainedHeads(), classTemplates: try bundle.classTemplateFeatures(),
                                            templateCount: bundle.manifest.templates.count)
            let cam = try CAMRenderer(bundle: bundle, classifier: classifier)
            guard case .gradCAM = cam.method else { throw InputError(file: directory, "the benchmark bundle has no tail") }
            func medianMs(_ body: (Int) throws -> Void) rethrows -> Double {
                var times: [Double] = []
                for i in 0..<repetitions {
                    let t0 = monotonicSeconds()
                    try body(i % examples)
                    times.append(monotonicSeconds() - t0)
                }
                return 1000 * times.sorted()[times.count / 2]
            }
            _ = try cam.map(example: 0, class: 0, width: 500, height: 375)
            let map = try medianMs { e in _ = try cam.map(example: e, class: 1, width: 500, height: 375) }
            let aiou = try medianMs { e in _ = try cam.aiou(example: e) }

            // The old map of the same shape: image_spatial [H, W, Dv] through the head.
            let old = directory + "-through-head"
            defer { try? FileManager.default.removeItem(atPath: old) }
            try write(t, to: old, examples: min(examples, 64), throughHead: true)
            let oldBundle = try FeatureBundle.open(old)
            let oldCam = try CAMRenderer(bundle: oldBundle, classifier: classifier)
            guard oldCam.method == .throughHead else { throw InputError(file: old, "the benchmark bundle should have no tail") }
            let throughHead = try medianMs { e in _ = try oldCam.map(example: e % min(examples, 64), class: 1, width: 500, height: 375) }
            let tailFile = (try FileManager.default.attributesOfItem(atPath: bundle.path(CAMTailFile.name))[.size] as? Int) ?? 0
            return Result(tower: t.name, tailInputBytes: t.tokens * t.width * 2, tailFileBytes: tailFile,
                          mapMs: map, throughHeadMs: throughHead, aiouMs: aiou)
        }
    }

    /// A bundle of `examples` test examples (one shared 500 × 375 mask) with
    /// a random tail, or with a random `image_spatial` and no tail.
    static func write(_ t: Tower, to directory: String, examples: Int, throughHead: Bool = false) throws {
        let classes = ["landbird", "waterbird"]
        let prompts = classes.flatMap { c in CLIPTemplates.imagenet80.map { FeatureBundle.fill($0, with: c) } }
        var rng = SeededGenerator(seed: 21, purpose: "bench-cam")
        let input = throughHead ? "image_spatial" : CAMTailFile.inputTensor
        let record = CAMTailRecord(kind: t.kind, layer: t.kind == .visionLastBlock ? "vision_model.encoder.layers[-1].layer_norm1" : "visual.layer4",
                                   heads: t.heads, activation: t.kind == .visionLastBlock ? "quick_gelu" : nil,
                                   layerNormEps: t.kind == .visionLastBlock ? 1e-5 : nil)
        try BundleWriter.writeDirectory(directory, overwrite: true) { staging in
            let manifest = BundleManifest(
                model: "bench-\(t.name)", textEncoder: "random",
                dims: .init(imageDim: t.pooledWidth, textDim: t.textWidth, embeddingDim: t.embedding),
                grid: .init(height: t.grid, width: t.grid), pooling: t.kind == .visionLastBlock ? .token : .attention,
                classes: classes, templates: CLIPTemplates.imagenet80, attributes: ["water"],
                tensors: ["image_pooled", input, "text_prompts", "W_v", "W_t", "logit_scale"],
                camTail: throughHead ? nil : record)
            try manifest.write(to: staging + "/" + FeatureBundle.manifestFile)
            var maskPixels = [UInt8](repeating: 0, count: 500 * 375 * 3)
            for y in 100..<300 { for x in 150..<400 { for c in 0..<3 { maskPixels[(y * 500 + x) * 3 + c] = 255 } } }
            try ImageFile.writePNG(RGBImage(width: 500, height: 375, pixels: maskPixels), to: staging + "/mask.png")
            let rows = (0..<examples).map { Example(id: "b\($0)", image: "mask.png", label: $0 % 2, split: .test, mask: "mask.png") }
            try BundleWriter.writeExamples(rows, classes: classes, to: staging + "/" + FeatureBundle.examplesFile)
            try CSVTable.write(header: ["prompt"], rows: prompts.map { [$0] }, to: staging + "/" + FeatureBundle.promptsFile)
            let shape = throughHead ? [examples, t.grid, t.grid, t.pooledWidth] : [examples, t.tokens, t.width]
            let writer = try SafetensorsStreamWriter(path: staging + "/" + FeatureBundle.featuresFile, tensors: [
                .init("image_pooled", .f32, [examples, t.pooledWidth]),
                .init(input, .f16, shape),
                .init("text_prompts", .f32, [prompts.count, t.textWidth]),
                .init("W_v", .f32, [t.embedding, t.pooledWidth]), .init("W_t", .f32, [t.embedding, t.textWidth]),
                .init("logit_scale", .f32, []),
            ])
            for _ in 0..<examples { try writer.append(rng.gaussianMatrix(rows: 1, cols: t.pooledWidth).storage) }
            let perExample = shape.dropFirst().reduce(1, *)
            for _ in 0..<examples { try writer.append(rng.gaussianMatrix(rows: 1, cols: perExample).storage) }
            try writer.append(rng.gaussianMatrix(rows: prompts.count, cols: t.textWidth).storage)
            try writer.append(rng.gaussianMatrix(rows: t.embedding, cols: t.pooledWidth, std: 0.03).storage)
            try writer.append(rng.gaussianMatrix(rows: t.embedding, cols: t.textWidth, std: 0.03).storage)
            try writer.append([logf(100)])
            try writer.finish()
            guard !throughHead else { return }
            var tail = SafetensorsWriter()
            for (name, shape) in CAMTailFile.shapes(t.kind, width: t.width, pooledWidth: t.pooledWidth, tokens: t.grid * t.grid,
                                                    hidden: t.hidden) {
                let s = shape.map { $0! }
                let gain = name.hasPrefix("ln_") && name.hasSuffix(".weight")
                let values = rng.gaussianMatrix(rows: 1, cols: s.reduce(1, *), std: s.count == 2 ? 1 / Float(s[1]).squareRoot() : 0.1).storage
                tail.add(name, shape: s, floats: gain ? values.map { 1 + $0 } : values)
            }
            try tail.write(to: staging + "/" + CAMTailFile.name)
        }
    }
}

extension BenchCommand {
    func runCAMSuite() throws {
        let reps = quick ? 10 : 50
        // Enough distinct examples that reads are not all of one cached page.
        let rows = quick ? 64 : 1_000
        let results = try CAMBenchmark.measure(scratch: NSTemporaryDirectory() + "spurscope-bench-cam-\(getpid())",
                                               examples: rows, repetitions: reps)
        let testSplit = 5_794, waterbirds = 11_788
        if json {
            print(try JSONOutput.line(["blas_core": BLASInfo.coreName, "blas_threads": BLASInfo.threads, "towers": results.map {
                ["tower": $0.tower, "map_ms": $0.mapMs, "through_head_map_ms": $0.throughHeadMs, "aiou_ms": $0.aiouMs,
                 "aiou_test_split_s": $0.aiouMs * Double(testSplit) / 1000, "tail_input_bytes_per_image": $0.tailInputBytes,
                 "tail_file_bytes": $0.tailFileBytes, "waterbirds_tail_input_bytes": $0.tailInputBytes * waterbirds] as [String: Any]
            }]))
            return
        }
        print("OpenBLAS core \(BLASInfo.coreName), \(BLASInfo.threads) threads; random tails and inputs, 2 classes, medians of \(reps)")
        for r in results {
            print("\(r.tower):")
            print(String(format: "  one map in the UI (read, tail forward + backward, upsample to 500×375): %7.2f ms", r.mapMs))
            print(String(format: "  the old through-the-head map of the same bundle shape:                %7.2f ms  (%.1f× faster, not Grad-CAM)",
                         r.throughHeadMs, r.mapMs / r.throughHeadMs))
            print(String(format: "  AIoU of one example (both classes' maps against a 500×375 mask):     %7.2f ms; the %d-image test split: %.1f s",
                         r.aiouMs, testSplit, r.aiouMs * Double(testSplit) / 1000))
            print(String(format: "  bundle size: image_tail_input %.1f KB per image in f16 (Waterbirds' %d: %.2f GB), cam_tail.safetensors %.1f MB",
                         Double(r.tailInputBytes) / 1000, waterbirds, Double(r.tailInputBytes * waterbirds) / 1e9, Double(r.tailFileBytes) / 1e6))
        }
    }
}
