import Foundation
import Testing
import SpurCore
@testable import SpurEngine

struct GroupDROTests {
    /// Two groups, q = (½, ½), η = 0.1, C = 1, n = (4, 16), batch losses (2, 1):
    /// q₀ ∝ ½·e^{0.1·(2 + 1/2)} = ½e^{0.25}, q₁ ∝ ½·e^{0.1·(1 + 1/4)} = ½e^{0.125};
    /// normalised q₀ = e^{0.25}/(e^{0.25} + e^{0.125}) = 0.531209.
    @Test func weightUpdateByHand() {
        var q = GroupDROWeights(groups: 3, counts: [4, 16, 9], stepSize: 0.1, adjustment: 1)
        q.q = [0.5, 0.5, 0]
        q.update(groupLosses: [0: 2, 1: 1])
        let e0 = exp(0.25), e1 = exp(0.125)
        #expect(abs(q.q[0] - e0 / (e0 + e1)) < 1e-12 && abs(q.q[1] - e1 / (e0 + e1)) < 1e-12 && q.q[2] == 0)
        // Per-example weights reproduce Σ_g q_g L_g.
        let groups = [0, 0, 1, -1]
        let w = q.exampleWeights(groups: groups)
        #expect(w[3] == 0 && abs(Double(w[0]) - q.q[0] / 2) < 1e-7 && abs(Double(w[2]) - q.q[1]) < 1e-7)
        let losses: [Float] = [1, 3, 5, 100]
        let viaWeights = zip(w, losses).map { Double($0 * $1) }.reduce(0, +)
        let byGroup = GroupDROWeights.groupLosses(perExample: losses, groups: groups)
        #expect(byGroup == [0: 2, 1: 5])
        #expect(abs(viaWeights - (q.q[0] * 2 + q.q[1] * 5)) < 1e-5)
    }
}

struct ModelSelectionTests {
    /// Worst-group accuracies 0.2, 0.5, 0.5 (better average), 0.4, 0.45, 0.45:
    /// the best is epoch 3 (tie on worst group broken by average), and with
    /// patience 3 training stops after epoch 6.
    @Test func picksHighestWorstGroupThenAverageAndStopsOnPatience() {
        var s = ModelSelection(patience: 3)
        let script: [(Double, Double)] = [(0.2, 0.9), (0.5, 0.7), (0.5, 0.8), (0.4, 0.95), (0.45, 0.9), (0.45, 0.9), (0.9, 0.9)]
        var stoppedAt: Int?
        for (i, (w, a)) in script.enumerated() {
            s.offer(epoch: i + 1, worstGroup: w, average: a)
            if s.shouldStop { stoppedAt = i + 1; break }
        }
        #expect(s.best?.epoch == 3 && s.best?.average == 0.8)
        #expect(stoppedAt == 6)
        var never = ModelSelection()
        for (i, (w, a)) in script.enumerated() { never.offer(epoch: i + 1, worstGroup: w, average: a) }
        #expect(never.best?.epoch == 7 && !never.shouldStop)
    }
}

struct GroupAccuracyTests {
    /// Test accuracies by group and training counts, by hand:
    /// LL 3/4, LW 1/2, WL 0/1, WW 2/2; train counts 3498, 184, 56, 1057.
    /// Adjusted = (3498·0.75 + 184·0.5 + 56·0 + 1057·1)/4795 = 0.7819604.
    @Test func adjustedAverageByHand() {
        let labels = [0, 0, 0, 0, 0, 0, 1, 1, 1]
        let values = [0, 0, 0, 0, 1, 1, 0, 1, 1]
        let predictions = [0, 0, 0, 1, 0, 1, 0, 1, 1]
        let acc = GroupAccuracy(labels: labels, predictions: predictions, values: values)
        typealias G = GroupAccuracy.Group
        #expect(acc.accuracy(G(label: 0, value: 0)) == 0.75 && acc.accuracy(G(label: 0, value: 1)) == 0.5)
        #expect(acc.accuracy(G(label: 1, value: 0)) == 0 && acc.accuracy(G(label: 1, value: 1)) == 1)
        let train: [G: Int] = [G(label: 0, value: 0): 3498, G(label: 0, value: 1): 184, G(label: 1, value: 0): 56, G(label: 1, value: 1): 1057]
        #expect(abs(acc.adjustedAverage(weights: train) - (3498 * 0.75 + 184 * 0.5 + 1057.0) / 4795) < 1e-12)
        #expect(abs(acc.average - 6.0 / 9) < 1e-12)
        #expect(acc.worstGroup?.group == G(label: 1, value: 0) && acc.worstGroup?.accuracy == 0)
        // Unknown values are in no group.
        let withUnknown = GroupAccuracy(labels: [0, 0], predictions: [0, 1], values: [0, -1])
        #expect(withUnknown.groups == [G(label: 0, value: 0)] && withUnknown.average == 1)
    }
}

