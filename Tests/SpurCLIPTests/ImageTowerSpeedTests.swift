import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// ViT-B/32's images/s on random weights, batch 32, for the by-hand ratio
/// against tools/reference/bench/image_tower_torch.py. Off unless
/// `SPURSCOPE_IMAGE_BENCH=1` (it takes a minute and measures, not checks).
struct ImageTowerSpeedTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SPURSCOPE_IMAGE_BENCH"] == "1"))
    func vitB32ImagesPerSecond() throws {
        let path = NSTemporaryDirectory() + "vit-b32-bench-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RandomCLIPCheckpoint.write(.vitB32, to: path)
        let vit = try #require(try CLIPImageTowers.load(CLIPCheckpoint(path: path)) as? VisionTransformer)
        let batch = 32, batches = 4
        var rng = SeededGenerator(seed: 0)
        let pixels = (0..<(batch * 3 * 224 * 224)).map { _ in rng.nextGaussian() }
        _ = try vit.features(pixels: Array(pixels[0..<(2 * 3 * 224 * 224)]), count: 2, spatial: true)
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = Date()
            for _ in 0..<batches { _ = try vit.features(pixels: pixels, count: batch, spatial: true) }
            best = min(best, Date().timeIntervalSince(t0))
        }
        let images = Double(batch * batches)
        print("ViT-B/32 native: \(images / best) images/s, \(vit.flops(images: batch * batches) / best / 1e9) GFLOP/s")
    }
}
