import Foundation
import SpurCore

/// Opens the text tower a bundle's `text_checkpoint` names, after checking
/// that it is the checkpoint the bundle recorded: the same layout, the same
/// digest, the bundle's text width. `SPURSCOPE_TEXT_CHECKPOINT` overrides the
/// recorded path (a checkpoint that moved; the digest is still checked).
public enum BundleTextResolver {
    public static let overrideVariable = "SPURSCOPE_TEXT_CHECKPOINT"

    /// Installs the resolver for every bundle this process opens.
    public static func install() {
        LiveTextEncoding.install { record, bundle in try encoder(for: record, bundle: bundle) }
    }

    public static func encoder(for record: TextCheckpointRecord, bundle: FeatureBundle,
                               cache: TextFeatureCache = TextFeatureCache()) throws -> CLIPTextEncoder {
        let manifest = bundle.path(FeatureBundle.manifestFile)
        let override = ProcessInfo.processInfo.environment[overrideVariable].flatMap { $0.isEmpty ? nil : $0 }
        let path = override ?? (record.path.hasPrefix("/") ? record.path : bundle.path(record.path))
        let checkpoint: CLIPCheckpoint
        do {
            checkpoint = try CLIPCheckpoint(path: path)
        } catch let error as InputError {
            if override != nil { throw InputError(file: overrideVariable, "is \(path), which cannot be opened: \(error)") }
            throw InputError(file: manifest, field: "text_checkpoint.path",
                             "names \(path), which cannot be opened (\(error)); if the checkpoint moved, set \(overrideVariable)=PATH or record it again with import checkpoint")
        }
        guard checkpoint.layout.rawValue == record.layout else {
            throw InputError(file: manifest, field: "text_checkpoint.layout",
                             "is \(record.layout), but \(checkpoint.weightsPath) is in the \(checkpoint.layout.rawValue) layout")
        }
        let digest = try cache.digest(of: checkpoint.weightsPath)
        guard digest == record.digest else {
            throw InputError(file: manifest, field: "text_checkpoint.digest",
                             "is \(record.digest.prefix(19))…, but \(checkpoint.weightsPath) is now \(digest.prefix(19))…: not the checkpoint that encoded this bundle")
        }
        let tower = try CLIPTextTower.load(checkpoint)
        guard tower.shape.width == bundle.manifest.dims.textDim else {
            throw InputError(file: manifest, field: "text_checkpoint",
                             "has a \(tower.shape.width)-wide text tower, but the bundle's text features are \(bundle.manifest.dims.textDim) wide")
        }
        let vocabulary = record.vocabulary.map { $0.hasPrefix("/") ? $0 : bundle.path($0) } ?? checkpoint.folder
        return CLIPTextEncoder(tokenizer: try CLIPTokenizer(contentsOf: vocabulary), tower: tower, digest: digest, cache: cache)
    }
}
