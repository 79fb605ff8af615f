import Foundation
import SpurCore

/// Opens the text tower a bundle's `text_checkpoint` names, after checking
/// that it is the checkpoint the bundle recorded: the same layout, the same
/// digest, the bundle's text width.
public enum BundleTextResolver {
    /// Installs the resolver for every bundle this process opens.
    public static func install() {
        LiveTextEncoding.install { record, bundle in try encoder(for: record, bundle: bundle) }
    }

    public static func encoder(for record: TextCheckpointRecord, bundle: FeatureBundle,
                               cache: TextFeatureCache = TextFeatureCache()) throws -> CLIPTextEncoder {
        let manifest = bundle.path(FeatureBundle.manifestFile)
        let path = record.path.hasPrefix("/") ? record.path : bundle.path(record.path)
        let checkpoint: CLIPCheckpoint
        do {
            checkpoint = try CLIPCheckpoint(path: path)
        } catch let error as InputError {
            throw InputError(file: manifest, field: "text_checkpoint.path", "names \(path), which cannot be opened: \(error)")
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