struct GradCAMTests {
    /// score(F) = s⟨normalize(W_v · mean_hw F), c_y⟩, so ∂score/∂F(h,w,d) = g_y[d] / (H·W):
    /// the analytic gradient against central differences of that score.
    @Test func classGradientMatchesFiniteDifferencesOfTheScore() {
        var rng = SeededGenerator(seed: 31)
        let cells = 4, dv = 5, e = 3
        let f = rng.gaussianMatrix(rows: cells, cols: dv)
        let heads = ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv), text: rng.gaussianMatrix(rows: e, cols: 2), logitScale: logf(7))
        let classes = rng.gaussianMatrix(rows: 2, cols: e).normalizedRows().output
        func score(_ map: Matrix, _ y: Int) -> Double {
            let x = map.meanOfRowBlocks(cells)
            let v = Matrix.product(x, heads.image, transposeB: true).normalizedRows().output
            return Double(heads.scale) * zip(v.storage, classes.row(y)).map { Double($0 * $1) }.reduce(0, +)
        }
        let g = GradCAM.classGradients(pooled: f.meanOfRowBlocks(cells).storage, heads: heads, classEmbeddings: classes)
        let h: Float = 1e-2
        for y in 0..<2 {
            for (cell, d) in [(0, 0), (1, 3), (3, 4), (2, 1)] {
                var up = f, down = f
                up[cell, d] += h; down[cell, d] -= h
                let numeric = (score(up, y) - score(down, y)) / Double(2 * h)
                #expect(abs(numeric - Double(g[y, d]) / Double(cells)) < 2e-3 * max(1, abs(numeric)), "class \(y) cell \(cell) dim \(d)")
            }
        }
        // The map is ReLU(⟨F(h,w), g_y⟩) per cell.
        let m = GradCAM.map(spatial: f, gradient: Array(g.row(0)))
        for c in 0..<cells {
            let dot = zip(f.row(c), g.row(0)).map { $0 * $1 }.reduce(0, +)
            #expect(abs(m[c] - max(0, dot)) < 1e-4)
        }
    }

    @Test func upsamplingIsBilinearAndScaledToOne() {
        // 2×2 map (0, 2; 4, 8) to 4×4: pixel centres at source 0.25/0.75 positions, clamped at the border.
        let up = GradCAM.upsampled([0, 2, 4, 8], gridHeight: 2, gridWidth: 2, width: 4, height: 4).values
        #expect(up[0] == 0 && up[15] == 1)
        // Row 0, x = 1: source x = 0.25 → 0·0.75 + 2·0.25 = 0.5, over the peak 8.
        #expect(abs(up[1] - 0.5 / 8) < 1e-6)
        // Row 1 (source y = 0.25), x = 2 (source x = 0.75): top 0·0.25 + 2·0.75 = 1.5, bottom 4·0.25 + 8·0.75 = 7; 1.5·0.75 + 7·0.25 = 2.875.
        #expect(abs(up[1 * 4 + 2] - 2.875 / 8) < 1e-6)
        #expect(GradCAM.upsampled([0, 0, 0, 0], gridHeight: 2, gridWidth: 2, width: 3, height: 3).values == [Float](repeating: 0, count: 9))
    }

    @Test func upsamplingScalesEachAxisToTheImage() {
        // A 1×2 grid (0, 1) to 4 wide, 2 tall: x centres at source −0.25, 0.25, 0.75, 1.25,
        // clamped to 0, 0.25, 0.75, 1; every row alike.
        let wide = GradCAM.upsampled([0, 1], gridHeight: 1, gridWidth: 2, width: 4, height: 2)
        #expect(wide.width == 4 && wide.height == 2 && wide.values == [0, 0.25, 0.75, 1, 0, 0.25, 0.75, 1])
        // The same grid standing up (2×1) to 1 wide, 4 tall: the transpose.
        let tall = GradCAM.upsampled([0, 1], gridHeight: 2, gridWidth: 1, width: 1, height: 4)
        #expect(tall.width == 1 && tall.height == 4 && tall.values == [0, 0.25, 0.75, 1])
        // A 2×3 grid to 6×2: x source positions (i + 0.5)·3/6 − 0.5 = −0.25→0, 0.25, 0.75, 1.25, 1.75,
        // 2.25→2; y positions (j + 0.5)·2/2 − 0.5 = j, the grid's own rows. Peak 10.
        let g = GradCAM.upsampled([0, 2, 4, 6, 8, 10], gridHeight: 2, gridWidth: 3, width: 6, height: 2)
        #expect(g.values.map { $0 * 10 } == [0, 0.5, 1.5, 2.5, 3.5, 4, 6, 6.5, 7.5, 8.5, 9.5, 10])
    }
}

