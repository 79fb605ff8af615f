import Foundation
import Testing
import SpurCore
@testable import SpurCLIP

/// Resampling, crops and recipes worked by hand (the whole pipeline is
/// checked against Pillow and transformers in
/// tools/reference/tests/test_preprocessing.py).
struct ImagePreprocessingTests {
    /// A grey picture of one row.
    static func row(_ values: [UInt8]) -> RGBImage {
        RGBImage(width: values.count, height: 1, pixels: values.flatMap { [$0, $0, $0] })
    }

    static func greys(_ image: RGBImage) -> [UInt8] { stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] } }

    // MARK: resampling

    @Test func bicubicWeightsOfAHalvingWorkedByHand() {
        // 4 -> 2: scale 2, so the cubic (a = -0.5) is stretched to reach 4
        // samples each way. Output 0 is centred on 1.0 and reads samples
        // 0...3 at t = (j - 0.5) / 2 = -0.25, 0.25, 0.75, 1.25, where the
        // cubic is 0.8671875, 0.8671875, 0.2265625, -0.0703125 = (111, 111,
        // 29, -9) / 128; normalised, (111, 111, 29, -9) / 242.
        let (first, real) = ResamplingTaps.real(filter: .bicubic, inSize: 4, outSize: 2)
        #expect(first == [0, 0])
        let expected: [Double] = [111, 111, 29, -9].map { $0 / 242 }
        for (got, want) in zip(real[0], expected) { #expect(abs(got - want) < 1e-15) }
        for (got, want) in zip(real[1], expected.reversed()) { #expect(abs(got - want) < 1e-15) }
        // 22-bit fixed point, half away from zero: the weights sum to 2^22.
        let taps = ResamplingTaps(filter: .bicubic, inSize: 4, outSize: 2)
        #expect(Array(taps.weights[0..<4]) == [1_923_834, 1_923_834, 502_623, -155_987])
        // (10·111 + 20·111 + 200·29 − 40·9) / 242 = 36.2, (−90 + 580 + 22200 + 4440) / 242 = 112.1.
        #expect(Self.greys(Self.row([10, 20, 200, 40]).resampled(width: 2, height: 1, filter: .bicubic)) == [36, 112])
    }

    @Test func enlargingKeepsTheFilterUnstretchedAndClips() {
        // 2 -> 4: output 0 is centred on 0.25 and reads samples 0, 1 at
        // t = 0.25, 1.25: (111, -9) / 102, so overshoot is clipped.
        let (first, real) = ResamplingTaps.real(filter: .bicubic, inSize: 2, outSize: 4)
        #expect(first[0] == 0 && real[0].count == 2)
        #expect(abs(real[0][0] - 111.0 / 102) < 1e-15 && abs(real[0][1] + 9.0 / 102) < 1e-15)
        #expect(Self.greys(Self.row([0, 255]).resampled(width: 4, height: 1, filter: .bicubic)).first == 0)
        #expect(Self.greys(Self.row([255, 0]).resampled(width: 4, height: 1, filter: .bicubic)).first == 255)
    }

    @Test func bilinearIsTheTriangle() {
        // 3 -> 2: scale 1.5, output 0 centred on 0.75 reads samples 0, 1 at
        // t = (j - 0.25) / 1.5 = -1/6, 1/2: the triangle is 5/6, 1/2; normalised 5/8, 3/8.
        let (_, real) = ResamplingTaps.real(filter: .bilinear, inSize: 3, outSize: 2)
        #expect(real[0].count == 2 && abs(real[0][0] - 5.0 / 8) < 1e-15 && abs(real[0][1] - 3.0 / 8) < 1e-15)
    }

    @Test func theWindowIsExactlyTheCroppedWholeResize() {
        var pixels: [UInt8] = []
        var state: UInt32 = 12345
        for _ in 0..<(37 * 23 * 3) {
            state = state &* 1_664_525 &+ 1_013_904_223
            pixels.append(UInt8(state >> 24))
        }
        let image = RGBImage(width: 37, height: 23, pixels: pixels)
        // Both pass orders: the height shrinking a little, and much more than the width.
        for (w, h) in [(20, 17), (31, 9), (50, 11), (37, 12), (15, 23)] {
            let whole = image.resampled(width: w, height: h, filter: .bicubic)
            let part = image.resampled(width: w, height: h, filter: .bicubic, window: (3, 2, w - 5, h - 2))
            #expect(part == whole.cropped(x: 3, y: 2, width: w - 5, height: h - 2), "\(w)x\(h)")
        }
    }

    // MARK: crops

    static let hf = try! ImagePreprocessing(size: 224, resize: .shortestEdge(224), filter: .bicubic, crop: .floor)
    static let openAI = try! ImagePreprocessing(size: 224, resize: .shortestEdge(224), filter: .bicubic, crop: .halfToEven)

    @Test func cropsRoundOddMarginsEachTheirOwnWay() {
        // 375 x 501: the long side to int(224 · 501 / 375) = 299, margin 75:
        // Hugging Face starts at 75 // 2 = 37, torchvision at round(37.5) = 38.
        #expect(Self.hf.resizedSize(width: 375, height: 501) == (224, 299))
        #expect(Self.hf.cropOrigin(width: 224, height: 299) == (0, 37))
        #expect(Self.openAI.cropOrigin(width: 224, height: 299) == (0, 38))
        // Margin 113 (333 x 501 -> 224 x 337): round(56.5) is 56, ties to even.
        #expect(Self.hf.resizedSize(width: 333, height: 501) == (224, 337))
        #expect(Self.openAI.cropOrigin(width: 224, height: 337) == (0, 56))
        #expect(Self.hf.cropOrigin(width: 224, height: 337) == (0, 56))
        // Landscape: 500 x 375 -> 298 x 224, margin 74, both 37.
        #expect(Self.openAI.resizedSize(width: 500, height: 375) == (298, 224))
        #expect(Self.openAI.cropOrigin(width: 298, height: 224) == (37, 0))
    }

    @Test func theViewIsTheCentreCrop() {
        // 224 x 227 needs no resampling (the short side is already 224, the
        // long one int(224 · 227 / 224) = 227): the view is rows 1... (HF,
        // 3 // 2) or 2... (torchvision, round(1.5)).
        let rows = (0..<227).flatMap { y in [UInt8](repeating: UInt8(y), count: 224 * 3) }
        let image = RGBImage(width: 224, height: 227, pixels: rows)
        #expect(Self.hf.view(of: image) == image.cropped(x: 0, y: 1, width: 224, height: 224))
        #expect(Self.openAI.view(of: image) == image.cropped(x: 0, y: 2, width: 224, height: 224))
    }

    @Test func boxesMoveWithTheResizeAndTheCrop() throws {
        let box = BoundingBox(x0: 100, y0: 100, x1: 200, y1: 200)
        // 375 x 501 -> 224 x 299, then 37 (HF) or 38 rows off the top.
        let hf = try #require(Self.hf.boxInView(box, originalWidth: 375, originalHeight: 501))
        #expect(abs(hf.x0 - 59.733333) < 1e-4 && abs(hf.x1 - 119.466667) < 1e-4)
        #expect(abs(hf.y0 - 22.680639) < 1e-4 && abs(hf.y1 - 82.361277) < 1e-4)
        let oa = try #require(Self.openAI.boxInView(box, originalWidth: 375, originalHeight: 501))
        #expect(abs(oa.y0 - 21.680639) < 1e-4 && abs(oa.y1 - 81.361277) < 1e-4)
        // Clipped to the view; gone when it lies in the cropped-off margin.
        let all = try #require(Self.hf.boxInView(BoundingBox(x0: -5, y0: 0, x1: 400, y1: 501), originalWidth: 375, originalHeight: 501))
        #expect(all == BoundingBox(x0: 0, y0: 0, x1: 224, y1: 224))
        #expect(Self.hf.boxInView(BoundingBox(x0: 10, y0: 0, x1: 300, y1: 20), originalWidth: 375, originalHeight: 501) == nil)
    }

    @Test func pixelsAreChannelFirstAndNormalised() throws {
        let recipe = try ImagePreprocessing(size: 1, resize: .exact(width: 1, height: 1), filter: .bicubic, crop: nil,
                                            mean: [0.5, 0, 0.25], std: [0.5, 1, 0.25])
        let view = RGBImage(width: 2, height: 1, pixels: [255, 0, 51, 0, 255, 102])
        let p = recipe.pixels(of: view)
        let expected: [Float] = [1, -1, 0, 1, (0.2 - 0.25) / 0.25, (0.4 - 0.25) / 0.25]
        for (a, b) in zip(p, expected) { #expect(abs(a - b) < 1e-6) }
    }

    // MARK: recipes from checkpoint folders

    static func folder(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-preprocessing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: dir.appendingPathComponent(name)) }
        return dir.path
    }

    @Test func withoutConfigEachLayoutHasItsOwnRecipe() throws {
        let empty = try Self.folder([:])
        let hf = try ImagePreprocessing.forCheckpoint(folder: empty, layout: .huggingFace, imageSize: 336)
        #expect(hf == (try ImagePreprocessing(size: 336, resize: .shortestEdge(336), filter: .bicubic, crop: .floor)))
        let oa = try ImagePreprocessing.forCheckpoint(folder: empty, layout: .openAI, imageSize: 224)
        #expect(oa == Self.openAI)
        #expect(oa.mean == ImagePreprocessing.openAIMean && oa.std == ImagePreprocessing.openAIStd)
    }

    @Test func readsHuggingFaceConfigs() throws {
        let old = try Self.folder(["preprocessor_config.json": """
            {"size": 224, "crop_size": 224, "resample": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": 0.5,
             "do_center_crop": true, "image_processor_type": "CLIPImageProcessor"}
            """])
        let r = try ImagePreprocessing.forCheckpoint(folder: old, layout: .huggingFace, imageSize: 224)
        #expect(r.resize == .shortestEdge(224) && r.filter == .bilinear && r.crop == .floor)
        #expect(r.mean == [0.5, 0.5, 0.5] && r.std == [0.5, 0.5, 0.5])
        let square = try Self.folder(["preprocessor_config.json": """
            {"size": {"height": 64, "width": 64}, "do_center_crop": false, "do_normalize": false, "rescale_factor": 0.5}
            """])
        let s = try ImagePreprocessing.forCheckpoint(folder: square, layout: .huggingFace, imageSize: 64)
        #expect(s.resize == .exact(width: 64, height: 64) && s.crop == nil)
        #expect(s.rescaleFactor == 0.5 && s.mean == [0, 0, 0] && s.std == [1, 1, 1])
    }

    @Test(arguments: [
        (#"{"resample": 1}"#, "resample", "is 1; supported: 2 (bilinear), 3 (bicubic)"),
        (#"{"crop_size": {"height": 256, "width": 256}}"#, "crop_size", "is 256x256; the image tower takes 224x224"),
        (#"{"size": {"shortest_edge": 200}}"#, "size", "is 200, smaller than the 224-pixel crop (padding is not supported)"),
        (#"{"size": {"shortest_edge": -3}}"#, "size.shortest_edge", "is not a positive whole number of pixels"),
        (#"{"do_center_crop": false}"#, "do_center_crop", "no centre crop after a shortest-edge resize: views of non-square pictures would not be 224x224"),
        (#"{"do_center_crop": "yes"}"#, "do_center_crop", "is not true or false"),
        (#"{"image_mean": [0.5, 0.5]}"#, "image_mean", "is not 3 numbers (R, G, B)"),
        (#"{"image_std": [0.5, 0, 0.5]}"#, "image_std", "is [0.5, 0.0, 0.5], expected 3 positive numbers (R, G, B)"),
        (#"{"do_resize": false}"#, "do_resize", "is false; only resized pictures are supported (the tower takes 224x224)"),
    ])
    func badHuggingFaceFieldsAreNamed(json: String, field: String, problem: String) throws {
        let dir = try Self.folder(["preprocessor_config.json": json])
        let path = (dir as NSString).appendingPathComponent("preprocessor_config.json")
        #expect(throws: InputError(file: path, field: field, problem)) {
            try ImagePreprocessing.forCheckpoint(folder: dir, layout: .huggingFace, imageSize: 224)
        }
    }

    @Test func readsOpenCLIPConfigs() throws {
        let dir = try Self.folder(["open_clip_config.json": """
            {"model_cfg": {}, "preprocess_cfg": {"mean": [0.1, 0.2, 0.3], "std": [0.4, 0.5, 0.6],
             "interpolation": "random", "resize_mode": "squash", "size": [224, 224]}}
            """])
        let r = try ImagePreprocessing.forCheckpoint(folder: dir, layout: .openAI, imageSize: 224)
        #expect(r.resize == .exact(width: 224, height: 224) && r.crop == nil && r.filter == .bicubic)
        #expect(r.mean == [0.1, 0.2, 0.3] && r.std == [0.4, 0.5, 0.6])
        let path = (dir as NSString).appendingPathComponent("open_clip_config.json")
        try Data(#"{"preprocess_cfg": {"resize_mode": "longest"}}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: InputError(file: path, field: "preprocess_cfg.resize_mode",
                                   "is 'longest' (letterboxed, padded views), which is not supported")) {
            try ImagePreprocessing.forCheckpoint(folder: dir, layout: .openAI, imageSize: 224)
        }
        try Data("not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: InputError(file: path, "is not a JSON object")) {
            try ImagePreprocessing.forCheckpoint(folder: dir, layout: .openAI, imageSize: 224)
        }
    }
}
