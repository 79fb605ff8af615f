import Dispatch
import Foundation
import SpurCore
import SpurEngine

/// The embedded default benchmark: synthetic Waterbirds, built end to end by
/// spurscope itself — scenes, frozen encoders, projections pre-trained with
/// the CLIP loss on a biased caption corpus, and noisy detections. A stand-in
/// with the structure of the real thing, never presented as real results.
public enum SyntheticBenchmark {
    public static let classes = BirdClass.allCases.map(\.name)
    /// Ground truth and detection vocabulary: the background first.
    public static let attributes = ["water", "land"] + SceneObject.allCases.map(\.rawValue)

    public struct Dataset: Sendable {
        public var specs: [SceneSpec]
        public var splits: [Split]
    }

    /// Scenes of the three splits. Train follows the Waterbirds group
    /// proportions (`landbirdShare`, `correlation`); validation and test have
    /// every (class, background) group in equal shares.
    public static func sampleDataset(_ r: SynthRecipe) -> Dataset {
        var rng = SeededGenerator(seed: r.seed, purpose: "scenes")
        var groups: [(BirdClass, Background, Split)] = []
        let landbirds = Int((Double(r.train) * r.landbirdShare).rounded())
        let landOnLand = Int((Double(landbirds) * r.correlation).rounded())
        let waterbirds = r.train - landbirds
        let waterOnWater = Int((Double(waterbirds) * r.correlation).rounded())
        groups += Array(repeating: (.landbird, .land, .train), count: landOnLand)
        groups += Array(repeating: (.landbird, .water, .train), count: landbirds - landOnLand)
        groups += Array(repeating: (.waterbird, .land, .train), count: waterbirds - waterOnWater)
        groups += Array(repeating: (.waterbird, .water, .train), count: waterOnWater)
        for (split, n) in [(Split.val, r.val), (.test, r.test)] {
            for g in 0..<4 {
                let count = n / 4 + (g < n % 4 ? 1 : 0)
                groups += Array(repeating: (BirdClass(rawValue: g / 2)!, Background(rawValue: g % 2)!, split), count: count)
            }
        }
        groups.shuffle(using: &rng)
        let specs = groups.map { SceneSpec.sample($0.0, $0.1, size: r.imageSize, rng: &rng) }
        return Dataset(specs: specs, splits: groups.map(\.2))
    }

    /// Web-like captions: the class name in one of CLIP's prompt styles
    /// (so pre-training learns that style words say nothing about the
    /// image, as web-scale training does), often the background, and some of
    /// the objects, in varied words.
    public static func caption(_ s: SceneSpec, rng: inout SeededGenerator) -> String {
        func u() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        func pick(_ xs: [String]) -> String { xs[Int(u() * Double(xs.count))] }
        var text = FeatureBundle.fill(pick(CLIPTemplates.imagenet80), with: s.birdClass.name)
        if text.hasSuffix(".") { text.removeLast() }
        if u() < 0.6 {
            text += " " + (s.background == .water
                ? pick(["on water", "on the water", "on the lake", "at the sea", "in the water"])
                : pick(["on land", "on the land", "in the forest", "on the ground", "on the grass"]))
        }
        let phrases: [SceneObject: [String]] = [
            .boat: ["next to a boat", "near a sailboat"], .tree: ["by a tree", "under a tree"],
            .sun: ["on a sunny day", "under the sun"], .cloud: ["with clouds in the sky", "on a cloudy day"],
            .rock: ["near a rock", "beside a rock"], .reeds: ["among the reeds", "in the reeds"],
        ]
        for o in SceneObject.allCases where s.objects.contains(o) && u() < 0.5 { text += " " + pick(phrases[o]!) }
        return text
    }

    /// Renders scenes on every core; each scene has its own seed, so the
    /// result does not depend on scheduling.
    public static func render(_ specs: [SceneSpec], size: Int) -> [SceneRenderer.Rendered] {
        Parallel.map(specs.count) { SceneRenderer.render(specs[$0], size: size) }
    }