struct AIoUTests {
    static func map(_ v: [Float]) -> Heatmap { Heatmap(width: v.count, height: 1, values: v) }

    @Test func iouAndAIoUOnHandMadeMaps() {
        let mask = Self.map([1, 1, 0, 0])
        let onObject = Self.map([1, 0.5, 0, 0])       // Σmin 1.5, Σmax 2 → 0.75
        let onBackground = Self.map([0, 0, 1, 1])     // Σmin 0, Σmax 4 → 0
        let everywhere = Self.map([0.5, 0.5, 0.5, 0.5]) // Σmin 1, Σmax 1+1+0.5+0.5 = 3 → 1/3
        #expect(GradCAM.iou(onObject, mask) == 0.75)
        #expect(GradCAM.iou(onBackground, mask) == 0)
        #expect(abs(GradCAM.iou(everywhere, mask) - 1.0 / 3) < 1e-7)
        // AIoU of class 0 against the best other class. 1×4 grids upsampled to the 4×1 mask are
        // themselves scaled to peak 1: `everywhere` becomes all ones, IoU Σmin 2 / Σmax 4 = 0.5.
        let grids = [onObject, onBackground, everywhere].map(\.values)
        #expect(abs(GradCAM.aiou(grids: grids, gridHeight: 1, gridWidth: 4, trueClass: 0, mask: mask) - Float(0.75 / (0.75 + 0.5))) < 1e-6)
        #expect(GradCAM.aiou(grids: [onBackground.values, onObject.values], gridHeight: 1, gridWidth: 4, trueClass: 0, mask: mask) == 0)
        #expect(GradCAM.aiou(grids: [onBackground.values, onBackground.values], gridHeight: 1, gridWidth: 4, trueClass: 0, mask: mask) == 0)
    }

