import Foundation
import Testing
import SpurCore
@testable import SpurSynth

/// The frozen encoder as a file: it reads back exactly, it refuses a file
/// built from another recipe or with a wrong tensor, and a bundle built from
/// the file is the bundle built without it.
struct EncoderFileTests {
    static func encoder(_ r: SynthRecipe) -> SyntheticImageEncoder {
        var rng = SeededGenerator(seed: 21)
        var e = SyntheticImageEncoder(seed: r.encoderSeed, imageSize: r.imageSize, widths: r.encoderWidths)
        // Every value a file must carry, not just what the seed would redraw.
        e.top[0].weights = rng.gaussianMatrix(rows: e.top[0].weights.rows, cols: e.top[0].weights.cols, std: 0.3)
        e.top[1].bias = e.top[1].bias.map { _ in rng.nextGaussian() }
        e.stemMean = e.stemMean.map { _ in rng.nextGaussian() }
        e.inverseStd = e.inverseStd.map { _ in 1 + abs(rng.nextGaussian()) }
        return e
    }

    @Test func readsBackEveryValue() throws {
        let r = tinyRecipe()
        let e = Self.encoder(r)
        let path = temporaryDirectory("encoder-roundtrip") + ".safetensors"
        try EncoderFile.write(e, recipe: r, to: path)
        let back = try EncoderFile.read(path: path, recipe: r)
        for (a, b) in zip(EncoderFile.namedLayers(e), EncoderFile.namedLayers(back)) {
            #expect(a.1.weights == b.1.weights, "\(a.0).weight")
            #expect(a.1.bias == b.1.bias, "\(a.0).bias")
        }
        #expect(back.stemMean == e.stemMean && back.stemInverseStd == e.stemInverseStd)
        #expect(back.mean == e.mean && back.inverseStd == e.inverseStd)
        var rng = SeededGenerator(seed: 2)
        let image = RGBImage(width: 32, height: 32, pixels: (0..<(32 * 32 * 3)).map { _ in UInt8(rng.next() % 256) })
        #expect(back.spatialMaps([image])[0] == e.spatialMaps([image])[0])
    }

