import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct ImportCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Record the CLIP checkpoint that encoded a bundle's text, so any phrase can be encoded live.",
        discussion: """
        After this, a phrase, template or StarFT context the bundle's prompt table lacks is \
        tokenized and encoded with the checkpoint's own text tower when a command needs it \
        (and cached per user, see `encode --help`). Before recording, the checkpoint is checked \
        against the bundle: its text_projection must equal the bundle's W_t, and up to 16 of \
        the bundle's prompts, encoded again, must match their rows of text_prompts. The path is \
        stored absolute with the weights' SHA-256; a different file at that path is refused later.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "The checkpoint: a Hugging Face or open_clip folder, or a .safetensors file.") var checkpoint: String
    @Option(name: .long, help: ArgumentHelp("The tokenizer's vocabulary when it is not in the checkpoint's folder (see `tokenize --help`).", valueName: "PATH"))
    var vocab: String?
    @Flag(name: .long, help: "Replace a checkpoint the bundle already records.") var force = false

    /// Re-encoded prompts may differ from the extractor's by float rounding
    /// and by a checkpoint stored in half precision; a different model
    /// differs by far more.
    static let tolerance: Float = 5e-3
    static let checkedPrompts = 16

    func run() throws {
        let b = try FeatureBundle.open(bundle)
        let manifestPath = b.path(FeatureBundle.manifestFile)
        if let existing = b.manifest.textCheckpoint, !force {
            throw InputError(file: manifestPath, field: "text_checkpoint",
                             "already names \(existing.path) (pass --force to replace it)")
        }
        let ckpt = try CLIPCheckpoint(path: checkpoint)
        let tower = try CLIPTextTower.load(ckpt)
        guard tower.shape.width == b.manifest.dims.textDim else {
            throw InputError(file: ckpt.weightsPath, "has a \(tower.shape.width)-wide text tower, but \(bundle)'s text features are \(b.manifest.dims.textDim) wide: not the model of this bundle")
        }
        let projectionError = try Self.relativeError(b.pretrainedHeads().text, tower.projection)
        guard projectionError <= Self.tolerance else {
            throw InputError(file: ckpt.weightsPath, "has a text_projection that differs from \(bundle)'s W_t (max relative |Δ| \(String(format: "%.2g", projectionError))): not the model of this bundle")
        }
        let vocabulary = vocab.map(Self.absolute)
        let tokenizer = try CLIPTokenizer(contentsOf: vocabulary ?? ckpt.folder)
        let table = try b.promptFeatures()
        let stride = max(1, b.prompts.count / Self.checkedPrompts)
        let rows = Array(Swift.stride(from: 0, to: b.prompts.count, by: stride).prefix(Self.checkedPrompts))
        let encoded = try tower.features(tokens: rows.map { tokenizer.tokenize(b.prompts[$0], contextLength: tower.shape.contextLength).ids })
        var worst: (error: Float, row: Int) = (0, 0)
        for (k, r) in rows.enumerated() {
            let error = Self.relativeError(Array(encoded.row(k)), Array(table.row(r)))
            if error > worst.error { worst = (error, r) }
        }
        guard worst.error <= Self.tolerance else {
            throw InputError(file: ckpt.weightsPath, "encodes '\(b.prompts[worst.row])' \(String(format: "%.2g", worst.error)) away from the bundle's text_prompts row (relative, tolerance \(Self.tolerance)): not the model (or tokenizer) that encoded this bundle")
        }
        let cache = TextFeatureCache()
        let record = TextCheckpointRecord(path: Self.absolute(checkpoint), digest: try cache.digest(of: ckpt.weightsPath),
                                          layout: ckpt.layout.rawValue, vocabulary: vocabulary)
        var manifest = b.manifest
        manifest.textCheckpoint = record
        try manifest.write(to: manifestPath)
        print("""
            \(bundle): text_checkpoint is \(record.path) (\(record.layout) layout, \(record.digest.prefix(19))…)
              W_t equals its text_projection (max relative |Δ| \(String(format: "%.1e", projectionError))); \
            \(rows.count) prompts encoded again match text_prompts (max relative |Δ| \(String(format: "%.1e", worst.error)))
              any phrase is now encoded with its text tower when a command needs one
            """)
    }

    static func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    static func relativeError(_ ours: Matrix, _ weight: Weight) throws -> Float {
        guard weight.shape == [ours.rows, ours.cols] else { return .infinity }
        return weight.withFloats { relativeError(ours.storage, Array(UnsafeBufferPointer(start: $0, count: weight.count))) }
    }

    /// max |a − b| / max |b|.
    static func relativeError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = b.reduce(0) { max($0, abs($1)) }
        let diff = zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
        return scale > 0 ? diff / scale : diff
    }
}