    /// Worked by hand: 1×2 grids upsampled to a 4 × 2 mask whose right half
    /// is the object. Class 0's map (0, 1) becomes rows 0, ¼, ¾, 1:
    /// Σmin = 2·(¾ + 1) = 3.5, Σmax = 2·(¼ + 1 + 1) = 4.5, IoU 7/9. Class 1's
    /// (1, 0) becomes rows 1, ¾, ¼, 0: Σmin = 2·¼, Σmax = 2·(1 + ¾ + 1 + 1),
    /// IoU 1/15. AIoU = (7/9) / (7/9 + 1/15) = 35/38.
    @Test func aiouOnANonSquareMask() {
        let grids: [[Float]] = [[0, 1], [1, 0]]
        let wide = Heatmap(width: 4, height: 2, values: [0, 0, 1, 1, 0, 0, 1, 1])
        #expect(abs(GradCAM.aiou(grids: grids, gridHeight: 1, gridWidth: 2, trueClass: 0, mask: wide) - 35.0 / 38) < 1e-6)
        #expect(abs(GradCAM.aiou(grids: grids, gridHeight: 1, gridWidth: 2, trueClass: 1, mask: wide) - 3.0 / 38) < 1e-6)
        // Transposed (2×1 grids, a 2 × 4 mask with the object below): the same numbers.
        let tall = Heatmap(width: 2, height: 4, values: [0, 0, 0, 0, 1, 1, 1, 1])
        #expect(abs(GradCAM.aiou(grids: grids, gridHeight: 2, gridWidth: 1, trueClass: 0, mask: tall) - 35.0 / 38) < 1e-6)
    }
}

/// The engine on its own thread, on a tiny in-memory bundle written to disk.
struct TrainingEngineTests {
    static func tinyBundle() throws -> FeatureBundle {
        var rng = SeededGenerator(seed: 41)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID().uuidString)").path
        let text = WordVectorTextEncoder(seed: 2, dim: 6)
        let splits: [Split] = (0..<60).map { $0 < 40 ? .train : .val }
        let examples = (0..<60).map { Example(id: "e\($0)", image: "x.png", label: $0 % 2, split: splits[$0], attributes: ["water": ($0 / 2) % 2]) }
        let templates = ["a photo of a {}.", "a {}."]
        let prompts = ["landbird", "waterbird"].flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
        try BundleWriter.write(BundleContents(
            manifest: BundleManifest(model: "t", textEncoder: text.descriptor, dims: .init(imageDim: 5, textDim: 6, embeddingDim: 4),
                                     grid: .init(height: 1, width: 1), pooling: .mean, classes: ["landbird", "waterbird"],
                                     templates: templates, attributes: ["water"], tensors: [], groups: ["water"]),
            examples: examples, detections: [], prompts: prompts, pooled: rng.gaussianMatrix(rows: 60, cols: 5), spatial: nil,
            textPrompts: text.encode(prompts),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: 4, cols: 5), text: rng.gaussianMatrix(rows: 4, cols: 6), logitScale: 2)),
                               to: dir)
        return try FeatureBundle.open(dir)
    }

    @Test func eventsArriveInOrderAndTheRunFinishes() async throws {
        let bundle = try Self.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: .oursLS)
        config.attributes = ["water"]
        config.epochs = 3
        config.batchSize = 8
        let engine = TrainingEngine()
        let fixed = config
        engine.start { try Trainer.create(bundle: bundle, config: fixed, workspace: ws) }
        var kinds: [String] = []
        var epochs: [Int] = []
        for await e in engine.events {
            switch e {
            case .started(_, let n, let steps, _): kinds.append("started"); #expect(n == 3 && steps == 5)
            case .step: if kinds.last != "step" { kinds.append("step") }
            case .evaluated(let r): kinds.append("evaluated"); epochs.append(r.epoch)
            case .finished(let o): kinds.append("finished"); #expect(o.epochsDone == 3 && o.best != nil)
            case .cancelled: kinds.append("cancelled")
            case .sfrWeights: kinds.append("sfr-weights")
            case .failed(_, let m): Issue.record("failed: \(m)")
            }
        }
        #expect(kinds == ["started", "step", "evaluated", "step", "evaluated", "step", "evaluated", "finished"])
        #expect(epochs == [1, 2, 3])
        #expect(try ws.run(1)?.status == .finished)
    }

    @Test func cancelStopsAndKeepsTheBestCheckpoint() async throws {
        let bundle = try Self.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: .erm)
        config.epochs = 100_000
        config.batchSize = 8
        let engine = TrainingEngine()
        let fixed = config
        engine.start { try Trainer.create(bundle: bundle, config: fixed, workspace: ws) }
        var last: TrainingEvent?
        for await e in engine.events {
            if case .evaluated(let r) = e, r.epoch == 2 { engine.cancel() }
            last = e
        }
        guard case .cancelled(let outcome) = last else { Issue.record("last event \(String(describing: last))"); return }
        #expect(outcome.epochsDone >= 2 && outcome.epochsDone < 100_000)
        #expect(try ws.run(1)?.status == .cancelled)
        #expect(FileManager.default.fileExists(atPath: try #require(outcome.bestCheckpoint)))
    }

    @Test func aFailureArrivesAsAnEvent() async throws {
        let bundle = try Self.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        let engine = TrainingEngine()
        engine.start { try Trainer.create(bundle: bundle, config: TrainingConfig(method: .oursLS), workspace: ws) }
        var failure: String?
        for await e in engine.events { if case .failed(_, let m) = e { failure = m } }
        #expect(failure?.contains("needs a spurious attribute") == true)
    }
}

