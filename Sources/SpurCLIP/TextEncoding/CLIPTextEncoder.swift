import Foundation
import SpurCore

/// Texts to features with a checkpoint's tokenizer and text tower, through
/// the feature cache.
public final class CLIPTextEncoder: LiveTextEncoder {
    public let tokenizer: CLIPTokenizer
    public let tower: CLIPTextTower
    /// The cache's key for this model: the weights' digest.
    public let digest: String
    private let cache: TextFeatureCache?

    public init(tokenizer: CLIPTokenizer, tower: CLIPTextTower, digest: String, cache: TextFeatureCache? = TextFeatureCache()) {
        self.tokenizer = tokenizer; self.tower = tower; self.digest = digest; self.cache = cache
    }

    public func truncated(_ texts: [String]) -> [String] {
        texts.filter { tokenizer.tokenize($0, contextLength: tower.shape.contextLength).truncated }
    }

    public func features(for texts: [String]) throws -> Matrix {
        let width = tower.shape.width
        let cached = cache?.features(model: digest, texts: texts, width: width) ?? texts.map { _ in nil }
        let missing = texts.indices.filter { cached[$0] == nil }
        var out = Matrix(rows: texts.count, cols: width)
        for (i, row) in cached.enumerated() {
            if let row { out.storage.replaceSubrange(i * width ..< (i + 1) * width, with: row) }
        }
        guard !missing.isEmpty else { return out }
        let tokens = missing.map { tokenizer.tokenize(texts[$0], contextLength: tower.shape.contextLength).ids }
        let encoded = try tower.features(tokens: tokens)
        for (k, i) in missing.enumerated() {
            out.storage.replaceSubrange(i * width ..< (i + 1) * width, with: encoded.row(k))
        }
        cache?.store(model: digest, texts: missing.map { texts[$0] }, features: encoded)
        return out
    }
}
