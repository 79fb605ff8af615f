import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// The ModifiedResNet tower on a tiny random checkpoint (numerics against
/// OpenAI's model.py are in tools/reference/tests/test_resnet_tower.py):
/// what it reads from the shapes, batching, and the checkpoints it refuses.
struct ModifiedResNetTests {
    static let tiny = RandomResNetCheckpoint.Size(
        blockCounts: [2, 1, 1, 2], width: 8, imageSize: 64, embeddingDim: 24,
        text: .init(vocabularySize: 40, contextLength: 8, width: 32, layers: 1, embeddingDim: 24))

    static func path(_ name: String) -> String {
        NSTemporaryDirectory() + "resnet-\(name)-\(getpid())-\(UUID().uuidString).safetensors"
    }

    /// The checkpoint written again with some tensors replaced or added.
    static func rewrite(_ source: String, to path: String, replacing: [String: (shape: [Int], values: [Float])]) throws {
        let file = try SafetensorsFile(path: source)
        var out = SafetensorsWriter()
        for name in file.names where replacing[name] == nil {
            let t = try file.info(name)
            if t.dtype == .i64 {
                out.add(name, shape: t.shape, int64s: try file.floats(name).map { Int64($0) })
            } else {
                out.add(name, shape: t.shape, floats: try file.floats(name))
            }
        }
        for (name, r) in replacing { out.add(name, shape: r.shape, floats: r.values) }
        try out.write(to: path)
    }

    static func pixels(_ count: Int, side: Int) -> [Float] {
        var rng = SeededGenerator(seed: 3)
        return (0..<count * 3 * side * side).map { _ in rng.nextGaussian() }
    }