    /// Pre-trains `W_v`, `W_t` and the temperature with the CLIP loss on
    /// pooled features paired with their captions' text features.
    public static func pretrain(images: Matrix, captions: Matrix, recipe r: SynthRecipe,
                                progress: (Int, Float) -> Void = { _, _ in }) -> ProjectionHeads {
        var rng = SeededGenerator(seed: r.seed, purpose: "init")
        var heads = ProjectionHeads(
            image: rng.gaussianMatrix(rows: r.embeddingDim, cols: images.cols, std: 1 / Float(images.cols).squareRoot()),
            text: rng.gaussianMatrix(rows: r.embeddingDim, cols: captions.cols, std: 1 / Float(captions.cols).squareRoot()),
            logitScale: logf(1 / 0.07))
        var batching = SeededGenerator(seed: r.seed, purpose: "pretrain-batches")
        var adam = Adam(learningRate: 3e-3)
        let objective = Objective(terms: [.clip])
        let b = min(256, images.rows)
        var order = Array(0..<images.rows)
        var cursor = order.count
        for step in 0..<r.pretrainSteps {
            if cursor + b > order.count { order.shuffle(using: &batching); cursor = 0 }
            let idx = Array(order[cursor..<(cursor + b)])
            cursor += b
            let batch = LossBatch(images: images.gatherRows(idx), labels: [Int](repeating: 0, count: b),
                                  attributes: [Int](repeating: -1, count: b), captions: captions.gatherRows(idx),
                                  classTemplates: Matrix(rows: 0, cols: captions.cols),
                                  groupTemplates: Matrix(rows: 0, cols: captions.cols), classCount: 1, templateCount: 1)
            let result = objective.evaluate(heads, on: batch)
            adam.step(&heads, gradients: result.gradients)
            if step % 50 == 0 || step == r.pretrainSteps - 1 { progress(step, result.total) }
        }
        return heads
    }


    /// Detector-like scores: a present attribute scores above 0.5 except for
    /// misses, an absent one below 0.5 except for false alarms, each at the
    /// recipe's noise rate.
    public static func detections(_ truth: [[Bool]], noise: Double, seed: UInt64) -> [Detection] {
        var rng = SeededGenerator(seed: seed, purpose: "detections")
        func u() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        var out: [Detection] = []
        for (e, row) in truth.enumerated() {
            for (a, present) in row.enumerated() {
                let high = present != (u() < noise)
                let score = high ? 0.55 + 0.45 * u() : 0.45 * u()
                out.append(Detection(example: e, attribute: a, score: Float((score * 1000).rounded() / 1000)))
            }
        }
        return out
    }

    /// Ground truth of every vocabulary attribute for a scene.
    public static func truth(_ s: SceneSpec) -> [Bool] {
        [s.background == .water, s.background == .land] + SceneObject.allCases.map { s.objects.contains($0) }
    }

    /// The prompts a bundle carries: every class with every template, each
    /// attribute alone ("a photo of {attribute}.", for zero-shot detection),
    /// and the `L_ls` group prompts "{class} with/without {attribute}" with
    /// every template.
    public static func prompts(templates: [String]) -> [String] {
        var out = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
        out += attributes.map(CLIPTemplates.wordPrompt)
        for a in attributes {
            for c in classes {
                let phrases = Decision.defaultPhrases(a)
                for phrase in [phrases.absent, phrases.present] {
                    out += TrainingData.groupPrompts(className: c, phrase: phrase, templates: templates)
                }
            }
        }
        return out
    }

    public struct Summary: Sendable {
        public var examples: Int
        public var zeroShot: GroupAccuracy
        public var seconds: Double
    }

    /// The frozen image encoder of recipe `r`: its stem, then its top layers
    /// pre-trained on the broad captioned corpus, then its output
    /// standardisation. Depends only on the recipe's encoder fields
    /// (`EncoderFile.fields`), never on the benchmark's `seed`, nor on the
    /// number of cores (BLAS runs single-threaded; see `build`). `log` gets
    /// one line per stage and every 50 steps.
    public static func pretrainedEncoder(_ r: SynthRecipe, log: (String) -> Void = { _ in }) -> SyntheticImageEncoder {
        BLASInfo.singleThreaded { pretrainEncoder(r, log: log) }
    }

