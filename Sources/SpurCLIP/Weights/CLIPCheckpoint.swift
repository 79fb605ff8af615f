import Foundation
import SpurCore

/// A CLIP checkpoint as users have it on disk, opened: its weights mapped,
/// its layout told from the tensor names, its configuration read where the
/// layout ships one.
///
/// Accepted: a Hugging Face `save_pretrained` folder (`config.json`,
/// `model.safetensors`), an open_clip hub folder
/// (`open_clip_model.safetensors`, `open_clip_config.json`), or one
/// `.safetensors` file of either layout (shapes tell the architecture, as
/// OpenAI's `build_model` reads them). Tokenizer files sit in the folder,
/// or next to the file.
public final class CLIPCheckpoint: Sendable {
    /// The path as given (a folder or a file).
    public let path: String
    /// The weights file inside it.
    public let weightsPath: String
    public let layout: CLIPLayout
    public let weights: SafetensorsFile
    /// Hugging Face `config.json`, when the folder has one.
    public let huggingFaceConfig: HuggingFaceCLIPConfig?
    /// open_clip's `open_clip_config.json`, when the folder has one.
    public let openCLIPConfig: OpenCLIPConfig?
    /// Where the tokenizer files are looked for.
    public let folder: String

    public static let huggingFaceWeights = "model.safetensors"
    public static let openCLIPWeights = "open_clip_model.safetensors"

    public init(path: String) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(file: path, "does not exist; expected a CLIP checkpoint folder or .safetensors file")
        }
        if isDirectory.boolValue {
            folder = path
            let candidates = [Self.openCLIPWeights, Self.huggingFaceWeights]
            guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent($0)) }) else {
                let sharded = FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model.safetensors.index.json"))
                throw InputError(file: path, sharded
                    ? "holds a sharded checkpoint (model.safetensors.index.json), which is not read: save it as one file (save_pretrained(max_shard_size=\"20GB\"))"
                    : "has neither \(Self.huggingFaceWeights) nor \(Self.openCLIPWeights): expected a Hugging Face or open_clip checkpoint folder (PyTorch .bin files are not read; save as safetensors)")
            }
            weightsPath = (path as NSString).appendingPathComponent(found)
        } else {
            folder = (path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent
            weightsPath = path
        }
        weights = try SafetensorsFile(path: weightsPath)
        layout = try Self.layout(of: weights)
        let hfConfigPath = (folder as NSString).appendingPathComponent("config.json")
        huggingFaceConfig = layout == .huggingFace && FileManager.default.fileExists(atPath: hfConfigPath)
            ? try HuggingFaceCLIPConfig.read(path: hfConfigPath) : nil
        let ocConfigPath = (folder as NSString).appendingPathComponent("open_clip_config.json")
        openCLIPConfig = layout == .openAI && FileManager.default.fileExists(atPath: ocConfigPath)
            ? try OpenCLIPConfig.read(path: ocConfigPath) : nil
    }

    static func layout(of file: SafetensorsFile) throws -> CLIPLayout {
        if file.tensors["text_model.embeddings.token_embedding.weight"] != nil
            || file.tensors["vision_model.embeddings.patch_embedding.weight"] != nil {
            return .huggingFace
        }
        if file.tensors["token_embedding.weight"] != nil || file.tensors["visual.proj"] != nil
            || file.tensors["visual.attnpool.c_proj.weight"] != nil {
            return .openAI
        }
        let shown = file.names.prefix(5).joined(separator: ", ")
        throw InputError(file: file.path, "is not a CLIP checkpoint of a known layout: expected Hugging Face names (text_model.*, vision_model.*) or OpenAI / open_clip names (token_embedding.weight, transformer.resblocks.N.*, visual.*); it has \(shown)\(file.tensors.count > 5 ? ", …" : "")")
    }

    /// A weight by name, with the shape it must have (`nil` for any extent).
    func weight(_ name: String, shape expected: [Int?]) throws -> Weight {
        let w = try Weight(file: weights, name: name)
        let ok = w.shape.count == expected.count && zip(w.shape, expected).allSatisfy { $1 == nil || $0 == $1 }
        guard ok else {
            let want = expected.map { $0.map(String.init) ?? "*" }.joined(separator: ", ")
            throw InputError(file: weightsPath, field: "tensor '\(name)'",
                             "has shape \(w.shape), expected [\(want)]")
        }
        return w
    }

    /// The tensors whose names start with `prefix` (a tower's namespace).
    func names(withPrefix prefix: String) -> Set<String> {
        Set(weights.tensors.keys.filter { $0.hasPrefix(prefix) })
    }
}

