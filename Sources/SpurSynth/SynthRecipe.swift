import Foundation
import SpurCore

/// Everything that determines a synthetic benchmark. Same recipe, same
/// machine → the same bundle, byte for byte.
public struct SynthRecipe: Codable, Equatable, Sendable {
    public var seed: UInt64 = 7
    public var imageSize: Int = 64
    /// Waterbirds' training split: 4,795 examples, groups 3,498 / 184 / 56 / 1,057.
    public var train: Int = 4795
    /// Validation and test: every (class, background) group equally often,
    /// 300 test examples per group (a group accuracy's 95 % interval ≈ ±5 points).
    public var val: Int = 1200
    public var test: Int = 1200
    /// P(land | landbird) = P(water | waterbird) in the training split.
    public var correlation: Double = 0.95
    /// Share of landbirds in the training split (Waterbirds: 3682 / 4795).
    public var landbirdShare: Double = 0.7679
    /// Size and bias of the caption corpus the projections are pre-trained on.
    public var pretrainExamples: Int = 4000
    public var pretrainCorrelation: Double = 0.985
    public var pretrainSteps: Int = 600
    /// Rate at which detections disagree with the ground truth, both ways.
    public var detectionNoise: Double = 0.1
    public var textDim: Int = 64
    public var embeddingDim: Int = 64
    /// The image encoder: stride-2 random stem layers, then the two
    /// pre-trained top layers (3×3 and 1×1); the last is the feature dimension.
    public var encoderWidths: [Int] = [32, 64, 128, 128, 128]
    /// The encoder's own seed (its stem, its corpus, its pre-training). Like
    /// CLIP's weights, the encoder does not change with the benchmark's draw
    /// (`seed`): every benchmark seed is seen through the same encoder.
    public var encoderSeed: UInt64 = 7
    /// The broad corpus the encoder's top layers are pre-trained on, and its steps.
    public var encoderCorpus: Int = 12000
    public var encoderSteps: Int = 600
    /// The encoder pre-training's Adam learning rate (cosine-decayed to 0) and batch.
    public var encoderLearningRate: Double = 8e-3
    public var encoderBatch: Int = 64

    public init() {}

    enum CodingKeys: String, CodingKey {
        case seed, imageSize = "image_size", train, val, test, correlation
        case landbirdShare = "landbird_share", pretrainExamples = "pretrain_examples"
        case pretrainCorrelation = "pretrain_correlation", pretrainSteps = "pretrain_steps"
        case detectionNoise = "detection_noise", textDim = "text_dim", embeddingDim = "embedding_dim"
        case encoderWidths = "encoder_widths", encoderSeed = "encoder_seed", encoderCorpus = "encoder_corpus", encoderSteps = "encoder_steps"
        case encoderLearningRate = "encoder_learning_rate", encoderBatch = "encoder_batch"
    }