/// Issue 12: `train --lr 1e9` once "finished", exited 0 and kept infinite
/// weights as its best checkpoint.
struct DivergenceTests {
    @Test(arguments: [TrainingConfig.OptimizerKind.sgd, .adam], [Method.erm, .oursLS, .groupDRO])
    func aDivergingRunFailsAndSavesNoNonFiniteCheckpoint(optimizer: TrainingConfig.OptimizerKind, method: Method) throws {
        let bundle = try TrainingEngineTests.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: method)
        config.attributes = method.needsAttribute ? ["water"] : []
        config.epochs = 50
        config.batchSize = 8
        config.learningRate = 1e9
        config.optimizer = optimizer
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        var failures: [String] = []
        do {
            _ = try trainer.run { if case .failed(_, let m) = $0 { failures.append(m) } }
            Issue.record("a run at learning rate 1e9 finished")
        } catch let d as TrainingDiverged {
            #expect(d.learningRate == 1e9 && d.optimizer == optimizer)
            #expect(failures == ["\(d)"] && d.description.contains("Lower the learning rate"))
        }
        #expect(try ws.run(trainer.runID)?.status == .failed)
        for path in [trainer.bestCheckpointPath, trainer.lastCheckpointPath] where FileManager.default.fileExists(atPath: path) {
            let f = try SafetensorsFile(path: path)
            for name in ["W_v", "W_t", "logit_scale"] { #expect(try f.floats(name).allSatisfy(\.isFinite), "\(path) \(name)") }
        }
    }

    /// A checkpoint write killed earlier left its temporary file behind;
    /// the run's next checkpoint removes it.
    @Test func staleCheckpointTemporariesAreRemoved() throws {
        let bundle = try TrainingEngineTests.tinyBundle()
        let ws = try Workspace(bundle: bundle.directory)
        var config = TrainingConfig(method: .erm)
        config.epochs = 1
        config.batchSize = 8
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let stale = trainer.directory + "/.last.safetensors.tmp-\(gone.processIdentifier)"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([0, 1, 2]))
        _ = try trainer.run()
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(FileManager.default.fileExists(atPath: trainer.lastCheckpointPath))
    }

    @Test func checkNamesWhatWentNonFinite() {
        let config = TrainingConfig(method: .erm)
        let heads = ProjectionHeads(image: Matrix([[1, 2]]), text: Matrix([[3]]), logitScale: 1)
        #expect(TrainingDiverged.check(loss: 0.5, heads: heads, epoch: 1, step: 1, config: config) == nil)
        #expect(TrainingDiverged.check(loss: .nan, heads: heads, epoch: 2, step: 9, config: config)?.what == "the loss is nan")
        var bad = heads
        bad.text[0, 0] = -.infinity
        #expect(TrainingDiverged.check(loss: 0.5, heads: bad, epoch: 1, step: 1, config: config)?.what == "W_t holds -inf after the update")
        bad.logitScale = .nan
        #expect(TrainingDiverged.check(loss: 0.5, heads: bad, epoch: 1, step: 1, config: config)?.what == "logit_scale holds nan after the update")
    }
}

