import Foundation
import SpurCore

/// Everything an extraction decides before it encodes an image: the models,
/// the prompt table, and the bytes of the bundle's small files. A resumed
/// run is the same plan (the same small files, byte for byte), so a kill
/// and a rerun give the bundle an uninterrupted run would have.
public struct ExtractionPlan: Sendable {
    public struct Options: Sendable {
        public var checkpoint: String
        /// The tokenizer's vocabulary when it is not in the checkpoint's folder.
        public var vocabulary: String?
        public var shard: ExtractionShard = .whole
        public var spatial = true
        public var spatialAsFloat16 = true
        /// Store the model's square views (`images/`, `masks/`) rather than
        /// listing the original files.
        public var views = true
        /// Attribute words before the class names are removed.
        public var words: [String] = AttributeVocabulary.objects
        public var exclude: [String] = []
        public init(checkpoint: String) { self.checkpoint = checkpoint }
    }

    public let options: Options
    public let dataset: ExtractionDataset
    public let checkpoint: CLIPCheckpoint
    public let imageTower: any CLIPImageTower
    public let textTower: CLIPTextTower
    public let tokenizer: CLIPTokenizer
    public let preprocessing: ImagePreprocessing
    public let logitScale: Float
    public let attributes: [String]
    public let prompts: [String]
    public let manifest: BundleManifest
    /// This worker's rows of the examples and of the prompt table.
    public let rows: Range<Int>
    public let promptRows: Range<Int>
    /// `examples.csv`, `prompts.csv` and (sharded) `shard.json`, as written.
    public let files: [(name: String, bytes: Data)]
    public let declarations: [SafetensorsRowFile.Declaration]

    public static let viewDirectory = "images", maskDirectory = "masks", shardFile = "shard.json"

    public static func viewPath(_ row: Int, directory: String = viewDirectory) -> String {
        "\(directory)/\(String(format: "%07d", row)).png"
    }

    public init(dataset: ExtractionDataset, options: Options) throws {
        self.options = options
        self.dataset = dataset
        var words = options.exclude
        if dataset.groups == ["water"] { words.append("bird") }   // Waterbirds: both classes are birds
        attributes = AttributeVocabulary.withoutClasses(options.words, classes: dataset.classes, exclude: words)
        guard !attributes.isEmpty else {
            throw SettingError("vocabulary", "has no word left once the class names are removed")
        }
        checkpoint = try CLIPCheckpoint(path: options.checkpoint)
        imageTower = try CLIPImageTowers.load(checkpoint)
        textTower = try CLIPTextTower.load(checkpoint)
        tokenizer = try CLIPTokenizer(contentsOf: options.vocabulary ?? checkpoint.folder)
        let s = imageTower.shape
        guard imageTower.projection.shape == [s.embeddingWidth, s.featureWidth],
              textTower.projection.shape == [s.embeddingWidth, textTower.shape.width] else {
            throw InputError(file: checkpoint.weightsPath, "has an image projection \(imageTower.projection.shape) and a text projection \(textTower.projection.shape) that do not meet in one joint space")
        }
        preprocessing = try ImagePreprocessing.forCheckpoint(folder: checkpoint.folder, layout: checkpoint.layout, imageSize: s.imageSize)
        let scale = try checkpoint.weight("logit_scale", shape: [])
        logitScale = scale.values[0]

        let templates = CLIPTemplates.imagenet80
        prompts = dataset.classes.flatMap { c in templates.map { $0.replacingOccurrences(of: "{}", with: c) } }
            + attributes.map(CLIPTemplates.wordPrompt)
        rows = options.shard.rows(of: dataset.items.count)
        promptRows = options.shard.rows(of: prompts.count)

        let record = TextCheckpointRecord(path: ExtractionDataset.absolute(options.checkpoint),
                                          digest: try FileDigest.sha256(checkpoint.weightsPath),
                                          layout: checkpoint.layout.rawValue,
                                          vocabulary: options.vocabulary.map(ExtractionDataset.absolute))
        // The Grad-CAM tail's input supersedes image_spatial: maps are
        // computed from it through the frozen tail, and it is what true
        // Grad-CAM needs (the spatial map of the last layer is not).
        let tail = imageTower.camTail
        var tensors = ["image_pooled"]
        if options.spatial { tensors.append(CAMTailFile.inputTensor) }
        tensors += ["text_prompts", "W_v", "W_t", "logit_scale"]
        manifest = BundleManifest(
            model: options.checkpoint, textEncoder: options.checkpoint,
            dims: .init(imageDim: s.featureWidth, textDim: textTower.shape.width, embeddingDim: s.embeddingWidth),
            grid: .init(height: s.gridHeight, width: s.gridWidth),
            pooling: s.pooling == .attention ? .attention : .token,
            classes: dataset.classes, templates: templates, attributes: attributes, tensors: tensors,
            groups: dataset.groups, textCheckpoint: record, camTail: options.spatial ? tail.record : nil)

        var files: [(String, Data)] = [
            (FeatureBundle.manifestFile, try JSONEncoder.readable.encode(manifest) + Data("\n".utf8)),
            (FeatureBundle.examplesFile, try Self.examplesCSV(dataset, preprocessing: preprocessing, views: options.views)),
            (FeatureBundle.promptsFile, try CSVTable.encode(header: ["prompt"], rows: prompts.map { [$0] })),
        ]
        if options.spatial { files.append((CAMTailFile.name, try tail.encoded())) }
        if options.shard.count > 1 {
            let info: [String: Any] = ["shard": options.shard.index, "of": options.shard.count,
                                       "rows": [rows.lowerBound, rows.upperBound],
                                       "prompt_rows": [promptRows.lowerBound, promptRows.upperBound],
                                       "total_rows": dataset.items.count, "total_prompts": prompts.count]
            files.append((Self.shardFile, try JSONSerialization.data(withJSONObject: info, options: [.sortedKeys, .prettyPrinted]) + Data("\n".utf8)))
        }
        self.files = files
        var declarations: [SafetensorsRowFile.Declaration] = [.init("image_pooled", .f32, [rows.count, s.featureWidth])]
        if options.spatial {
            declarations.append(.init(CAMTailFile.inputTensor, options.spatialAsFloat16 ? .f16 : .f32, [rows.count, tail.tokens, tail.width]))
        }
        declarations += [.init("text_prompts", .f32, [promptRows.count, textTower.shape.width]),
                         .init("W_v", .f32, imageTower.projection.shape),
                         .init("W_t", .f32, textTower.projection.shape),
                         .init("logit_scale", .f32, [])]
        self.declarations = declarations
    }