    /// Missing keys keep their defaults, so a recipe file names only what it changes.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SynthRecipe()
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        train = try c.decodeIfPresent(Int.self, forKey: .train) ?? d.train
        val = try c.decodeIfPresent(Int.self, forKey: .val) ?? d.val
        test = try c.decodeIfPresent(Int.self, forKey: .test) ?? d.test
        correlation = try c.decodeIfPresent(Double.self, forKey: .correlation) ?? d.correlation
        landbirdShare = try c.decodeIfPresent(Double.self, forKey: .landbirdShare) ?? d.landbirdShare
        pretrainExamples = try c.decodeIfPresent(Int.self, forKey: .pretrainExamples) ?? d.pretrainExamples
        pretrainCorrelation = try c.decodeIfPresent(Double.self, forKey: .pretrainCorrelation) ?? d.pretrainCorrelation
        pretrainSteps = try c.decodeIfPresent(Int.self, forKey: .pretrainSteps) ?? d.pretrainSteps
        detectionNoise = try c.decodeIfPresent(Double.self, forKey: .detectionNoise) ?? d.detectionNoise
        textDim = try c.decodeIfPresent(Int.self, forKey: .textDim) ?? d.textDim
        embeddingDim = try c.decodeIfPresent(Int.self, forKey: .embeddingDim) ?? d.embeddingDim
        encoderWidths = try c.decodeIfPresent([Int].self, forKey: .encoderWidths) ?? d.encoderWidths
        encoderSeed = try c.decodeIfPresent(UInt64.self, forKey: .encoderSeed) ?? d.encoderSeed
        encoderCorpus = try c.decodeIfPresent(Int.self, forKey: .encoderCorpus) ?? d.encoderCorpus
        encoderSteps = try c.decodeIfPresent(Int.self, forKey: .encoderSteps) ?? d.encoderSteps
        encoderLearningRate = try c.decodeIfPresent(Double.self, forKey: .encoderLearningRate) ?? d.encoderLearningRate
        encoderBatch = try c.decodeIfPresent(Int.self, forKey: .encoderBatch) ?? d.encoderBatch
    }

    public static func read(path: String) throws -> SynthRecipe {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "is missing") }
        do {
            let r = try JSONDecoder().decode(SynthRecipe.self, from: data)
            try r.check(file: path)
            return r
        } catch let e as InputError {
            throw e
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw InputError(file: path, field: ctx.codingPath.map(\.stringValue).joined(separator: "."), "has the wrong type")
        } catch {
            throw InputError(file: path, "is not a valid recipe (JSON object of recipe fields)")
        }
    }

    /// Bounds that keep a recipe meaningful (and its bundle buildable).
    public func check(file: String) throws {
        func require(_ ok: Bool, _ field: String, _ message: String) throws {
            if !ok { throw InputError(file: file, field: field, message) }
        }
        try require(imageSize >= 32 && imageSize <= 256 && imageSize % 8 == 0, "image_size", "is \(imageSize), expected a multiple of 8 in 32...256")
        for (name, n) in [("train", train), ("val", val), ("test", test)] {
            try require(n >= 8 && n <= 200_000, name, "is \(n), expected 8...200000 examples")
        }
        try require(correlation >= 0.5 && correlation <= 1, "correlation", "is \(correlation), expected 0.5...1")
        try require(landbirdShare > 0 && landbirdShare < 1, "landbird_share", "is \(landbirdShare), expected between 0 and 1")
        try require(pretrainExamples >= 64, "pretrain_examples", "is \(pretrainExamples), expected at least 64")
        try require(pretrainCorrelation >= 0.5 && pretrainCorrelation <= 1, "pretrain_correlation", "is \(pretrainCorrelation), expected 0.5...1")
        try require(pretrainSteps >= 0, "pretrain_steps", "is negative")
        try require(detectionNoise >= 0 && detectionNoise < 0.5, "detection_noise", "is \(detectionNoise), expected 0 ≤ noise < 0.5")
        try require(textDim >= 4 && embeddingDim >= 4, "text_dim", "dims must be at least 4")
        try require(encoderWidths.count >= 3 && encoderWidths.allSatisfy { $0 >= 1 && $0 <= 1024 }, "encoder_widths",
                    "expected at least 3 layers (stem, then two pre-trained) of 1...1024 channels")
        try require(imageSize >> (encoderWidths.count - 2) >= 2, "encoder_widths",
                    "\(encoderWidths.count - 2) stride-2 layers leave no grid of an image of side \(imageSize)")
        try require(encoderCorpus >= 64, "encoder_corpus", "is \(encoderCorpus), expected at least 64")
        try require(encoderSteps >= 0, "encoder_steps", "is negative")
        try require(encoderLearningRate > 0 && encoderLearningRate < 1, "encoder_learning_rate",
                    "is \(encoderLearningRate), expected between 0 and 1")
        try require(encoderBatch >= 1 && encoderBatch <= encoderCorpus, "encoder_batch",
                    "is \(encoderBatch), expected 1...encoder_corpus (\(encoderCorpus))")
    }
}