    /// The benchmark's seed is not an encoder field; the encoder's own are.
    @Test func refusesAFileBuiltFromOtherEncoderFields() throws {
        let r = tinyRecipe()
        let path = temporaryDirectory("encoder-fields") + ".safetensors"
        try EncoderFile.write(Self.encoder(r), recipe: r, to: path)
        var otherSeed = r
        otherSeed.seed += 1
        _ = try EncoderFile.read(path: path, recipe: otherSeed)
        var other = r
        other.encoderSteps += 1
        #expect(throws: InputError(file: path, field: "encoder_steps",
                                   "the encoder was built with 4, the recipe says 5", remedy: .rebuildEncoder)) {
            try EncoderFile.read(path: path, recipe: other)
        }
        other = r
        other.encoderSeed = 99
        #expect(throws: InputError.self) { try EncoderFile.read(path: path, recipe: other) }
    }

    /// Writes `e` as `EncoderFile.write` does, with one tensor changed by
    /// `change` (nil drops it) and `metadata` on top of the right one.
    static func craft(_ e: SyntheticImageEncoder, _ r: SynthRecipe, to path: String, metadata: [String: String] = [:],
                      extra: Bool = false, change: (String, Matrix) -> (Matrix, half: Bool)? = { ($1, false) }) throws {
        var w = SafetensorsWriter()
        for t in EncoderFile.tensors(e) {
            let m = Matrix(rows: t.shape.count == 2 ? t.shape[0] : 1, cols: t.shape.last!, storage: t.values)
            guard let (m, half) = change(t.name, m) else { continue }
            let shape = t.shape.count == 2 ? [m.rows, m.cols] : [m.storage.count]
            if half { w.add(t.name, shape: shape, float16s: m.storage) } else { w.add(t.name, shape: shape, floats: m.storage) }
        }
        if extra { w.add("top.2.weight", shape: [1], floats: [0]) }
        w.metadata = Dictionary(uniqueKeysWithValues: EncoderFile.fields(r))
        w.metadata["format"] = EncoderFile.format
        w.metadata["encoder_revision"] = "\(EncoderFile.revision)"
        w.metadata.merge(metadata) { _, new in new }
        try w.write(to: path)
    }

    /// Each way a file can be wrong is named by its field; the untouched
    /// craft reads, so each refusal is the change's doing.
    @Test func refusesEachWrongPartNamingIt() throws {
        let r = tinyRecipe()
        let e = Self.encoder(r)
        let path = temporaryDirectory("encoder-wrong") + ".safetensors"
        func refusal(metadata: [String: String] = [:], extra: Bool = false,
                     _ change: @escaping (String, Matrix) -> (Matrix, half: Bool)? = { ($1, false) }) throws -> InputError? {
            try Self.craft(e, r, to: path, metadata: metadata, extra: extra, change: change)
            do { _ = try EncoderFile.read(path: path, recipe: r); return nil } catch let error as InputError { return error }
        }
        #expect(try refusal() == nil)
        // top.0's weights transposed: the right count, the wrong shape.
        #expect(try refusal { name, m in (name == "top.0.weight" ? Matrix(rows: m.cols, cols: m.rows, storage: m.storage) : m, false) }?.field
                == "tensor 'top.0.weight'")
        #expect(try refusal { name, m in name == "stem.mean" ? nil : (m, false) }?.field == "tensor 'stem.mean'")
        #expect(try refusal { name, m in (m, name == "top.1.bias") }?.description
                == "\(path): tensor 'top.1.bias': dtype is F16, expected F32")
        var nan = e.top[1].weights
        nan.storage[3] = .nan
        #expect(try refusal { name, m in (name == "top.1.weight" ? nan : m, false) }?.field == "tensor 'top.1.weight'")
        #expect(try refusal { name, m in (name == "output.inverse_std" ? Matrix(rows: 1, cols: m.cols, storage: m.storage.map { _ in 0 }) : m, false) }?
                .description == "\(path): tensor 'output.inverse_std': element 0 is 0.0, expected a positive scale")
        #expect(try refusal(extra: true)?.field == "tensor 'top.2.weight'")
        #expect(try refusal(metadata: ["encoder_revision": "1"])?.field == "__metadata__.encoder_revision")
        #expect(try refusal(metadata: ["format": "other"])?.field == "__metadata__.format")
        // A safetensors file of something else altogether.
        var plain = SafetensorsWriter()
        plain.add("x", shape: [1], floats: [0])
        try plain.write(to: path)
        #expect(throws: InputError(file: path, field: "__metadata__.format",
                                   "is missing, expected \"\(EncoderFile.format)\" (a synthetic benchmark's encoder)", remedy: .rebuildEncoder)) {
            try EncoderFile.read(path: path, recipe: r)
        }
    }

    /// The encoder is CLIP's analogue: the same weights whatever benchmark
    /// seed it is built for.
    @Test func preTrainedEncoderDependsOnlyOnEncoderFields() {
        var a = tinyRecipe(seed: 3), b = tinyRecipe(seed: 4)
        a.encoderCorpus = 64; b.encoderCorpus = 64
        let ea = SyntheticBenchmark.pretrainedEncoder(a), eb = SyntheticBenchmark.pretrainedEncoder(b)
        #expect(ea.top[0].weights == eb.top[0].weights && ea.mean == eb.mean)
        b.encoderSeed += 1
        #expect(SyntheticBenchmark.pretrainedEncoder(b).top[0].weights != ea.top[0].weights)
    }

    @Test func bundleFromTheFileIsTheBundleWithoutIt() throws {
        let r = tinyRecipe()
        let path = temporaryDirectory("encoder-bundle") + ".safetensors"
        try EncoderFile.write(SyntheticBenchmark.pretrainedEncoder(r), recipe: r, to: path)
        let a = temporaryDirectory("from-file"), b = temporaryDirectory("in-process")
        _ = try SyntheticBenchmark.build(r, out: a, overwrite: false, encoder: try EncoderFile.read(path: path, recipe: r))
        _ = try SyntheticBenchmark.build(r, out: b, overwrite: false)
        let fa = try allFiles(a), fb = try allFiles(b)
        #expect(fa.keys.sorted() == fb.keys.sorted())
        for (name, data) in fa { #expect(fb[name] == data, "\(name) differs") }
    }
}