    static func pretrainEncoder(_ r: SynthRecipe, log: (String) -> Void) -> SyntheticImageEncoder {
        // The broad corpus: every species on both backgrounds equally often.
        var broadRNG = SeededGenerator(seed: r.encoderSeed, purpose: "encoder-scenes")
        let broad = (0..<r.encoderCorpus).map { i -> SceneSpec in
            SceneSpec.sample(BirdClass(rawValue: i % 2)!, Background(rawValue: (i / 2) % 2)!, size: r.imageSize, rng: &broadRNG)
        }
        let broadImages = render(broad, size: r.imageSize).map(\.image)
        log("rendered a broad corpus of \(broad.count) scenes for the encoder")
        var imageEncoder = SyntheticImageEncoder(seed: r.encoderSeed, imageSize: r.imageSize, widths: r.encoderWidths)
        let broadStem = imageEncoder.stemOutput(broadImages)
        log("encoded the broad corpus with the stem")
        EncoderPretraining(steps: r.encoderSteps, batchSize: r.encoderBatch,
                           learningRate: Float(r.encoderLearningRate)).run(&imageEncoder, stemAll: broadStem, tags: broad.map(EncoderPretraining.Tags.init),
                                                      seed: r.encoderSeed) { step, loss, species, birdClass in
            log("encoder pre-training step \(step): caption-word loss \(String(format: "%.3f", loss)), "
                + "species \(String(format: "%.0f%%", 100 * species)), class \(String(format: "%.0f%%", 100 * birdClass)) (running means)")
        }
        // Calibrated on the first 2,000 (in every group equally often).
        imageEncoder.calibrate(pooled: imageEncoder.rawPooledFeatures(stemOutput: broadStem.rows(0..<(min(2000, broad.count) * imageEncoder.cells))))
        return imageEncoder
    }

    /// Builds the whole bundle at `out` (atomically: nothing is there until
    /// it is complete), seeing the images through `encoder` (which must have
    /// been built from `r`'s encoder fields), or through an encoder
    /// pre-trained here when it is nil. The log's clock and the summary's
    /// seconds count from `startedAt` (the caller's start, when it read or
    /// pre-trained the encoder first).
    ///
    /// BLAS runs single-threaded throughout (the heavy stages spread batches
    /// over the cores themselves), so the bundle does not depend on the
    /// number of cores.
    public static func build(_ r: SynthRecipe, out: String, overwrite: Bool, encoder: SyntheticImageEncoder? = nil,
                             startedAt: DispatchTime = .now(), log: (String) -> Void = { _ in }) throws -> Summary {
        try BLASInfo.singleThreaded {
            try buildBundle(r, out: out, overwrite: overwrite, encoder: encoder, start: startedAt.uptimeNanoseconds, log: log)
        }
    }