struct ForwardOnlyLossTests {
    /// Group DRO reads per-example losses from the classifier's log-softmax;
    /// they must equal the objective's cross-entropy terms.
    @Test func classifierLogSoftmaxGivesTheObjectivesPerExampleLosses() {
        var rng = SeededGenerator(seed: 17)
        let batch = RandomBatch.make(&rng)
        let heads = RandomBatch.heads(&rng)
        let objective = Objective(terms: [.ce]).evaluate(heads, on: batch).perExampleCrossEntropy!
        let logProb = HeadClassifier(heads: heads, classTemplates: batch.classTemplates, templateCount: batch.templateCount)
            .logits(batch.images).logSoftmaxRows()
        for (i, y) in batch.labels.enumerated() { #expect(abs(-logProb[i, y] - objective[i]) < 1e-5) }
    }
}

/// With token pooling (a ViT's class token), the head reads the stored pooled
/// feature, not the mean of the map: Grad-CAM takes its gradient there.
struct TokenPoolingCAMTests {
    @Test(arguments: [BundleManifest.Pooling.token, .mean])
    func gradientIsTakenWhereTheHeadReadsTheImage(pooling: BundleManifest.Pooling) throws {
        var rng = SeededGenerator(seed: 17)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cam-\(pooling)-\(UUID().uuidString)").path
        let text = WordVectorTextEncoder(seed: 2, dim: 6)
        let examples = (0..<4).map { Example(id: "e\($0)", image: "x.png", label: $0 % 2, split: $0 < 2 ? .train : .val, attributes: [:]) }
        let templates = ["a photo of a {}."]
        let prompts = ["landbird", "waterbird"].map { FeatureBundle.fill(templates[0], with: $0) }
        let spatial = rng.gaussianMatrix(rows: 4 * 2, cols: 5)        // 4 examples × a 2×1 grid × Dv 5
        let token = rng.gaussianMatrix(rows: 4, cols: 5)              // unrelated to the map's mean
        let heads = ProjectionHeads(image: rng.gaussianMatrix(rows: 4, cols: 5), text: rng.gaussianMatrix(rows: 4, cols: 6), logitScale: 2)
        try BundleWriter.write(BundleContents(
            manifest: BundleManifest(model: "t", textEncoder: text.descriptor, dims: .init(imageDim: 5, textDim: 6, embeddingDim: 4),
                                     grid: .init(height: 2, width: 1), pooling: pooling, classes: ["landbird", "waterbird"],
                                     templates: templates, attributes: [], tensors: [], groups: []),
            examples: examples, detections: [], prompts: prompts,
            pooled: pooling == .token ? token : spatial.meanOfRowBlocks(2), spatial: spatial.storage, spatialAsFloat16: false,
            textPrompts: text.encode(prompts), heads: heads), to: dir)
        let bundle = try FeatureBundle.open(dir)
        let cam = try CAMRenderer(bundle: bundle, heads: heads, classTemplates: try bundle.classTemplateFeatures(), templateCount: 1)
        let f = spatial.rows(2..<4)
        let at = pooling == .token ? Array(token.row(1)) : f.meanOfRowBlocks(2).storage
        let g = GradCAM.classGradients(pooled: at, heads: heads, classEmbeddings: cam.classEmbeddings)
        let maps = try cam.gridMaps(example: 1)
        // Mean pooling is Grad-CAM at the map, whose gradient is the pooled
        // one shared by the H·W cells: the through-the-head map over H·W.
        let share: Float = pooling == .mean ? 1 / 2 : 1
        #expect(cam.method == (pooling == .mean ? .gradCAM(layer: "image_spatial") : .throughHead))
        for y in 0..<2 {
            let want = GradCAM.map(spatial: f, gradient: Array(g.row(y))).map { $0 * share }
            #expect(want.contains { $0 > 0 })
            for (a, b) in zip(maps[y], want) { #expect(abs(a - b) <= 1e-5 * max(1, abs(b))) }
        }
    }
}
