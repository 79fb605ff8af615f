/// The built-in frozen text encoder of synthetic bundles: every word has a fixed random vector
/// (seeded by the word itself, so any new phrase encodes at once), and a
/// prompt is the mean of its words' vectors.
public struct WordVectorTextEncoder: Sendable, Equatable {
    public let seed: UInt64
    public let dim: Int

    public init(seed: UInt64, dim: Int) {
        self.seed = seed
        self.dim = dim
    }

    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter }.map(String.init)
    }

    public func wordVector(_ word: String) -> [Float] {
        var rng = SeededGenerator(seed: seed, purpose: "word:" + word)
        return (0..<dim).map { _ in rng.nextGaussian() }
    }

    public func encode(_ text: String) -> [Float] {
        let ws = Self.words(text)
        var v = [Float](repeating: 0, count: dim)
        for w in ws {
            let wv = wordVector(w)
            for i in 0..<dim { v[i] += wv[i] }
        }
        let n = Float(max(ws.count, 1))
        return v.map { $0 / n }
    }

    /// How a bundle's manifest names this encoder: `spurscope-words:seed=7:dim=64`.
    public var descriptor: String { "\(Self.descriptorPrefix)seed=\(seed):dim=\(dim)" }
    public static let descriptorPrefix = "spurscope-words:"

    /// The encoder a manifest's `text_encoder` names, if it is this built-in one.
    public init?(descriptor: String) {
        guard descriptor.hasPrefix(Self.descriptorPrefix) else { return nil }
        var seed: UInt64?, dim: Int?
        for part in descriptor.dropFirst(Self.descriptorPrefix.count).split(separator: ":") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { return nil }
            if kv[0] == "seed" { seed = UInt64(kv[1]) }
            if kv[0] == "dim" { dim = Int(kv[1]) }
        }
        guard let seed, let dim, dim > 0 else { return nil }
        self.init(seed: seed, dim: dim)
    }

    public func encode(_ texts: [String]) -> Matrix {
        Matrix(rows: texts.count, cols: dim, storage: texts.flatMap { encode($0) })
    }
}
