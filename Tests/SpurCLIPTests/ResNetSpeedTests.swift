import CBLAS
import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// Images per second of the RN50 tower on random weights, by hand:
/// `SPURSCOPE_RESNET_SPEED=1 swift test --filter ResNetSpeedTests`, against
/// tools/reference/bench/resnet_torch.py on the same threads (A B A B).
/// Also the sgemm rate of one large square product, as the ceiling.
struct ResNetSpeedTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["SPURSCOPE_RESNET_SPEED"] == "1"))
    func rn50ImagesPerSecond() throws {
        let path = NSTemporaryDirectory() + "rn50-speed-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var size = RandomResNetCheckpoint.Size.rn50
        size.text = .init(vocabularySize: 64, contextLength: 8, width: 64, layers: 1, embeddingDim: 1024)
        try RandomResNetCheckpoint.write(size, to: path)
        let tower = try ModifiedResNetTower.load(CLIPCheckpoint(path: path))
        let batch = Int(ProcessInfo.processInfo.environment["SPURSCOPE_RESNET_BATCH"] ?? "32") ?? 32
        var rng = SeededGenerator(seed: 1)
        let pixels = (0..<batch * 3 * 224 * 224).map { _ in rng.nextGaussian() }
        _ = try tower.features(pixels: Array(pixels[0 ..< 2 * 3 * 224 * 224]), count: 2, spatial: true)
        let perPass = (ProcessInfo.processInfo.environment["SPURSCOPE_RESNET_PASSES"] ?? "8,32")
            .split(separator: ",").compactMap { Int($0) }
        for images in perPass {
            var best = Double.infinity
            for _ in 0..<2 {
                let start = Date()
                _ = try tower.features(pixels: pixels, count: batch, spatial: true, imagesPerPass: images)
                best = min(best, Date().timeIntervalSince(start))
            }
            print("RN50 batch \(batch), \(images) images per pass: \(String(format: "%.2f", Double(batch) / best)) images/s, "
                  + "\(String(format: "%.1f", tower.flopsPerImage(spatial: true) * Double(batch) / best / 1e9)) GFLOP/s "
                  + "(\(String(format: "%.2f", tower.flopsPerImage(spatial: true) / 1e9)) GFLOP per image; BLAS \(BLASInfo.coreName), \(BLASInfo.threads) threads)")
        }
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = a
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<3 {
            let start = Date()
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(n), blasint(n), blasint(n), 1, a, blasint(n), b, blasint(n), 0, &c, blasint(n))
            best = min(best, Date().timeIntervalSince(start))
        }
        print("sgemm \(n)³: \(String(format: "%.1f", 2 * pow(Double(n), 3) / best / 1e9)) GFLOP/s")
    }
}