    /// `examples.csv` as `tools/extract` writes it: with views, the image
    /// column names the model's view and `source_image` the original, masks
    /// point at their views and boxes are moved into the crop.
    static func examplesCSV(_ d: ExtractionDataset, preprocessing: ImagePreprocessing, views: Bool) throws -> Data {
        let columns = d.extraColumns + (views ? ["source_image"] : [])
        var rows: [[String]] = []
        rows.reserveCapacity(d.items.count)
        for (r, item) in d.items.enumerated() {
            var extra = item.extra
            var image = item.image
            if views {
                extra["source_image"] = item.image
                image = viewPath(r)
                if let m = extra["mask"], !m.isEmpty { extra["mask"] = viewPath(r, directory: maskDirectory) }
                if let text = extra["bbox"], !text.isEmpty {
                    let box = try BoundingBox(parsing: text, file: d.source, field: "line \(r + 2), column bbox")
                    let picture = try ImageFile.read(path: item.image)
                    extra["bbox"] = preprocessing.boxInView(box, originalWidth: picture.width, originalHeight: picture.height)
                        .map { b in [b.x0, b.y0, b.x1, b.y1].map { String(format: "%g", Double($0)) }.joined(separator: " ") } ?? ""
                }
            }
            rows.append([item.id, image, d.classes[item.label], item.split.rawValue] + columns.map { extra[$0] ?? "" })
        }
        return try CSVTable.encode(header: ["id", "image", "label", "split"] + columns, rows: rows)
    }
}

extension BoundingBox {
    /// `x0 y0 x1 y1` as `examples.csv` writes a box.
    init(parsing text: String, file: String, field: String) throws {
        let v = text.split(whereSeparator: \.isWhitespace).compactMap { Float($0) }
        guard v.count == 4, v.allSatisfy(\.isFinite) else {
            throw InputError(file: file, field: field, "'\(text)' is not four numbers x0 y0 x1 y1")
        }
        self.init(x0: v[0], y0: v[1], x1: v[2], y1: v[3])
    }
}