    @Test func readsItsShapeFromTheTensors() throws {
        let p = Self.path("shape")
        defer { try? FileManager.default.removeItem(atPath: p) }
        try RandomResNetCheckpoint.write(Self.tiny, to: p)
        let checkpoint = try CLIPCheckpoint(path: p)
        #expect(try CLIPImageTowers.kind(of: checkpoint) == .modifiedResNet)
        let tower = try #require(try CLIPImageTowers.load(checkpoint) as? ModifiedResNetTower)
        #expect(tower.shape == ImageTowerShape(architecture: "RN-W8-L2-1-1-2", imageSize: 64, gridHeight: 2, gridWidth: 2,
                                               featureWidth: 24, embeddingWidth: 24, pooling: .attention))
        #expect(tower.blockCounts == [2, 1, 1, 2])
        #expect(tower.attentionPool.heads == 4)
        #expect(tower.projection.shape == [24, 24])
        #expect(tower.projection.values == (0..<576).map { $0 / 24 == $0 % 24 ? 1 : 0 })
        // The text tower of the same file still loads.
        #expect(try CLIPTextTower.load(checkpoint).shape.width == 32)
    }

    /// open_clip's RN configs may set `head_width`; its ModifiedResNet then
    /// has width · 32 / head_width heads, not OpenAI's fixed 64 channels a head.
    @Test func openCLIPsHeadWidthSetsTheAttentionPoolsHeads() throws {
        let folder = NSTemporaryDirectory() + "resnet-heads-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try RandomResNetCheckpoint.write(Self.tiny, to: folder + "/" + CLIPCheckpoint.openCLIPWeights, seed: 2)
        func load(headWidth: Int?) throws -> ModifiedResNetTower {
            let vision = headWidth.map { #", "head_width": \#($0)"# } ?? ""
            let config = #"{"model_cfg": {"embed_dim": 24, "vision_cfg": {"layers": [2, 1, 1, 2], "width": 8, "image_size": 64\#(vision)}}}"#
            try config.write(toFile: folder + "/open_clip_config.json", atomically: true, encoding: .utf8)
            return try ModifiedResNetTower.load(CLIPCheckpoint(path: folder))
        }
        let standard = try load(headWidth: nil), narrow = try load(headWidth: 32)
        #expect(standard.attentionPool.heads == 4)   // 8 · 32 / 64
        #expect(narrow.attentionPool.heads == 8)     // 8 · 32 / 32
        let px = Self.pixels(2, side: 64)
        let a = try standard.features(pixels: px, count: 2, spatial: false).pooled
        let b = try narrow.features(pixels: px, count: 2, spatial: false).pooled
        #expect(zip(a, b).contains { abs($0 - $1) > 1e-4 }, "the heads change the attention pool's output")
        #expect(try load(headWidth: 64).attentionPool.heads == 4)
        do {
            _ = try load(headWidth: 48)   // 256 / 48 = 5 heads, which do not divide 256
            Issue.record("a head width that does not divide the pool was accepted")
        } catch let error as InputError {
            #expect(error.field == "model_cfg.vision_cfg.head_width", "\(error)")
        }
    }

    @Test func releasedSizesAreNamedAsOpenAINamesThem() {
        #expect(ModifiedResNetTower.architectureName(blockCounts: [3, 4, 6, 3], width: 64) == "RN50")
        #expect(ModifiedResNetTower.architectureName(blockCounts: [3, 4, 23, 3], width: 64) == "RN101")
        #expect(ModifiedResNetTower.architectureName(blockCounts: [4, 6, 10, 6], width: 80) == "RN50x4")
        #expect(ModifiedResNetTower.architectureName(blockCounts: [6, 8, 18, 8], width: 96) == "RN50x16")
        #expect(ModifiedResNetTower.architectureName(blockCounts: [3, 15, 36, 10], width: 128) == "RN50x64")
        #expect(ModifiedResNetTower.architectureName(blockCounts: [3, 4, 6, 3], width: 80) == "RN-W80-L3-4-6-3")
    }

    @Test func eachImageGetsTheSameFeaturesInAnyBatch() throws {
        let p = Self.path("batch")
        defer { try? FileManager.default.removeItem(atPath: p) }
        try RandomResNetCheckpoint.write(Self.tiny, to: p, seed: 4)
        let tower = try ModifiedResNetTower.load(CLIPCheckpoint(path: p))
        let px = Self.pixels(5, side: 64)
        let together = try tower.features(pixels: px, count: 5, spatial: true, imagesPerPass: 3)
        #expect(together.pooled.count == 5 * 24 && together.spatial?.count == 5 * 2 * 2 * 24)
        let perImage = 3 * 64 * 64
        for i in 0..<5 {
            let alone = try tower.features(pixels: Array(px[i * perImage ..< (i + 1) * perImage]), count: 1, spatial: true)
            #expect(zip(alone.pooled, together.pooled[i * 24 ..< (i + 1) * 24]).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
            #expect(zip(alone.spatial!, together.spatial![i * 96 ..< (i + 1) * 96]).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
        }
        // Different images, different features (a constant output would pass the above).
        #expect(zip(together.pooled[0..<24], together.pooled[24..<48]).contains { abs($0 - $1) > 1e-3 })
        #expect(try tower.features(pixels: px, count: 5, spatial: false).spatial == nil)
        #expect(try tower.features(pixels: [], count: 0, spatial: true).pooled.isEmpty)
    }

    @Test func wrongPixelCountIsRefused() throws {
        let p = Self.path("pixels")
        defer { try? FileManager.default.removeItem(atPath: p) }
        try RandomResNetCheckpoint.write(Self.tiny, to: p)
        let tower = try ModifiedResNetTower.load(CLIPCheckpoint(path: p))
        #expect(throws: InputError.self) { try tower.features(pixels: Self.pixels(2, side: 32), count: 2, spatial: false) }
    }

    @Test(arguments: [
        ("visual.layer3.0.conv2.weight", [32, 32, 3, 1], "[32, 32, 3, 3]"),
        ("visual.layer2.0.bn1.running_var", [15], "[16]"),
        ("visual.attnpool.k_proj.bias", [255], "[256]"),
    ])
    func wrongShapeIsRefusedNamingTheTensor(_ name: String, _ shape: [Int], _ expected: String) throws {
        let good = Self.path("good"), bad = Self.path("bad")
        defer { for f in [good, bad] { try? FileManager.default.removeItem(atPath: f) } }
        try RandomResNetCheckpoint.write(Self.tiny, to: good)
        try Self.rewrite(good, to: bad, replacing: [name: (shape, [Float](repeating: 0, count: shape.reduce(1, *)))])
        let error = try #require(throws: InputError.self) { try CLIPImageTowers.load(CLIPCheckpoint(path: bad)) }
        #expect(error.field == "tensor '\(name)'" && error.file == bad)
        #expect(error.problem.contains(expected), "\(error)")
    }

    @Test func positionalEmbeddingOfNoSquareGridIsRefused() throws {
        let good = Self.path("grid-good"), bad = Self.path("grid-bad")
        defer { for f in [good, bad] { try? FileManager.default.removeItem(atPath: f) } }
        try RandomResNetCheckpoint.write(Self.tiny, to: good)
        try Self.rewrite(good, to: bad, replacing: ["visual.attnpool.positional_embedding": ([6, 256], [Float](repeating: 0, count: 6 * 256))])
        let error = try #require(throws: InputError.self) { try ModifiedResNetTower.load(CLIPCheckpoint(path: bad)) }
        #expect(error.field == "tensor 'visual.attnpool.positional_embedding'")
    }

    @Test func unknownTensorInTheTowerIsRefused() throws {
        let good = Self.path("extra-good"), bad = Self.path("extra-bad")
        defer { for f in [good, bad] { try? FileManager.default.removeItem(atPath: f) } }
        try RandomResNetCheckpoint.write(Self.tiny, to: good)
        try Self.rewrite(good, to: bad, replacing: ["visual.layer1.1.se.fc.weight": ([4], [1, 2, 3, 4])])
        let error = try #require(throws: InputError.self) { try ModifiedResNetTower.load(CLIPCheckpoint(path: bad)) }
        #expect(error.field == "tensor 'visual.layer1.1.se.fc.weight'")
    }

    @Test func batchNormWithoutItsCounterStillLoads() throws {
        // num_batches_tracked is optional (older state dicts lack it).
        let full = Self.path("counters"), stripped = Self.path("no-counters")
        defer { for f in [full, stripped] { try? FileManager.default.removeItem(atPath: f) } }
        try RandomResNetCheckpoint.write(Self.tiny, to: full)
        let file = try SafetensorsFile(path: full)
        var out = SafetensorsWriter()
        for name in file.names where !name.hasSuffix("num_batches_tracked") {
            out.add(name, shape: try file.info(name).shape, floats: try file.floats(name))
        }
        try out.write(to: stripped)
        let a = try ModifiedResNetTower.load(CLIPCheckpoint(path: full))
        let b = try ModifiedResNetTower.load(CLIPCheckpoint(path: stripped))
        let px = Self.pixels(1, side: 64)
        #expect(try a.features(pixels: px, count: 1, spatial: false).pooled == b.features(pixels: px, count: 1, spatial: false).pooled)
    }
}