    static func buildBundle(_ r: SynthRecipe, out: String, overwrite: Bool, encoder: SyntheticImageEncoder?,
                            start: UInt64, log: (String) -> Void) throws -> Summary {
        func elapsed() -> String { String(format: "%5.1fs", Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }

        let data = sampleDataset(r)
        // The captioned corpus the projections are pre-trained on: new scenes
        // (the encoder has not seen them), each class on its usual background
        // `pretrainCorrelation` of the time.
        var corpusRNG = SeededGenerator(seed: r.seed, purpose: "pretrain-scenes")
        let corpus = (0..<r.pretrainExamples).map { i -> SceneSpec in
            let c = BirdClass(rawValue: i % 2)!
            let typical: Background = c == .landbird ? .land : .water
            let u = Double(corpusRNG.next() >> 11) * 0x1p-53
            return SceneSpec.sample(c, u < r.pretrainCorrelation ? typical : (typical == .land ? .water : .land),
                                    size: r.imageSize, rng: &corpusRNG)
        }
        var captionRNG = SeededGenerator(seed: r.seed, purpose: "captions")
        let captions = corpus.map { caption($0, rng: &captionRNG) }
        log("\(elapsed())  sampled \(data.specs.count) scenes and a biased captioned corpus of \(corpus.count)")

        let imageEncoder = encoder ?? pretrainedEncoder(r) { log("\(elapsed())  " + $0) }
        let rendered = render(data.specs, size: r.imageSize)
        let corpusImages = render(corpus, size: r.imageSize).map(\.image)
        log("\(elapsed())  rendered \(rendered.count + corpusImages.count) images")

        let textEncoder = WordVectorTextEncoder(seed: r.seed, dim: r.textDim)
        let corpusFeatures = Matrix.vstack(imageEncoder.spatialMaps(corpusImages).map { $0.meanOfRowBlocks($0.rows) })
        let maps = imageEncoder.spatialMaps(rendered.map(\.image))
        let pooled = Matrix.vstack(maps.map { $0.meanOfRowBlocks($0.rows) })
        log("\(elapsed())  encoded images: \(imageEncoder.grid)×\(imageEncoder.grid)×\(imageEncoder.dim) maps")

        let heads = pretrain(images: corpusFeatures, captions: textEncoder.encode(captions), recipe: r) { step, loss in
            log("\(elapsed())  pre-training step \(step): CLIP loss \(String(format: "%.3f", loss))")
        }

        let templates = CLIPTemplates.imagenet80
        let promptTexts = prompts(templates: templates)
        let textPrompts = textEncoder.encode(promptTexts)
        let classifier = HeadClassifier(heads: heads, classTemplates: textPrompts.rows(0..<(classes.count * templates.count)),
                                        templateCount: templates.count)
        let testRows = data.splits.indices.filter { data.splits[$0] == .test }
        let zeroShot = GroupAccuracy(labels: testRows.map { data.specs[$0].birdClass.rawValue },
                                     predictions: classifier.predict(pooled.gatherRows(testRows)),
                                     values: testRows.map { data.specs[$0].background.rawValue })

        let truths = data.specs.map(truth)
        let examples = data.specs.indices.map { i -> Example in
            let s = data.specs[i]
            var attrs: [String: Int] = [:]
            for (a, t) in zip(attributes, truths[i]) { attrs[a] = t ? 1 : 0 }
            return Example(id: String(format: "s%05d", i), image: String(format: "images/%05d.png", i),
                           label: s.birdClass.rawValue, split: data.splits[i], attributes: attrs,
                           mask: String(format: "masks/%05d.png", i), bbox: boundingBox(rendered[i].mask, size: r.imageSize))
        }
        let manifest = BundleManifest(
            model: "spurscope-synth-cnn-v2", textEncoder: textEncoder.descriptor,
            dims: .init(imageDim: imageEncoder.dim, textDim: r.textDim, embeddingDim: r.embeddingDim),
            grid: .init(height: imageEncoder.grid, width: imageEncoder.grid), pooling: .mean,
            classes: classes, templates: templates, attributes: attributes, tensors: [], groups: ["water"])
        let contents = BundleContents(
            manifest: manifest, examples: examples,
            detections: detections(truths, noise: r.detectionNoise, seed: r.seed), prompts: promptTexts,
            pooled: pooled, spatial: maps.flatMap(\.storage), spatialAsFloat16: true,
            textPrompts: textPrompts, heads: heads)

        log("\(elapsed())  zero-shot evaluated; writing the bundle")
        try BundleWriter.writeDirectory(out, overwrite: overwrite) { staging in
            try BundleWriter.writeContents(contents, into: staging)
            log("\(elapsed())  wrote the features")
            let recipeData = try JSONEncoder.readable.encode(r)
            try AtomicFile.write(recipeData + Data("\n".utf8), to: staging + "/recipe.json")
            for sub in ["images", "masks"] {
                try FileManager.default.createDirectory(atPath: staging + "/" + sub, withIntermediateDirectories: true)
            }
            // Encoded and written on every core, in libpng's fast mode, masks
            // as greyscale; plain writes, as the staging directory is renamed
            // into place only once it is complete.
            let files = examples.indices.flatMap { i in [(examples[i].image, i, false), (examples[i].mask!, i, true)] }
            let failures = Parallel.map(files.count) { k -> InputError? in
                let (name, i, isMask) = files[k]
                let path = staging + "/" + name
                do {
                    let png = isMask
                        ? try ImageFile.encodeGreyPNG(rendered[i].mask, width: r.imageSize, height: r.imageSize, for: path, fast: true)
                        : try ImageFile.encodePNG(rendered[i].image, for: path, fast: true)
                    try png.write(to: URL(fileURLWithPath: path))
                    return nil
                } catch let e as InputError {
                    return e
                } catch {
                    return InputError(file: path, "cannot write: \(error.localizedDescription)")
                }
            }
            if let first = failures.first(where: { $0 != nil }) { throw first! }
        }
        log("\(elapsed())  wrote \(out)")
        return Summary(examples: examples.count, zeroShot: zeroShot,
                       seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    static func boundingBox(_ mask: [UInt8], size: Int) -> BoundingBox? {
        var (x0, y0, x1, y1) = (size, size, -1, -1)
        for y in 0..<size { for x in 0..<size where mask[y * size + x] > 0 {
            x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
        } }
        return x1 < 0 ? nil : BoundingBox(x0: Float(x0), y0: Float(y0), x1: Float(x1 + 1), y1: Float(y1 + 1))
    }
}
