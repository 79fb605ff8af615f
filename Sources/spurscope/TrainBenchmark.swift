import Foundation
import SpurCore
import SpurEngine

/// Training speed: epochs over the default bundle, and epochs per second at
/// Waterbirds scale (4,795 training examples) with CLIP RN50 projection
/// sizes on random features.
enum TrainBenchmark {
    struct Row { var name: String; var method: Method; var trainExamples: Int; var stepsPerEpoch: Int; var epochSeconds: Double; var evalSeconds: Double }

    /// Median seconds of an epoch's steps and of its validation pass.
    static func measure(bundle: FeatureBundle, method: Method, epochs: Int, name: String) throws -> Row {
        let dir = NSTemporaryDirectory() + "spurscope-bench-train-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ws = try Workspace(path: dir + "/workspace.sqlite")
        var config = TrainingConfig(method: method)
        config.attributes = ["water"]
        config.epochs = epochs
        let trainer = try Trainer.create(bundle: bundle, config: config, workspace: ws)
        var stepSeconds: [Double] = [], evalSeconds: [Double] = []
        var lastEpochEnd = monotonicSeconds()
        _ = try trainer.run { event in
            if case .evaluated(let r) = event {
                let now = monotonicSeconds()
                stepSeconds.append(r.seconds)
                evalSeconds.append(max(0, now - lastEpochEnd - r.seconds))
                lastEpochEnd = now
            }
        }
        return Row(name: name, method: method, trainExamples: trainer.data.train.rows.count, stepsPerEpoch: trainer.stepsPerEpoch,
                   epochSeconds: StepBenchmark.median(stepSeconds), evalSeconds: StepBenchmark.median(evalSeconds))
    }

    /// A bundle of random features in the Waterbirds layout: 4,795 / 1,199
    /// train / val examples, RN50 sizes, detections of water and land.
    static func waterbirdsScaleBundle(at dir: String) throws -> FeatureBundle {
        let (dv, dt, e) = (2048, 512, 1024)
        var rng = SeededGenerator(seed: 5, purpose: "bench-train-bundle")
        let train = 4795, val = 1199
        let classes = ["landbird", "waterbird"]
        let text = WordVectorTextEncoder(seed: 5, dim: dt)
        let examples = (0..<(train + val)).map { i in
            Example(id: "w\(i)", image: "none.png", label: Int(rng.next() % 2), split: i < train ? .train : .val,
                    attributes: ["water": Int(rng.next() % 2)])
        }
        let detections = examples.indices.flatMap { i -> [Detection] in
            let water = examples[i].attributes["water"]!
            return [Detection(example: i, attribute: 0, score: Float(water)), Detection(example: i, attribute: 1, score: Float(1 - water))]
        }
        let prompts = classes.flatMap { c in CLIPTemplates.imagenet80.map { FeatureBundle.fill($0, with: c) } }
        let contents = BundleContents(
            manifest: BundleManifest(model: "bench-RN50-sizes", textEncoder: text.descriptor,
                                     dims: .init(imageDim: dv, textDim: dt, embeddingDim: e), grid: .init(height: 1, width: 1),
                                     pooling: .mean, classes: classes, templates: CLIPTemplates.imagenet80,
                                     attributes: ["water", "land"], tensors: [], groups: ["water"]),
            examples: examples, detections: detections, prompts: prompts,
            pooled: rng.gaussianMatrix(rows: examples.count, cols: dv), spatial: nil,
            textPrompts: text.encode(prompts),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv, std: 1 / Float(dv).squareRoot()),
                                   text: rng.gaussianMatrix(rows: e, cols: dt, std: 1 / Float(dt).squareRoot()),
                                   logitScale: logf(100)))
        try BundleWriter.write(contents, to: dir, overwrite: true)
        return try FeatureBundle.open(dir)
    }
}
