import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// The ViT image tower on random checkpoints: what it loads, its patch
/// embedding against a naive convolution, its LayerNorm'd outputs against
/// the hidden states, batching, and the checkpoints it refuses. (Its
/// numbers against torch: tools/reference/tests/test_image_tower.py.)
struct VisionTransformerTests {
    /// 8 wide, one layer, a 3×3 grid of 2-pixel patches: small enough to
    /// convolve by hand.
    static let tiny = RandomCLIPCheckpoint.Size(
        text: .init(vocabularySize: 20, contextLength: 8, width: 8, layers: 1, embeddingDim: 4),
        vision: .init(width: 8, layers: 1, patchSize: 2, imageSize: 6))

    static func checkpoint(_ size: RandomCLIPCheckpoint.Size, _ name: String, float16: Bool = false) throws -> String {
        let path = NSTemporaryDirectory() + "vit-\(name)-\(getpid()).safetensors"
        try RandomCLIPCheckpoint.write(size, to: path, seed: 7, float16: float16)
        return path
    }

    static func pixels(_ count: Int, size: Int, seed: UInt64 = 1) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<(count * 3 * size * size)).map { _ in rng.nextGaussian() }
    }

    static func vit(_ path: String) throws -> VisionTransformer {
        let tower = try CLIPImageTowers.load(CLIPCheckpoint(path: path))
        return try #require(tower as? VisionTransformer)
    }

    /// The same file with some tensors replaced (a value of nil removes one).
    static func rewrite(_ path: String, to out: String, replacing changes: [String: (shape: [Int], values: [Float])?]) throws {
        let file = try SafetensorsFile(path: path)
        var writer = SafetensorsWriter()
        for name in file.names where changes[name] == nil {
            writer.add(name, shape: try file.info(name).shape, floats: try file.floats(name))
        }
        for (name, change) in changes.sorted(by: { $0.key < $1.key }) {
            if let change { writer.add(name, shape: change.shape, floats: change.values) }
        }
        try writer.write(to: out)
    }

    @Test func randomCheckpointLoadsBothTowers() throws {
        let path = try Self.checkpoint(.small, "small")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let checkpoint = try CLIPCheckpoint(path: path)
        let text = try CLIPTextTower.load(checkpoint)
        #expect(text.shape.width == 64 && text.projection.shape == [32, 64])
        let vit = try Self.vit(path)
        #expect(vit.shape == ImageTowerShape(architecture: "ViT-W64-L2-P16@64px", imageSize: 64, gridHeight: 4, gridWidth: 4,
                                             featureWidth: 64, embeddingWidth: 32, pooling: .classToken))
        #expect(vit.projection.shape == [32, 64] && vit.blocks.count == 2 && vit.blocks[0].heads == 1)
        #expect(try checkpoint.weights.info("logit_scale").shape == [])
        let batch = try vit.features(pixels: Self.pixels(3, size: 64), count: 3, spatial: true)
        #expect(batch.count == 3 && batch.pooled.count == 3 * 64 && batch.spatial?.count == 3 * 16 * 64)
        let finite = batch.pooled.allSatisfy { $0.isFinite }
        #expect(finite)
        #expect(try vit.features(pixels: Self.pixels(2, size: 64), count: 2, spatial: false).spatial == nil)
    }

    @Test func projectionIsTheTransposeOfVisualProj() throws {
        let path = try Self.checkpoint(Self.tiny, "proj")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stored = try SafetensorsFile(path: path).floats("visual.proj")   // [Dv, E]
        let wv = try Self.vit(path).projection.values                           // [E, Dv]
        for i in 0..<8 { for j in 0..<4 { #expect(wv[j * 8 + i] == stored[i * 4 + j]) } }
    }

    @Test func patchEmbeddingIsTheConvolution() throws {
        let path = try Self.checkpoint(Self.tiny, "conv")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vit = try Self.vit(path)
        let count = 2, s = 6, p = 2, g = 3, w = 8
        let px = Self.pixels(count, size: s)
        let kernel = try SafetensorsFile(path: path).floats("visual.conv1.weight")   // [Dv, 3, P, P]
        var patches = [Float](repeating: 0, count: count * g * g * 3 * p * p)
        var ours = [Float](repeating: 0, count: count * g * g * w)
        px.withUnsafeBufferPointer { x in
            patches.withUnsafeMutableBufferPointer { pb in
                ours.withUnsafeMutableBufferPointer { o in
                    vit.embedPatches(x.baseAddress!, count: count, patches: pb.baseAddress!, into: o.baseAddress!)
                }
            }
        }
        for i in 0..<count { for r in 0..<g { for c in 0..<g { for o in 0..<w {
            var sum: Double = 0
            for ch in 0..<3 { for y in 0..<p { for x in 0..<p {
                sum += Double(kernel[((o * 3 + ch) * p + y) * p + x]) * Double(px[((i * 3 + ch) * s + r * p + y) * s + c * p + x])
            } } }
            let got = ours[((i * g + r) * g + c) * w + o]
            #expect(abs(Double(got) - sum) < 1e-5, "image \(i) patch (\(r), \(c)) channel \(o)")
        } } } }
    }

    @Test func pooledAndSpatialArePostLayerNormOfTheTokens() throws {
        let path = try Self.checkpoint(.small, "post-ln")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vit = try Self.vit(path)
        let file = try SafetensorsFile(path: path)
        let gamma = try file.floats("visual.ln_post.weight"), beta = try file.floats("visual.ln_post.bias")
        let count = 2, w = 64, t = 17
        let px = Self.pixels(count, size: 64)
        var scratch = VisionTransformer.Scratch()
        let hidden = px.withUnsafeBufferPointer { vit.hiddenStates($0.baseAddress!, count: count, scratch: &scratch) }
        let batch = try vit.features(pixels: px, count: count, spatial: true)
        let spatial = try #require(batch.spatial)
        func layerNorm(_ row: ArraySlice<Float>) -> [Double] {
            let v = row.map(Double.init), mean = v.reduce(0, +) / Double(w)
            let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w)
            let inv = 1 / (variance + 1e-5).squareRoot()
            return (0..<w).map { (j: Int) -> Double in (v[j] - mean) * inv * Double(gamma[j]) + Double(beta[j]) }
        }
        for i in 0..<count {
            for token in 0..<t {
                let expected = layerNorm(hidden[((i * t + token) * w)..<((i * t + token + 1) * w)])
                let got = token == 0 ? Array(batch.pooled[(i * w)..<((i + 1) * w)])
                    : Array(spatial[((i * 16 + token - 1) * w)..<((i * 16 + token) * w)])
                let diff = zip(got, expected).map { abs(Double($0) - $1) }.max()!
                #expect(diff < 1e-4, "image \(i) token \(token): max |Δ| \(diff)")
            }
        }
    }

    @Test func passesOfAnySizeGiveTheSameFeatures() throws {
        let path = try Self.checkpoint(.small, "passes")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vit = try Self.vit(path)
        let px = Self.pixels(5, size: 64)
        let together = try vit.features(pixels: px, count: 5, spatial: true)
        // Two images per pass (34 rows), the last pass one image.
        let split = try vit.features(pixels: px, count: 5, spatial: true, rowsPerPass: 40)
        #expect(zip(together.pooled, split.pooled).map { abs($0 - $1) }.max()! < 1e-5)
        #expect(zip(together.spatial!, split.spatial!).map { abs($0 - $1) }.max()! < 1e-5)
        // Each image's feature is its own: a different image, a different feature.
        #expect(zip(together.pooled[0..<64], together.pooled[64..<128]).map { abs($0 - $1) }.max()! > 1e-3)
    }

    @Test func float16CheckpointLoads() throws {
        let path = try Self.checkpoint(.small, "f16", float16: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(try CLIPCheckpoint(path: path).weights.info("visual.conv1.weight").dtype == .f16)
        let batch = try Self.vit(path).features(pixels: Self.pixels(1, size: 64), count: 1, spatial: false)
        let finite = batch.pooled.allSatisfy { $0.isFinite }
        #expect(batch.pooled.count == 64 && finite)
    }

    @Test func badShapesAreRefusedNamingTheTensor() throws {
        let path = try Self.checkpoint(Self.tiny, "bad-src")
        let bad = NSTemporaryDirectory() + "vit-bad-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: bad) }
        let cases: [(String, [Int], String)] = [
            ("visual.ln_post.bias", [7], "[8]"),
            ("visual.transformer.resblocks.0.attn.in_proj_weight", [16, 8], "[24, 8]"),
            ("visual.conv1.weight", [8, 3, 2, 3], "square patches"),
            ("visual.positional_embedding", [9, 8], "square grid"),
        ]
        for (name, shape, hint) in cases {
            try Self.rewrite(path, to: bad, replacing: [name: (shape, [Float](repeating: 0.5, count: shape.reduce(1, *)))])
            do {
                _ = try Self.vit(bad)
                Issue.record("\(name) with shape \(shape) was accepted")
            } catch let error as InputError {
                #expect(error.field == "tensor '\(name)'" && error.file == bad, "\(error)")
                #expect(error.problem.contains(hint), "\(error)")
            }
        }
    }

    @Test func unknownAndMissingTensorsAreRefused() throws {
        let path = try Self.checkpoint(Self.tiny, "unknown-src")
        let bad = NSTemporaryDirectory() + "vit-unknown-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: bad) }
        try Self.rewrite(path, to: bad, replacing: ["visual.conv1.bias": ([8], [Float](repeating: 0, count: 8))])
        #expect(throws: InputError(file: bad, field: "tensor 'visual.conv1.bias'",
                                   "is not part of CLIP's ViT image tower as spurscope computes it: the checkpoint has a variant that is not read")) {
            _ = try Self.vit(bad)
        }
        try Self.rewrite(path, to: bad, replacing: ["visual.ln_pre.weight": nil])
        do {
            _ = try Self.vit(bad)
            Issue.record("a ViT without ln_pre.weight was accepted")
        } catch let error as InputError {
            #expect(error.description.contains("visual.ln_pre.weight"), "\(error)")
        }
    }

    @Test func openCLIPPoolingOtherThanTheClassTokenIsRefused() throws {
        let folder = NSTemporaryDirectory() + "vit-avg-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try RandomCLIPCheckpoint.write(Self.tiny, to: folder + "/" + CLIPCheckpoint.openCLIPWeights)
        let config = #"{"model_cfg": {"quick_gelu": true, "vision_cfg": {"width": 8, "layers": 1, "patch_size": 2, "pool_type": "avg"}}}"#
        try config.write(toFile: folder + "/open_clip_config.json", atomically: true, encoding: .utf8)
        do {
            _ = try Self.vit(folder)
            Issue.record("average pooling was accepted")
        } catch let error as InputError {
            #expect(error.field == "model_cfg.vision_cfg.pool_type", "\(error)")
        }
    }

    @Test func wrongPixelCountIsAnInputError() throws {
        let path = try Self.checkpoint(Self.tiny, "pixels")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vit = try Self.vit(path)
        #expect(throws: InputError.self) { try vit.features(pixels: Self.pixels(2, size: 6), count: 3, spatial: false) }
        #expect(try vit.features(pixels: [], count: 0, spatial: true).pooled.isEmpty)
    }

    @Test func architectureNamesFollowTheReleasedModels() {
        #expect(VisionTransformer.architectureName(width: 768, layers: 12, patch: 32, imageSize: 224) == "ViT-B/32")
        #expect(VisionTransformer.architectureName(width: 768, layers: 12, patch: 16, imageSize: 224) == "ViT-B/16")
        #expect(VisionTransformer.architectureName(width: 1024, layers: 24, patch: 14, imageSize: 224) == "ViT-L/14")
        #expect(VisionTransformer.architectureName(width: 1024, layers: 24, patch: 14, imageSize: 336) == "ViT-L/14@336px")
        #expect(VisionTransformer.architectureName(width: 64, layers: 2, patch: 16, imageSize: 224) == "ViT-W64-L2-P16")
    }
}
