import Foundation
import SpurCore

extension ImagePreprocessing {
    public static let huggingFaceConfig = "preprocessor_config.json"
    public static let openCLIPConfig = "open_clip_config.json"

    /// The recipe of the checkpoint in `folder` (`CLIPCheckpoint.folder`),
    /// whose image tower takes `imageSize` × `imageSize` pixels.
    ///
    /// Hugging Face layout: `preprocessor_config.json` when present, its
    /// missing fields taking `CLIPImageProcessor`'s defaults (224, bicubic,
    /// OpenAI's mean and std), as transformers does. OpenAI layout:
    /// `open_clip_config.json`'s `preprocess_cfg` when present (mean, std,
    /// interpolation, resize_mode), else OpenAI's own `Resize(S, bicubic)`,
    /// `CenterCrop(S)` and normalisation. No file: the layout's recipe at
    /// `imageSize`. A field that is malformed, or asks for what is not
    /// implemented, is an `InputError` naming the file and the field.
    public static func forCheckpoint(folder: String, layout: CLIPLayout, imageSize: Int) throws -> ImagePreprocessing {
        let name = layout == .huggingFace ? huggingFaceConfig : openCLIPConfig
        let path = (folder as NSString).appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: path) else {
            return try ImagePreprocessing(size: imageSize, resize: .shortestEdge(imageSize), filter: .bicubic,
                                          crop: layout == .huggingFace ? .floor : .halfToEven)
        }
        let root = try ConfigJSON.read(path: path)
        switch layout {
        case .huggingFace: return try huggingFace(root, path: path, imageSize: imageSize)
        case .openAI: return try openCLIP(root, path: path, imageSize: imageSize)
        }
    }

    /// `CLIPImageProcessor`'s fields (transformers 5, its PIL backend).
    static func huggingFace(_ root: ConfigJSON, path: String, imageSize s: Int) throws -> ImagePreprocessing {
        if try root.bool("do_resize", path: path) == false {
            throw InputError(file: path, field: "do_resize", "is false; only resized pictures are supported (the tower takes \(s)x\(s))")
        }
        if try root.bool("use_square_size", path: path) == true {
            throw InputError(file: path, field: "use_square_size", "is true, which is not supported")
        }
        let resize: Resize
        switch root["size"] {
        case nil, .null?:
            resize = .shortestEdge(224)
        case .number?:
            resize = .shortestEdge(try root.positiveInt("size", path: path))
        case .object(let size)?:
            let node = ConfigJSON.object(size)
            if size["longest_edge"] != nil || size["max_height"] != nil {
                throw InputError(file: path, field: "size", "bounds the longest edge, which is not supported")
            }
            if size["shortest_edge"] != nil {
                resize = .shortestEdge(try node.positiveInt("shortest_edge", path: path, prefix: "size."))
            } else if size["height"] != nil || size["width"] != nil {
                resize = .exact(width: try node.positiveInt("width", path: path, prefix: "size."),
                                height: try node.positiveInt("height", path: path, prefix: "size."))
            } else {
                throw InputError(file: path, field: "size", "has neither shortest_edge nor height and width")
            }
        default:
            throw InputError(file: path, field: "size", "is neither a number nor an object")
        }
        let filter: ResamplingFilter
        switch try root.int("resample", path: path) ?? 3 {
        case 2: filter = .bilinear
        case 3: filter = .bicubic
        case let other:
            throw InputError(file: path, field: "resample", "is \(other); supported: 2 (bilinear), 3 (bicubic)")
        }
        var crop: CropRounding?
        if try root.bool("do_center_crop", path: path) ?? true {
            crop = .floor
            let (w, h): (Int, Int)
            switch root["crop_size"] {
            case nil, .null?: (w, h) = (224, 224)
            case .number?: let n = try root.positiveInt("crop_size", path: path); (w, h) = (n, n)
            case .object(let size)?:
                let node = ConfigJSON.object(size)
                (w, h) = (try node.positiveInt("width", path: path, prefix: "crop_size."),
                          try node.positiveInt("height", path: path, prefix: "crop_size."))
            default:
                throw InputError(file: path, field: "crop_size", "is neither a number nor an object")
            }
            guard w == s, h == s else {
                throw InputError(file: path, field: "crop_size", "is \(w)x\(h); the image tower takes \(s)x\(s)")
            }
        }
        let rescale = try root.bool("do_rescale", path: path) ?? true
            ? try root.number("rescale_factor", path: path) ?? 1.0 / 255 : 1
        let normalize = try root.bool("do_normalize", path: path) ?? true
        let mean = normalize ? try root.channels("image_mean", path: path) ?? openAIMean : [0, 0, 0]
        let std = normalize ? try root.channels("image_std", path: path) ?? openAIStd : [1, 1, 1]
        return try ImagePreprocessing(size: s, resize: resize, filter: filter, crop: crop, rescaleFactor: rescale,
                                      mean: mean, std: std, file: path,
                                      fields: Fields(resize: "size", crop: "do_center_crop", rescale: "rescale_factor",
                                                     mean: "image_mean", std: "image_std"))
    }

    /// open_clip's `preprocess_cfg`, as its `image_transform` reads it for inference.
    static func openCLIP(_ root: ConfigJSON, path: String, imageSize s: Int) throws -> ImagePreprocessing {
        let cfg: ConfigJSON
        switch root["preprocess_cfg"] {
        case nil, .null?: cfg = .object([:])
        case .object(let o)?: cfg = .object(o)
        default: throw InputError(file: path, field: "preprocess_cfg", "is not an object")
        }
        let p = "preprocess_cfg."
        switch cfg["size"] {
        case nil, .null?: break
        case .number?:
            let n = try cfg.positiveInt("size", path: path, prefix: p)
            guard n == s else { throw InputError(file: path, field: p + "size", "is \(n); the image tower takes \(s)x\(s)") }
        case .array(let sides)? where sides.count == 2:
            let hw = sides.compactMap { side -> Int? in
                guard case .number(let n) = side, n == n.rounded(), abs(n) < 1e9 else { return nil }
                return Int(n)
            }
            guard hw == [s, s] else {
                throw InputError(file: path, field: p + "size", "is not [\(s), \(s)]; the image tower takes \(s)x\(s)")
            }
        default:
            throw InputError(file: path, field: p + "size", "is neither a number nor [height, width]")
        }
        // open_clip uses bilinear when asked, else bicubic ("random" is for training).
        let filter: ResamplingFilter
        switch try cfg.string("interpolation", path: path, prefix: p) ?? "bicubic" {
        case "bilinear": filter = .bilinear
        case "bicubic", "random": filter = .bicubic
        case let other:
            throw InputError(file: path, field: p + "interpolation", "is '\(other)'; expected bicubic, bilinear or random")
        }
        let resize: Resize, crop: CropRounding?
        switch try cfg.string("resize_mode", path: path, prefix: p) ?? "shortest" {
        case "shortest": (resize, crop) = (.shortestEdge(s), .halfToEven)
        case "squash": (resize, crop) = (.exact(width: s, height: s), nil)
        case "longest":
            throw InputError(file: path, field: p + "resize_mode", "is 'longest' (letterboxed, padded views), which is not supported")
        case let other:
            throw InputError(file: path, field: p + "resize_mode", "is '\(other)'; expected shortest, squash or longest")
        }
        return try ImagePreprocessing(size: s, resize: resize, filter: filter, crop: crop, rescaleFactor: 1.0 / 255,
                                      mean: try cfg.channels("mean", path: path, prefix: p) ?? openAIMean,
                                      std: try cfg.channels("std", path: path, prefix: p) ?? openAIStd, file: path,
                                      fields: Fields(resize: p + "resize_mode", crop: p + "resize_mode",
                                                     rescale: p + "rescale", mean: p + "mean", std: p + "std"))
    }
}