/// A pre-training batch is computed as shards side by side; their results
/// must add up to the whole batch's.
struct EncoderPretrainingShardTests {
    @Test func shardsAddUpToTheWholeBatch() {
        var rng = SeededGenerator(seed: 13)
        var enc = SyntheticImageEncoder(seed: 5, imageSize: 16, widths: [4, 5, 6, 7])
        let images = (0..<5).map { _ in RGBImage(width: 16, height: 16, pixels: (0..<(16 * 16 * 3)).map { _ in UInt8(rng.next() % 256) }) }
        enc.calibrateStem(on: images)
        let stem = enc.stemActivations(images[...])
        let tags = (0..<5).map { i in
            EncoderPretraining.Tags(species: (2 * i + 1) % Species.all.count, words: (0..<(2 + SceneObject.allCases.count)).map { ($0 + i) % 2 == 0 })
        }
        let t = EncoderPretraining.tagCount
        let head = rng.gaussianMatrix(rows: enc.dim, cols: t, std: 0.5)
        let bias = [Float](repeating: 0.1, count: t)
        let weights = EncoderPretraining(steps: 1, batchSize: 5, learningRate: 0.01).wordWeights
        let whole = EncoderPretraining.step(enc, head: head, headBias: bias, stemAct: stem, tags: tags, wordWeights: weights)
        let cells = enc.cells
        let parts = [0..<2, 2..<5].map { range in
            EncoderPretraining.step(enc, head: head, headBias: bias, stemAct: stem.rows((range.lowerBound * cells)..<(range.upperBound * cells)),
                                    tags: Array(tags[range]), wordWeights: weights, weight: 1 / 5)
        }
        func expectSame(_ summed: EncoderPretraining.StepResult, _ whole: EncoderPretraining.StepResult) {
            #expect(abs(summed.loss - whole.loss) <= 1e-5 * abs(whole.loss))
            #expect(abs(summed.speciesAccuracy - whole.speciesAccuracy) <= 1e-6)
            for (g, (a, b)) in zip(summed.gradients, whole.gradients).enumerated() {
                let scale = b.map(abs).max()!
                #expect(scale > 0)
                #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 1e-5 * scale }, "gradient \(g)")
            }
        }
        expectSame(EncoderPretraining.sum(parts), whole)
        // The step pre-training runs: its own split (2 + 3) on both cores.
        let batch = Array(zip(0..<5, tags))
        expectSame(EncoderPretraining.shardedStep(enc, head: head, headBias: bias, stemAll: stem, batch: batch.map { ($0.0, $0.1) },
                                                  wordWeights: weights), whole)
        // A batch of one: one shard, the plain step.
        let one = EncoderPretraining.step(enc, head: head, headBias: bias, stemAct: stem.rows(0..<cells), tags: [tags[0]], wordWeights: weights)
        expectSame(EncoderPretraining.shardedStep(enc, head: head, headBias: bias, stemAll: stem, batch: [(0, tags[0])], wordWeights: weights), one)
    }
}

/// The frozen standardisation, on a hand-worked example: a live channel, a
/// dead one and a constant one. Mean variance 1/3, so ε is 1/300.
struct ChannelStatisticsTests {
    @Test func deadChannelsGetAnEpsilonNotAMillionfoldScale() {
        let m = Matrix(rows: 2, cols: 3, storage: [1, 0, 5,
                                                   3, 0, 5])
        let (mean, inverseStd) = SyntheticImageEncoder.channelStatistics(m)
        #expect(mean == [2, 0, 5])
        let want: [Double] = [1 / (1 + 1.0 / 300).squareRoot(), 300.0.squareRoot(), 300.0.squareRoot()]
        for (got, w) in zip(inverseStd, want) { #expect(abs(Double(got) - w) <= 1e-5 * w, "\(inverseStd)") }
    }
}
