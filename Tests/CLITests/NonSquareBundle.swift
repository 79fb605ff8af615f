import Foundation
import SpurCore

/// A small bundle whose images and masks are not square (issue 12): 500 × 375,
/// 375 × 500 and 64 × 48, each as PNG (written here) and as JPEG (fixtures
/// from Tests/SpurCoreTests/Fixtures/images/make_nonsquare.py), on a 3 × 4
/// feature grid so the grid is not square either. Every image appears
/// `copies` times in each of train, val and test.
enum NonSquareBundle {
    static let sizes = [(500, 375), (375, 500), (64, 48)]
    static let fixtures = CLIRunner.repository.appendingPathComponent("Tests/SpurCoreTests/Fixtures/images").path

    /// make_nonsquare.py's `inside`: the object box.
    static func inside(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> Bool {
        (w / 4 ..< w / 2).contains(x) && (h / 3 ..< 2 * h / 3).contains(y)
    }

    /// make_nonsquare.py's `scene`.
    static func scene(_ w: Int, _ h: Int) -> RGBImage {
        var px: [UInt8] = []
        px.reserveCapacity(w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                px += inside(x, y, w, h) ? [240, 220, 40] : [UInt8(30 + 150 * x / w), 90, UInt8(160 - 100 * y / h)]
            }
        }
        return RGBImage(width: w, height: h, pixels: px)
    }

    static func mask(_ w: Int, _ h: Int) -> RGBImage {
        var px: [UInt8] = []
        for y in 0..<h { for x in 0..<w { px += [UInt8](repeating: inside(x, y, w, h) ? 255 : 0, count: 3) } }
        return RGBImage(width: w, height: h, pixels: px)
    }

    /// Example ids `png-500x375-val`, `jpg-375x500-test`, … and for further
    /// copies `png-500x375-val-1`, …
    static func id(_ format: String, _ w: Int, _ h: Int, _ split: Split, copy: Int = 0) -> String {
        "\(format)-\(w)x\(h)-\(split.rawValue)" + (copy == 0 ? "" : "-\(copy)")
    }

    static func write(_ name: String, copies: Int = 1, change: (inout BundleContents) -> Void = { _ in }) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nonsquare-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let images = FileManager.default.temporaryDirectory.appendingPathComponent("nonsquare-\(name)-\(getpid())-images").path
        try? FileManager.default.removeItem(atPath: images)
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        var files: [(format: String, w: Int, h: Int, image: String, mask: String)] = []
        for (w, h) in sizes {
            let image = "\(images)/scene-\(w)x\(h).png", mask = "\(images)/mask-\(w)x\(h).png"
            try ImageFile.writePNG(scene(w, h), to: image)
            try ImageFile.writePNG(self.mask(w, h), to: mask)
            files.append(("png", w, h, image, mask))
            files.append(("jpg", w, h, "\(fixtures)/scene-\(w)x\(h).jpg", "\(fixtures)/mask-\(w)x\(h).jpg"))
        }

        let grid = BundleManifest.Grid(height: 3, width: 4), dv = 4
        let classes = ["landbird", "waterbird"], templates = ["a photo of a {}.", "a {} in the wild."]
        var examples: [Example] = [], detections: [Detection] = []
        for split in Split.allCases {
            for copy in 0..<copies {
                for (k, f) in files.enumerated() {
                    let water = k % 2
                    detections.append(Detection(example: examples.count, attribute: 0, score: water == 1 ? 0.9 : 0.1))
                    examples.append(Example(id: id(f.format, f.w, f.h, split, copy: copy), image: f.image, label: (k / 2) % 2,
                                            split: split, attributes: ["water": water], mask: f.mask))
                }
            }
        }
        var rng = SeededGenerator(seed: 12)
        let n = examples.count, cells = grid.height * grid.width
        let spatial = (0..<(n * cells * dv)).map { _ in rng.nextGaussian() }
        var pooled = Matrix(rows: n, cols: dv)
        for e in 0..<n { for c in 0..<cells { for d in 0..<dv { pooled[e, d] += spatial[(e * cells + c) * dv + d] / Float(cells) } } }
        let prompts = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
        var contents = BundleContents(
            manifest: BundleManifest(model: "test-encoder", textEncoder: "spurscope-words:seed=7:dim=3",
                                     dims: .init(imageDim: dv, textDim: 3, embeddingDim: 2), grid: grid, pooling: .mean,
                                     classes: classes, templates: templates, attributes: ["water", "land"], tensors: [],
                                     groups: ["water"]),
            examples: examples, detections: detections, prompts: prompts, pooled: pooled, spatial: spatial,
            spatialAsFloat16: false,
            textPrompts: rng.gaussianMatrix(rows: prompts.count, cols: 3),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: 2, cols: dv), text: rng.gaussianMatrix(rows: 2, cols: 3),
                                   logitScale: 2))
        change(&contents)
        try BundleWriter.write(contents, to: dir)
        return dir
    }
}