/// A JSON document whose fields have several accepted shapes (a number or
/// an object, one number or three), read with errors naming file and field.
enum ConfigJSON: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([ConfigJSON]), object([String: ConfigJSON])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([ConfigJSON].self) { self = .array(a) }
        else { self = .object(try c.decode([String: ConfigJSON].self)) }
    }

    static func read(path: String) throws -> ConfigJSON {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "cannot be read") }
        guard let root = try? JSONDecoder().decode(ConfigJSON.self, from: data), case .object = root else {
            throw InputError(file: path, "is not a JSON object")
        }
        return root
    }

    subscript(key: String) -> ConfigJSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The value at `key`, nil when absent or null.
    private func value(_ key: String) -> ConfigJSON? {
        switch self[key] {
        case nil, .null?: return nil
        case let v?: return v
        }
    }

    func bool(_ key: String, path: String, prefix: String = "") throws -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw InputError(file: path, field: prefix + key, "is not true or false") }
        return b
    }

    func number(_ key: String, path: String, prefix: String = "") throws -> Double? {
        guard let v = value(key) else { return nil }
        guard case .number(let n) = v, n.isFinite else { throw InputError(file: path, field: prefix + key, "is not a number") }
        return n
    }

    func int(_ key: String, path: String, prefix: String = "") throws -> Int? {
        guard let n = try number(key, path: path, prefix: prefix) else { return nil }
        guard n == n.rounded(), abs(n) < 1e9 else { throw InputError(file: path, field: prefix + key, "is \(n), not a whole number") }
        return Int(n)
    }

    func positiveInt(_ key: String, path: String, prefix: String = "") throws -> Int {
        let field = prefix + key
        guard let n = try? int(key, path: path), n > 0, n <= 100_000 else {
            throw InputError(file: path, field: field, value(key) == nil ? "is missing" : "is not a positive whole number of pixels")
        }
        return n
    }

    func string(_ key: String, path: String, prefix: String = "") throws -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw InputError(file: path, field: prefix + key, "is not a string") }
        return s
    }

    /// Three per-channel numbers, or one for all three (as both libraries accept).
    func channels(_ key: String, path: String, prefix: String = "") throws -> [Float]? {
        guard let v = value(key) else { return nil }
        switch v {
        case .number(let n): return [Float](repeating: Float(n), count: 3)
        case .array(let items) where items.count == 3:
            return try items.map {
                guard case .number(let n) = $0 else { throw InputError(file: path, field: prefix + key, "has an entry that is not a number") }
                return Float(n)
            }
        default:
            throw InputError(file: path, field: prefix + key, "is not 3 numbers (R, G, B)")
        }
    }
}
