import Foundation

/// `manifest.json`: what a feature bundle holds and how it was made.
public struct BundleManifest: Codable, Equatable, Sendable {
    public static let currentFormatVersion = 1

    public struct Dims: Codable, Equatable, Sendable {
        /// Image feature width `Dv`, text feature width `Dt`, joint embedding `E`.
        public var imageDim: Int
        public var textDim: Int
        public var embeddingDim: Int
        enum CodingKeys: String, CodingKey { case imageDim = "Dv", textDim = "Dt", embeddingDim = "E" }
        public init(imageDim: Int, textDim: Int, embeddingDim: Int) {
            self.imageDim = imageDim; self.textDim = textDim; self.embeddingDim = embeddingDim
        }
    }

    public struct Grid: Codable, Equatable, Sendable {
        public var height: Int
        public var width: Int
        enum CodingKeys: String, CodingKey { case height = "H", width = "W" }
        public init(height: Int, width: Int) { self.height = height; self.width = width }
    }

    /// How the encoder turned its spatial map into the pooled feature. With
    /// `mean`, Grad-CAM through the head is exactly Grad-CAM on the last map.
    /// `token`: a ViT's class token; `attention`: a ModifiedResNet's
    /// attention pool (the map is each position through the pool's value
    /// path). For both, the map shown is read through the head at the stored
    /// pooled feature.
    public enum Pooling: String, Codable, Sendable { case mean, token, attention }

    public var formatVersion: Int
    public var model: String
    /// The text encoder that made `text_prompts`; prompts it did not encode
    /// cannot be invented later.
    public var textEncoder: String
    public var dims: Dims
    public var grid: Grid
    public var pooling: Pooling
    public var classes: [String]
    /// Prompt templates with `{}` for the class name.
    public var templates: [String]
    /// The attribute vocabulary of `attributes.csv`.
    public var attributes: [String]
    /// The tensors `features.safetensors` holds.
    public var tensors: [String]
    /// The ground-truth attribute(s) whose values, with the class, define the
    /// benchmark's groups (Waterbirds: `water`). Optional.
    public var groups: [String]?
    /// The binary detections file (`detections.safetensors`) in the bundle
    /// directory. When set, it holds the bundle's detections and
    /// `attributes.csv` is not read; when absent, `attributes.csv` does.
    public var detections: String?
    /// The detector score at which an attribute counts as present, the
    /// default of every presence decision (audit, training, UI) on this
    /// bundle. Absent (bundles from before the field): 0.5.
    public var detectionThreshold: Float?
    /// The checkpoint whose text tower encoded `text_prompts`: phrases the
    /// table lacks are encoded with it. Absent: the table is all there is
    /// (or the text encoder is built in).
    public var textCheckpoint: TextCheckpointRecord?
    /// The frozen tail true Grad-CAM runs through (`cam_tail.safetensors`
    /// and `image_tail_input`). Absent: maps are read from `image_spatial`.
    public var camTail: CAMTailRecord?

    /// The threshold of bundles whose manifest does not give one.
    public static let defaultDetectionThreshold: Float = 0.5

