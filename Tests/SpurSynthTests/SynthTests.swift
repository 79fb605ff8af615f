import Foundation
import Testing
import SpurCore
import SpurEngine
@testable import SpurSynth

/// A recipe small enough to build in a second or two.
func tinyRecipe(seed: UInt64 = 3) -> SynthRecipe {
    var r = SynthRecipe()
    r.seed = seed
    r.imageSize = 32
    r.train = 40; r.val = 12; r.test = 12
    r.pretrainExamples = 96; r.pretrainSteps = 8
    r.encoderWidths = [8, 16, 16, 16]
    r.encoderCorpus = 96; r.encoderSteps = 4
    return r
}

func temporaryDirectory(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("synth-\(name)-\(getpid())").path
    try? FileManager.default.removeItem(atPath: dir)
    return dir
}

func allFiles(_ dir: String) throws -> [String: Data] {
    var out: [String: Data] = [:]
    let e = FileManager.default.enumerator(atPath: dir)!
    while let rel = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue {
            out[rel] = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel))
        }
    }
    return out
}

struct DeterminismTests {
    @Test func sameRecipeGivesAByteIdenticalBundle() throws {
        let a = temporaryDirectory("a"), b = temporaryDirectory("b"), c = temporaryDirectory("c")
        _ = try SyntheticBenchmark.build(tinyRecipe(), out: a, overwrite: false)
        _ = try SyntheticBenchmark.build(tinyRecipe(), out: b, overwrite: false)
        let fa = try allFiles(a), fb = try allFiles(b)
        #expect(fa.count == 6 + 2 * 64)   // manifest, 3 CSVs, features, recipe; an image and a mask per example
        #expect(fa.keys.sorted() == fb.keys.sorted())
        for (name, data) in fa { #expect(fb[name] == data, "\(name) differs between two builds") }
        // Another seed changes the data.
        _ = try SyntheticBenchmark.build(tinyRecipe(seed: 4), out: c, overwrite: false)
        let fc = try allFiles(c)
        #expect(fc["examples.csv"] != fa["examples.csv"])
        #expect(fc["images/00000.png"] != fa["images/00000.png"])
        #expect(BundleCheck.run(directory: a, deep: true).problems.isEmpty)
    }
}

struct DatasetTests {
    @Test func defaultRecipeHasWaterbirdsGroupCounts() {
        // Worked by hand: 4795 · 0.7679 = 3682.08 → 3682 landbirds, 3682 · 0.95 =
        // 3497.9 → 3498 on land; 1113 waterbirds, 1057.35 → 1057 on water; so
        // Waterbirds' 3498 / 184 / 56 / 1057. Val and test: 1200 = 4 × 300.
        let d = SyntheticBenchmark.sampleDataset(SynthRecipe())
        func count(_ split: Split, _ c: BirdClass, _ b: Background) -> Int {
            d.specs.indices.filter { d.splits[$0] == split && d.specs[$0].birdClass == c && d.specs[$0].background == b }.count
        }
        #expect(count(.train, .landbird, .land) == 3498)
        #expect(count(.train, .landbird, .water) == 184)
        #expect(count(.train, .waterbird, .land) == 56)
        #expect(count(.train, .waterbird, .water) == 1057)
        for split in [Split.val, .test] {
            for c in BirdClass.allCases { for b in Background.allCases { #expect(count(split, c, b) == 300) } }
        }
    }

    @Test func everySpeciesBelongsToItsClassAndAppears() {
        var rng = SeededGenerator(seed: 4)
        var seen = Set<Int>()
        for i in 0..<400 {
            let c = BirdClass(rawValue: i % 2)!
            let s = SceneSpec.sample(c, .land, size: 64, rng: &rng)
            #expect(Species.all[s.species].birdClass == c)
            seen.insert(s.species)
        }
        #expect(seen.count == Species.all.count)
        #expect(Species.of(.landbird).count == 4 && Species.of(.waterbird).count == 4)
    }

    @Test func objectsFollowTheirConditionalFrequencies() {
        var rng = SeededGenerator(seed: 9)
        let n = 4000
        let boatsOnWater = (0..<n).filter { _ in SceneSpec.sample(.landbird, .water, size: 64, rng: &rng).objects.contains(.boat) }.count
        let boatsOnLand = (0..<n).filter { _ in SceneSpec.sample(.landbird, .land, size: 64, rng: &rng).objects.contains(.boat) }.count
        #expect(abs(Double(boatsOnWater) / Double(n) - 0.35) < 0.03)
        #expect(abs(Double(boatsOnLand) / Double(n) - 0.02) < 0.01)
    }
}

struct MaskTests {
    /// The mask is exactly the bird as drawn: every mask pixel has the colour
    /// the bird alone paints there, and every bird pixel missing from the
    /// mask was painted over by the reeds in front of it.
    @Test func maskMatchesTheDrawnBird() {
        var rng = SeededGenerator(seed: 21)
        for i in 0..<60 {
            let spec = SceneSpec.sample(BirdClass(rawValue: i % 2)!, Background(rawValue: (i / 2) % 2)!, size: 64, rng: &rng)
            let scene = SceneRenderer.render(spec, size: 64)
            var alone = Canvas(size: 64)
            SceneRenderer.drawBird(spec, &alone)
            var birdPixels = 0
            for p in 0..<(64 * 64) {
                let drawn = alone.owner[p] == Canvas.bird
                if drawn { birdPixels += 1 }
                if scene.mask[p] > 0 {
                    #expect(drawn, "scene \(i): mask pixel \(p) outside the bird")
                    #expect(Array(scene.image.pixels[3 * p ..< 3 * p + 3]) == Array(alone.pixels[3 * p ..< 3 * p + 3]))
                } else if drawn {
                    #expect(spec.objects.contains(.reeds), "scene \(i): bird pixel \(p) lost without reeds in front")
                }
            }
            let maskPixels = scene.mask.filter { $0 > 0 }.count
            #expect(maskPixels > 100 && maskPixels <= birdPixels, "scene \(i): \(maskPixels) of \(birdPixels)")
        }
    }

    @Test func boundingBoxEnclosesTheMask() {
        var mask = [UInt8](repeating: 0, count: 16 * 16)
        mask[3 * 16 + 5] = 255; mask[9 * 16 + 2] = 255; mask[4 * 16 + 11] = 255
        #expect(SyntheticBenchmark.boundingBox(mask, size: 16) == BoundingBox(x0: 2, y0: 3, x1: 12, y1: 10))
        #expect(SyntheticBenchmark.boundingBox([UInt8](repeating: 0, count: 16), size: 4) == nil)
    }
}

struct DetectionNoiseTests {
    @Test(arguments: [0.0, 0.1, 0.25])
    func detectionsDisagreeAtTheConfiguredRate(noise: Double) {
        var rng = SeededGenerator(seed: 5)
        let truth = (0..<4000).map { _ in (0..<8).map { _ in rng.next() % 3 == 0 } }
        let d = SyntheticBenchmark.detections(truth, noise: noise, seed: 11)
        #expect(d.count == 32_000)
        let wrong = d.filter { ($0.score > 0.5) != truth[$0.example][$0.attribute] }.count
        let rate = Double(wrong) / Double(d.count)
        let sigma = (noise * (1 - noise) / Double(d.count)).squareRoot()
        #expect(abs(rate - noise) <= 4 * sigma + 1e-12, "rate \(rate) for noise \(noise)")
        #expect(d.allSatisfy { $0.score >= 0 && $0.score <= 1 && abs($0.score - 0.5) >= 0.05 })
    }
}

struct EncoderTests {
    @Test func textEncoderAveragesWordVectors() {
        let t = WordVectorTextEncoder(seed: 1, dim: 8)
        let a = t.wordVector("waterbird"), b = t.wordVector("lake")
        let both = t.encode("A Waterbird, on the... no: LAKE!")
        #expect(WordVectorTextEncoder.words("A Waterbird, on the... no: LAKE!") == ["a", "waterbird", "on", "the", "no", "lake"])
        let manual = (0..<8).map { i in
            (["a", "waterbird", "on", "the", "no", "lake"].map { t.wordVector($0)[i] }.reduce(0, +)) / 6
        }
        for i in 0..<8 { #expect(abs(both[i] - manual[i]) < 1e-6) }
        #expect(a != b && t.wordVector("waterbird") == a)
        #expect(WordVectorTextEncoder(seed: 2, dim: 8).wordVector("waterbird") != a)
    }

    /// A vertical step from black to white: Sobel x = 4 on the two columns
    /// beside the step (weights 1, 2, 1 of a unit difference), y = 0.
    @Test func inputFeaturesAreColourAndSobelEdges() {
        var px = [UInt8](repeating: 0, count: 8 * 8 * 3)
        for y in 0..<8 { for x in 4..<8 { for k in 0..<3 { px[(y * 8 + x) * 3 + k] = 255 } } }
        let f = SyntheticImageEncoder.inputFeatures(RGBImage(width: 8, height: 8, pixels: px))
        let c = SyntheticImageEncoder.inputChannels
        func at(_ x: Int, _ y: Int, _ ch: Int) -> Float { f[(y * 8 + x) * c + ch] }
        #expect(at(0, 0, 0) == -0.5 && at(7, 7, 2) == 0.5)
        #expect(abs(at(3, 4, 3) - 4) < 1e-5 && abs(at(4, 4, 3) - 4) < 1e-5 && at(1, 4, 3) == 0)
        #expect(at(3, 4, 4) == 0 && abs(at(3, 4, 5) - 4) < 1e-5)
    }

    @Test func imageEncoderMapsHaveTheGridAndConvolutionMatchesADirectSum() {
        let enc = SyntheticImageEncoder(seed: 3, imageSize: 32, widths: [4, 6, 5, 6])
        #expect(enc.grid == 8 && enc.dim == 6)
        var rng = SeededGenerator(seed: 8)
        let img = RGBImage(width: 32, height: 32, pixels: (0..<(32 * 32 * 3)).map { _ in UInt8(rng.next() % 256) })
        let maps = enc.spatialMaps([img, img])
        #expect(maps[0] == maps[1] && maps[0].rows == 64 && maps[0].cols == 6)
        // Layer 1 by the definition: out(y,x,o) = Σ_{ky,kx,c} in(2y+ky−2, 2x+kx−2, c)·w (before bias and ReLU).
        let layer = enc.stem[0]
        let c = SyntheticImageEncoder.inputChannels
        let input = Matrix(rows: 32 * 32, cols: c, storage: SyntheticImageEncoder.inputFeatures(img))
        let (cols, outSize) = SyntheticImageEncoder.im2col(input, images: 1, size: 32, layer: layer)
        let viaGemm = Matrix.product(cols, layer.weights)
        for (oy, ox, o) in [(0, 0, 0), (5, 9, 3), (15, 15, 1), (7, 0, 2)] {
            var sum: Float = 0
            for ky in 0..<5 { for kx in 0..<5 { for ch in 0..<c {
                let y = 2 * oy + ky - 2, x = 2 * ox + kx - 2
                guard y >= 0, y < 32, x >= 0, x < 32 else { continue }
                sum += input[y * 32 + x, ch] * layer.weights[(ky * 5 + kx) * c + ch, o]
            } } }
            #expect(abs(viaGemm[oy * outSize + ox, o] - sum) < 1e-4)
        }
    }
}

/// The encoder's pre-training gradient (through the tag head, the mean
/// pooling, the 1×1 and the 3×3 layers) against central differences of the
/// loss along random directions, one parameter group at a time.
struct EncoderPretrainingGradientTests {
    @Test(arguments: [0, 1, 2])
    func gradientMatchesDirectionalDifference(group: Int) {
        var rng = SeededGenerator(seed: 11)
        var enc = SyntheticImageEncoder(seed: 5, imageSize: 16, widths: [4, 5, 6, 7])
        let images = (0..<3).map { _ in RGBImage(width: 16, height: 16, pixels: (0..<(16 * 16 * 3)).map { _ in UInt8(rng.next() % 256) }) }
        enc.calibrateStem(on: images)
        let stem = enc.stemActivations(images[...])
        let wordCount = 2 + SceneObject.allCases.count
        var tags: [EncoderPretraining.Tags] = []
        for i in 0..<3 {
            let words: [Bool] = (0..<wordCount).map { ($0 + i) % 3 == 0 }
            tags.append(EncoderPretraining.Tags(species: (3 * i + 1) % Species.all.count, words: words))
        }
        let t = EncoderPretraining.tagCount
        let head = rng.gaussianMatrix(rows: enc.dim, cols: t, std: 0.5)
        let headBias = (0..<t).map { _ in 0.1 * rng.nextGaussian() }
        let weights: [Float] = [1, 0.7] + [Float](repeating: 0.5, count: SceneObject.allCases.count)

        func params(_ e: SyntheticImageEncoder, _ h: Matrix, _ hb: [Float]) -> [[Float]] {
            [e.top[0].weights.storage, e.top[0].bias, e.top[1].weights.storage, e.top[1].bias, h.storage, hb]
        }
        let r = EncoderPretraining.step(enc, head: head, headBias: headBias, stemAct: stem, tags: tags, wordWeights: weights)
        let base = params(enc, head, headBias)
        let members = [[0, 1], [2, 3], [4, 5]][group]
        let direction = base.indices.map { p in members.contains(p) ? base[p].map { _ in rng.nextGaussian() } : base[p].map { _ in 0 } }
        var analytic = 0.0
        for p in members { for i in base[p].indices { analytic += Double(r.gradients[p][i] * direction[p][i]) } }

        func loss(at step: Float) -> Double {
            var e = enc, h = head, hb = headBias
            let moved = base.indices.map { p in zip(base[p], direction[p]).map { $0 + step * $1 } }
            e.top[0].weights.storage = moved[0]; e.top[0].bias = moved[1]
            e.top[1].weights.storage = moved[2]; e.top[1].bias = moved[3]
            h.storage = moved[4]; hb = moved[5]
            return Double(EncoderPretraining.step(e, head: h, headBias: hb, stemAct: stem, tags: tags, wordWeights: weights).loss)
        }
        let h: Float = 1e-3
        let numeric = (loss(at: h) - loss(at: -h)) / Double(2 * h)
        #expect(abs(numeric) > 1e-3, "a direction the loss does not see tests nothing")
        #expect(abs(analytic - numeric) <= 2e-2 * max(1e-2, abs(numeric)), "group \(group): analytic \(analytic), numeric \(numeric)")
    }
}