/// The fields of a Hugging Face `config.json` the towers need.
public struct HuggingFaceCLIPConfig: Decodable, Sendable {
    public struct Text: Decodable, Sendable {
        public var hiddenAct: String?
        public var layerNormEps: Double?
        public var numAttentionHeads: Int?
        public var eosTokenId: Int?
        enum CodingKeys: String, CodingKey {
            case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
            case numAttentionHeads = "num_attention_heads", eosTokenId = "eos_token_id"
        }
    }
    public struct Vision: Decodable, Sendable {
        public var hiddenAct: String?
        public var layerNormEps: Double?
        public var numAttentionHeads: Int?
        public var imageSize: Int?
        public var patchSize: Int?
        enum CodingKeys: String, CodingKey {
            case hiddenAct = "hidden_act", layerNormEps = "layer_norm_eps"
            case numAttentionHeads = "num_attention_heads", imageSize = "image_size", patchSize = "patch_size"
        }
    }
    public var textConfig: Text?
    public var visionConfig: Vision?
    public var projectionDim: Int?
    enum CodingKeys: String, CodingKey {
        case textConfig = "text_config", visionConfig = "vision_config", projectionDim = "projection_dim"
    }

    static func read(path: String) throws -> HuggingFaceCLIPConfig {
        try ConfigFile.decode(HuggingFaceCLIPConfig.self, path: path)
    }
}

/// The fields of open_clip's `open_clip_config.json` the towers need.
public struct OpenCLIPConfig: Decodable, Sendable {
    public struct Model: Decodable, Sendable {
        public struct Text: Decodable, Sendable {
            public var heads: Int?
            public var width: Int?
            public var layers: Int?
            public var contextLength: Int?
            public var hfModelName: String?
            public var poolType: String?
            public var noCausalMask: Bool?
            public var embedCls: Bool?
            enum CodingKeys: String, CodingKey {
                case heads, width, layers, contextLength = "context_length", hfModelName = "hf_model_name"
                case poolType = "pool_type", noCausalMask = "no_causal_mask", embedCls = "embed_cls"
            }
        }
        /// The ViT options that change what is computed without adding
        /// tensors (those that add tensors, such as an attentional pool or
        /// layer scale, are refused by name anyway).
        public struct Vision: Decodable, Sendable {
            public var headWidth: Int?
            public var poolType: String?
            public var globalAveragePool: Bool?
            public var noLnPre: Bool?
            enum CodingKeys: String, CodingKey {
                case headWidth = "head_width", poolType = "pool_type", globalAveragePool = "global_average_pool"
                case noLnPre = "no_ln_pre"
            }
        }
        public var quickGELU: Bool?
        public var textConfig: Text?
        public var visionConfig: Vision?
        enum CodingKeys: String, CodingKey {
            case quickGELU = "quick_gelu", textConfig = "text_cfg", visionConfig = "vision_cfg"
        }
    }
    public var model: Model?
    enum CodingKeys: String, CodingKey { case model = "model_cfg" }

    static func read(path: String) throws -> OpenCLIPConfig {
        try ConfigFile.decode(OpenCLIPConfig.self, path: path)
    }
}

/// JSON configuration files, decoded with errors that name the file and field.
enum ConfigFile {
    static func decode<T: Decodable>(_ type: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, "cannot be read")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context) {
            throw InputError(file: path, field: fieldName(context.codingPath), "has the wrong type")
        } catch let DecodingError.keyNotFound(key, context) {
            throw InputError(file: path, field: fieldName(context.codingPath + [key]), "is missing")
        } catch let DecodingError.valueNotFound(_, context) {
            throw InputError(file: path, field: fieldName(context.codingPath), "is null")
        } catch {
            throw InputError(file: path, "is not valid JSON")
        }
    }

    /// Nil for the document itself.
    private static func fieldName(_ path: [CodingKey]) -> String? {
        path.isEmpty ? nil : InputError.fieldName(path)
    }
}
