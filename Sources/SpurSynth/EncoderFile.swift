import Foundation
import SpurCore

/// The pre-trained, frozen image encoder as a safetensors file: every layer's
/// weights and bias and both fixed standardisations. A benchmark is then
/// built from the file instead of pre-training the encoder again, the way
/// CLIP's weights are fetched once rather than retrained for each data set.
///
/// The header's metadata holds the recipe fields the encoder was built from
/// (`EncoderFile.fields`) and the revision of the code that built it;
/// reading refuses a file built from other fields or by another revision.
/// That catches a stale file whenever the revision is bumped with the
/// arithmetic; `make encoder-check` catches a forgotten bump (by
/// pre-training again and comparing bytes, on the same BLAS kernel).
public enum EncoderFile {
    public static let format = "spurscope-synth-encoder/1"
    /// Bump whenever pre-training, calibration or the layers compute
    /// anything differently: files of another revision are refused.
    /// 2: two-shard batches and the relative variance ε.
    public static let revision = 2

    /// The recipe fields that determine the encoder, by their recipe names.
    public static func fields(_ r: SynthRecipe) -> [(String, String)] {
        [("image_size", "\(r.imageSize)"),
         ("encoder_widths", r.encoderWidths.map(String.init).joined(separator: ",")),
         ("encoder_seed", "\(r.encoderSeed)"),
         ("encoder_corpus", "\(r.encoderCorpus)"),
         ("encoder_steps", "\(r.encoderSteps)"),
         ("encoder_learning_rate", "\(r.encoderLearningRate)"),
         ("encoder_batch", "\(r.encoderBatch)")]
    }

    public static func write(_ e: SyntheticImageEncoder, recipe: SynthRecipe, to path: String) throws {
        var w = SafetensorsWriter()
        for t in tensors(e) { w.add(t.name, shape: t.shape, floats: t.values) }
        w.metadata = Dictionary(uniqueKeysWithValues: fields(recipe))
        w.metadata["format"] = format
        w.metadata["encoder_revision"] = "\(revision)"
        // Informative, not checked on reading: another kernel gives other last bits.
        w.metadata["blas_core"] = BLASInfo.coreName
        try w.write(to: path)
    }

    /// The encoder in `path`, which must have been built from `recipe`'s
    /// encoder fields by this code revision: exactly the tensors that recipe
    /// implies, F32, of their shapes, finite, the scales positive.
    public static func read(path: String, recipe: SynthRecipe) throws -> SyntheticImageEncoder {
        let file = try SafetensorsFile(path: path)
        guard file.metadata["format"] == format else {
            throw InputError(file: path, field: "__metadata__.format",
                             "is \(file.metadata["format"].map { "\"\($0)\"" } ?? "missing"), expected \"\(format)\" (a synthetic benchmark's encoder)",
                             remedy: .rebuildEncoder)
        }
        guard file.metadata["encoder_revision"] == "\(revision)" else {
            throw InputError(file: path, field: "__metadata__.encoder_revision",
                             "is \(file.metadata["encoder_revision"] ?? "missing"), this spurscope computes revision \(revision)",
                             remedy: .rebuildEncoder)
        }
        for (key, want) in fields(recipe) where file.metadata[key] != want {
            throw InputError(file: path, field: key,
                             "the encoder was built with \(file.metadata[key] ?? "none"), the recipe says \(want)",
                             remedy: .rebuildEncoder)
        }
        // The recipe gives every shape; the file gives every value.
        var e = SyntheticImageEncoder(seed: recipe.encoderSeed, imageSize: recipe.imageSize, widths: recipe.encoderWidths)
        let expected = Set(tensors(e).map(\.name))
        for name in file.names where !expected.contains(name) {
            throw InputError(file: path, field: "tensor '\(name)'", "is not part of an encoder of this recipe")
        }
        // F32 only: this is spurscope's own file, and a converted copy would
        // not give the bundle the file was checked against.
        for name in expected where file.tensors[name].map({ $0.dtype != .f32 }) == true {
            throw InputError(file: path, field: "tensor '\(name)'", "dtype is \(file.tensors[name]!.dtype.rawValue), expected F32")
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            let t = try file.checkedInfo(name, shape: [count], floating: true)
            let v = try file.floats(t.name)
            try file.requireFinite(v, name: name)
            return v
        }
        func layer(_ name: String, _ l: SyntheticImageEncoder.Layer) throws -> SyntheticImageEncoder.Layer {
            var l = l
            l.weights = try file.matrix(name + ".weight", shape: [l.weights.rows, l.weights.cols])
            l.bias = try vector(name + ".bias", count: l.outChannels)
            return l
        }
        e.stem = try e.stem.indices.map { try layer("stem.\($0)", e.stem[$0]) }
        e.top = try e.top.indices.map { try layer("top.\($0)", e.top[$0]) }
        e.stemMean = try vector("stem.mean", count: e.stemChannels)
        e.stemInverseStd = try vector("stem.inverse_std", count: e.stemChannels)
        e.mean = try vector("output.mean", count: e.dim)
        e.inverseStd = try vector("output.inverse_std", count: e.dim)
        for (name, v) in [("stem.inverse_std", e.stemInverseStd), ("output.inverse_std", e.inverseStd)] {
            if let i = v.firstIndex(where: { $0 <= 0 }) {
                throw InputError(file: path, field: "tensor '\(name)'", "element \(i) is \(v[i]), expected a positive scale")
            }
        }
        return e
    }

    /// Every tensor of the file, in the order written.
    static func tensors(_ e: SyntheticImageEncoder) -> [(name: String, shape: [Int], values: [Float])] {
        namedLayers(e).flatMap { name, layer in
            [(name + ".weight", [layer.weights.rows, layer.weights.cols], layer.weights.storage),
             (name + ".bias", [layer.bias.count], layer.bias)]
        } + [("stem.mean", [e.stemMean.count], e.stemMean), ("stem.inverse_std", [e.stemInverseStd.count], e.stemInverseStd),
             ("output.mean", [e.mean.count], e.mean), ("output.inverse_std", [e.inverseStd.count], e.inverseStd)]
    }

    static func namedLayers(_ e: SyntheticImageEncoder) -> [(String, SyntheticImageEncoder.Layer)] {
        e.stem.indices.map { ("stem.\($0)", e.stem[$0]) } + e.top.indices.map { ("top.\($0)", e.top[$0]) }
    }
}
