import Foundation

extension BundleCheck {
    /// The manifest's `cam_tail`, `cam_tail.safetensors` and
    /// `image_tail_input` agree with each other and with the bundle's dims:
    /// every tensor of the tail present with its shape and nothing else, so
    /// a tail from another model (or a half-copied one) is refused when the
    /// bundle opens rather than drawing wrong maps.
    static func checkCAMTail(_ tail: CAMTailRecord, manifest m: BundleManifest, features: SafetensorsFile,
                             directory: String, exampleCount: Int?, into problems: inout [InputError]) {
        let manifestPath = (directory as NSString).appendingPathComponent(FeatureBundle.manifestFile)
        let path = (directory as NSString).appendingPathComponent(CAMTailFile.name)
        if tail.heads < 1 {
            problems.append(InputError(file: manifestPath, field: "cam_tail.heads", "is \(tail.heads), expected a positive number"))
            return
        }
        if tail.kind == .visionLastBlock {
            if !CAMTailRecord.activations.contains(tail.activation ?? "") {
                problems.append(InputError(file: manifestPath, field: "cam_tail.activation",
                                           "is \(tail.activation.map { "'\($0)'" } ?? "missing"), expected "
                                           + CAMTailRecord.activations.joined(separator: " or ")))
            }
            if !((tail.layerNormEps ?? -1) > 0) {
                problems.append(InputError(file: manifestPath, field: "cam_tail.layer_norm_eps",
                                           "is \(tail.layerNormEps.map { "\($0)" } ?? "missing"), expected a positive number"))
            }
        }
        guard m.tensors.contains(CAMTailFile.inputTensor) else {
            problems.append(InputError(file: manifestPath, field: "tensors",
                                       "has no \(CAMTailFile.inputTensor), which cam_tail needs"))
            return
        }
        guard FileManager.default.fileExists(atPath: path) else {
            problems.append(InputError(file: path, "is missing: manifest.json's cam_tail needs it"))
            return
        }
        let file: SafetensorsFile
        do { file = try SafetensorsFile(path: path) } catch let e as InputError {
            problems.append(e)
            return
        } catch {
            problems.append(InputError(file: path, "\(error)"))
            return
        }
        let widthTensor = tail.kind == .visionLastBlock ? "ln_1.weight" : "q_proj.weight"
        guard let width = file.tensors[widthTensor]?.shape.last else {
            problems.append(InputError(file: path, field: "tensor '\(widthTensor)'", "is missing"))
            return
        }
        if tail.kind == .visionLastBlock && width != m.dims.imageDim {
            problems.append(InputError(file: path, field: "tensor 'ln_1.weight'",
                                       "is \(width) wide, expected Dv = \(m.dims.imageDim): a ViT's tail ends in the pooled feature"))
        }
        if width % tail.heads != 0 {
            problems.append(InputError(file: manifestPath, field: "cam_tail.heads", "is \(tail.heads), which does not divide the width \(width)"))
        }
        let tokens = CAMTailFile.tokens(tail.kind, grid: m.grid)
        let expected = CAMTailFile.shapes(tail.kind, width: width, pooledWidth: m.dims.imageDim,
                                          tokens: m.grid.height * m.grid.width,
                                          hidden: file.tensors["mlp.c_fc.weight"]?.shape.first)
        for (name, shape) in expected {
            guard let t = file.tensors[name] else {
                problems.append(InputError(file: path, field: "tensor '\(name)'", "is missing"))
                continue
            }
            if t.dtype != .f32 { problems.append(InputError(file: path, field: "tensor '\(name)'", "dtype is \(t.dtype.rawValue), expected F32")) }
            if !matches(t.shape, shape) {
                problems.append(InputError(file: path, field: "tensor '\(name)'", "shape is \(t.shape), expected \(describe(shape))"))
            }
        }
        let known = Set(expected.map(\.name))
        for name in file.names where !known.contains(name) {
            problems.append(InputError(file: path, field: "tensor '\(name)'", "is not part of a \(tail.kind.rawValue) tail"))
        }
        if let t = features.tensors[CAMTailFile.inputTensor], !matches(t.shape, [exampleCount, tokens, width]) {
            problems.append(InputError(file: features.path, field: "tensor '\(CAMTailFile.inputTensor)'",
                                       "shape is \(t.shape), expected \(describe([exampleCount, tokens, width])) from manifest.json's grid and \(CAMTailFile.name)"))
        }
    }

    static func matches(_ shape: [Int], _ want: [Int?]) -> Bool {
        want.count == shape.count && zip(want, shape).allSatisfy { $0 == nil || $0 == $1 }
    }

    static func describe(_ want: [Int?]) -> String {
        "[" + want.map { $0.map(String.init) ?? "_" }.joined(separator: ", ") + "]"
    }
}