    /// `detection_threshold`, or 0.5 for bundles without it.
    public var presenceThreshold: Float { detectionThreshold ?? Self.defaultDetectionThreshold }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, textEncoder = "text_encoder", dims, grid, pooling
        case classes, templates, attributes, tensors, groups, detections
        case detectionThreshold = "detection_threshold"
        case textCheckpoint = "text_checkpoint"
        case camTail = "cam_tail"
    }

    public init(model: String, textEncoder: String, dims: Dims, grid: Grid, pooling: Pooling,
                classes: [String], templates: [String], attributes: [String], tensors: [String], groups: [String]? = nil,
                detections: String? = nil, detectionThreshold: Float? = nil, textCheckpoint: TextCheckpointRecord? = nil,
                camTail: CAMTailRecord? = nil) {
        formatVersion = Self.currentFormatVersion
        self.model = model
        self.textEncoder = textEncoder
        self.dims = dims
        self.grid = grid
        self.pooling = pooling
        self.classes = classes
        self.templates = templates
        self.attributes = attributes
        self.tensors = tensors
        self.groups = groups
        self.detections = detections
        self.detectionThreshold = detectionThreshold
        self.textCheckpoint = textCheckpoint
        self.camTail = camTail
    }

    /// Tensors every bundle must have.
    public static let requiredTensors = ["image_pooled", "text_prompts", "W_v", "W_t", "logit_scale"]

    public static func read(path: String) throws -> BundleManifest {
        guard let data = try RegularFile.read(path, limit: 256 << 20) else {
            throw InputError(file: path, "is missing")
        }
        do {
            return try JSONDecoder().decode(BundleManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw InputError(file: path, field: InputError.fieldName(context.codingPath + [key]), "is missing")
        } catch let DecodingError.typeMismatch(type, context) {
            throw InputError(file: path, field: InputError.fieldName(context.codingPath), "has the wrong type, expected \(Self.describe(type))")
        } catch let DecodingError.valueNotFound(type, context) {
            throw InputError(file: path, field: InputError.fieldName(context.codingPath), "is null, expected \(Self.describe(type))")
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty {
                // Foundation says a number it cannot hold is invalid JSON, naming no field: find it.
                if let (field, problem) = numberOutOfRange(in: data) { throw InputError(file: path, field: field, problem) }
                throw InputError(file: path, "is not valid JSON")
            }
            throw InputError(file: path, field: InputError.fieldName(context.codingPath),
                             Self.knownValues[context.codingPath.last?.stringValue ?? ""] ?? InputError.excerpt(context.debugDescription, limit: 200))
        }
    }

    /// The manifest's numeric fields by key, where they sit, and whether they are integers.
    private static let numericFields: [String: (path: String, integer: Bool)] = [
        "format_version": ("format_version", true), "Dv": ("dims.Dv", true), "Dt": ("dims.Dt", true), "E": ("dims.E", true),
        "H": ("grid.H", true), "W": ("grid.W", true), "heads": ("cam_tail.heads", true),
        "detection_threshold": ("detection_threshold", false), "layer_norm_eps": ("cam_tail.layer_norm_eps", false),
    ]

    /// The first numeric field whose value (valid JSON, which bounds no
    /// number) its type cannot hold: an integer field given 2⁶³ or 128.5, a
    /// 32-bit float field given 1e308. Read from the text, because the
    /// decoders that refuse such numbers do not say where they are.
    static func numberOutOfRange(in data: Data) -> (field: String, problem: String)? {
        guard let text = String(data: data, encoding: .utf8),
              let pattern = try? NSRegularExpression(pattern: #""([A-Za-z_]+)"\s*:\s*(-?[0-9][0-9.eE+-]*)"#) else { return nil }
        let ns = text as NSString
        for m in pattern.matches(in: text, range: NSRange(location: 0, length: ns.length)) {
            let key = ns.substring(with: m.range(at: 1)), number = ns.substring(with: m.range(at: 2))
            guard let field = numericFields[key] else { continue }
            let shown = InputError.excerpt(number, limit: 40)
            if field.integer {
                if Int(number) == nil {
                    return (field.path, "is \(shown), expected an integer between \(Int.min) and \(Int.max)")
                }
            } else if let v = Double(number), !(v.isFinite && abs(v) <= Double(Float.greatestFiniteMagnitude)) {
                return (field.path, "is \(shown), out of the range of a 32-bit float")
            } else if Double(number) == nil {
                return (field.path, "is \(shown), not a number this program can read")
            }
        }
        return nil
    }

    public func write(to path: String) throws {
        try AtomicFile.write(JSONEncoder.readable.encode(self) + Data("\n".utf8), to: path)
    }


    /// What a field of a closed set of values accepts, for the error.
    private static let knownValues = [
        "pooling": "is not a known pooling, expected \"mean\", \"token\" or \"attention\"",
        "kind": "is not a known tail, expected " + CAMTailRecord.Kind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or "),
    ]

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is [String].Type: return "a list of strings"
        case is Float.Type, is Double.Type: return "a number"
        default: return "\(type)".lowercased()
        }
    }
}
