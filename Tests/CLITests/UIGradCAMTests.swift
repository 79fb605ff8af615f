import Foundation
import Testing
import SpurCore
import SpurEngine

/// A bundle shaped like one `spurscope extract` makes from a ViT: token
/// pooling, no `image_spatial`, and the Grad-CAM tail (the last block and
/// `ln_post`, random, 2 heads) with each example's input to it. Its
/// `image_pooled` is the tail's own output, so `validate` passes the
/// consistency check as an extracted bundle does. Pictures, masks and the
/// 3 × 4 grid are NonSquareBundle's.
enum TailBundle {
    static func write(_ name: String, copies: Int) throws -> String {
        let dir = try NonSquareBundle.write(name, copies: copies) { c in
            c.spatial = nil
            c.manifest.tensors.removeAll { $0 == "image_spatial" }
            c.manifest.pooling = .token
        }
        var manifest = try BundleManifest.read(path: dir + "/" + FeatureBundle.manifestFile)
        let d = manifest.dims.imageDim, cells = manifest.grid.height * manifest.grid.width
        var rng = SeededGenerator(seed: 31)
        var tail = SafetensorsWriter()
        for (name, shape) in CAMTailFile.shapes(.visionLastBlock, width: d, pooledWidth: d, tokens: cells, hidden: 2 * d) {
            let s = shape.map { $0! }
            let values = (0..<s.reduce(1, *)).map { _ in rng.nextGaussian() / Float(s.count == 2 ? s[1] : 3).squareRoot() }
            tail.add(name, shape: s, floats: name.hasPrefix("ln_") && name.hasSuffix(".weight") ? values.map { 1 + $0 } : values)
        }
        try tail.write(to: dir + "/" + CAMTailFile.name)
        manifest.camTail = CAMTailRecord(kind: .visionLastBlock, layer: "vision_model.encoder.layers[-1].layer_norm1", heads: 2,
                                         activation: "quick_gelu", layerNormEps: 1e-5)
        manifest.tensors.insert(CAMTailFile.inputTensor, at: 1)
        try manifest.write(to: dir + "/" + FeatureBundle.manifestFile)

        let featuresPath = dir + "/" + FeatureBundle.featuresFile
        let old = try SafetensorsFile(path: featuresPath)
        let n = try old.info("image_pooled").shape[0]
        let input = (0..<(n * (cells + 1) * d)).map { _ in rng.nextGaussian() }
        func rewrite(pooled: [Float]) throws {
            var w = SafetensorsWriter()
            w.add("image_pooled", shape: [n, d], floats: pooled)
            w.add(CAMTailFile.inputTensor, shape: [n, cells + 1, d], floats: input)
            for name in ["text_prompts", "W_v", "W_t", "logit_scale"] {
                w.add(name, shape: try old.info(name).shape, floats: try old.floats(name))
            }
            try w.write(to: featuresPath + ".new")
        }
        try rewrite(pooled: try old.floats("image_pooled"))
        try FileManager.default.removeItem(atPath: featuresPath)
        try FileManager.default.moveItem(atPath: featuresPath + ".new", toPath: featuresPath)
        // The pooled feature the tail gives, as extraction stores it.
        let bundle = try FeatureBundle.open(dir)
        let model = try #require(try CAMTails.load(bundle))
        var pooled: [Float] = []
        for e in 0..<n {
            pooled += model.target(input: try bundle.tailInput(example: e), upstream: { Matrix(rows: 0, cols: $0.count) },
                                   keepGradients: false).pooled
        }
        try rewrite(pooled: pooled)
        try FileManager.default.removeItem(atPath: featuresPath)
        try FileManager.default.moveItem(atPath: featuresPath + ".new", toPath: featuresPath)
        return dir
    }
}

@Suite(.serialized) struct UIGradCAMTests {
    /// `cam --json` reads the map through the tail, under the pre-trained
    /// heads and a run's; the two differ (the heads reach the map).
    @Test func camJSONGivesTheTailsGradCAMUnderEachModel() throws {
        let bundle = try TailBundle.write("cam-json", copies: 4)
        #expect(try CLIRunner.run(["validate", bundle]).status == 0)
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("cam-json-ws-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let train = try CLIRunner.run(["train", bundle, "--workspace", ws, "--method", "erm", "--epochs", "3"])
        #expect(train.status == 0, "\(train.stderr)")
        let id = NonSquareBundle.id("png", 500, 375, .test)
        func grid(_ extra: [String]) throws -> (layer: String, values: [Float]) {
            let r = try CLIRunner.run(["cam", bundle, "--example", id, "--json", "--workspace", ws] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let rows = try #require(object["grid"] as? [[Double]])
            #expect(rows.count == 3 && rows.allSatisfy { $0.count == 4 })
            return (try #require(object["layer"] as? String), rows.flatMap { $0.map(Float.init) })
        }
        let pretrained = try grid([]), run = try grid(["--run", "1"])
        #expect(pretrained.layer == "vision_model.encoder.layers[-1].layer_norm1")
        #expect(pretrained.values.contains { $0 > 0 } && run.values.contains { $0 > 0 })
        #expect(zip(pretrained.values, run.values).contains { abs($0 - $1) > 1e-6 }, "the run's map equals the pre-trained one")
        let info = try CLIRunner.run(["info", bundle])
        #expect(info.stdout.contains("heatmaps    Grad-CAM at vision_model.encoder.layers[-1].layer_norm1 (from the cached tail input)"), "\(info.stdout)")
        let drawn = try CLIRunner.run(["cam", bundle, "--example", id, "--ascii"])
        #expect(drawn.stdout.contains("Grad-CAM at vision_model.encoder.layers[-1].layer_norm1"), "\(drawn.stdout)")
    }

    /// The Preview of a ViT bundle and a before/after pair on the Groups
    /// screen, each map said to be Grad-CAM.
    @Test func previewAndBeforeAfterOfAViTBundle() throws {
        let bundle = try TailBundle.write("ui-tail", copies: 12)
        let ws = FileManager.default.temporaryDirectory.appendingPathComponent("ui-tail-ws-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ws)
        let r = try CLIRunner.run(["train", bundle, "--workspace", ws, "--method", "erm", "--epochs", "3"])
        #expect(r.status == 0, "\(r.stderr)")
        let ui = try TmuxSession(arguments: ["ui", bundle, "--workspace", ws], width: 120, height: 40)
        try ui.wait { $0.contains("Class landbird") }
        try ui.send("2")
        let preview = try ui.wait { $0.contains("low") && $0.contains("high") && $0.contains("Grad-CAM") }
        #expect(!preview.contains("no Grad-CAM") && !preview.contains("not Grad-CAM"), "\(preview)")
        try ui.send("4")
        try ui.wait { $0.contains("Test groups: pre-trained vs run 1") }
        try ui.send("Enter")
        let pair = try ui.wait { $0.contains("A pre-trained →") && $0.contains("B run 1 →") }
        let legends = UIReviewTests.lines(pair).filter { $0.contains("low") && $0.contains("high") }
        #expect(legends.contains { $0.components(separatedBy: "Grad-CAM").count - 1 == 2 }, "\(pair)")
        #expect(!pair.contains("EXITED"), "\(pair)")
    }
}
