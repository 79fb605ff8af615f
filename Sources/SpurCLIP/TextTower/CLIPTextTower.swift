import SpurCore

/// The shape of a CLIP text transformer, read from the checkpoint's tensor
/// shapes (and its configuration where only that says it: heads in Hugging
/// Face folders, the activation, the pooling rule).
public struct TextTowerShape: Equatable, Sendable, Codable {
    public var vocabularySize: Int
    public var contextLength: Int
    public var width: Int
    public var layers: Int
    public var heads: Int
    public var activation: Activation
    public var pooling: TextPooling
}

/// Which token's final state is a text's feature.
public enum TextPooling: Equatable, Sendable, Codable {
    /// The position of the largest token id: the end token, the highest id
    /// of CLIP's vocabulary (OpenAI's `text.argmax(-1)`; Hugging Face configs
    /// whose `eos_token_id` is the legacy 2).
    case largestTokenID
    /// The first position holding this id (Hugging Face's current rule).
    case firstToken(Int)
    /// The last position (open_clip's `pool_type: last`).
    case last
}

/// CLIP's text tower, forward only: token and position embeddings, pre-LN
/// causal blocks, the final LayerNorm at the pooled token. Its output is the
/// feature a bundle's `text_prompts` holds: before `text_projection`.
public final class CLIPTextTower: Sendable {
    public let shape: TextTowerShape
    /// The weights file, named in errors.
    public let source: String
    let tokenEmbedding: Weight
    let positionEmbedding: Weight
    let blocks: [TransformerBlock]
    let finalNorm: LayerNorm
    /// `text_projection` as `[E, Dt]` (a bundle's `W_t`).
    public let projection: Weight

    init(shape: TextTowerShape, source: String, tokenEmbedding: Weight, positionEmbedding: Weight,
         blocks: [TransformerBlock], finalNorm: LayerNorm, projection: Weight) {
        self.shape = shape; self.source = source
        self.tokenEmbedding = tokenEmbedding; self.positionEmbedding = positionEmbedding
        self.blocks = blocks; self.finalNorm = finalNorm; self.projection = projection
    }

    /// Most rows packed into one pass: bounds the work buffers (the MLP's
    /// `[rows, 4W]` is the largest) whatever the number of texts.
    static let rowsPerPass = 4096

    /// Features `[texts, width]` of token sequences (start … end, unpadded,
    /// each at most `contextLength` long).
    /// `sharingPrefixes: false` computes every row of every text (for the
    /// benchmark's like-for-like comparison with a padded batch).
    public func features(tokens: [[Int]], sharingPrefixes: Bool = true) throws -> Matrix {
        for (i, t) in tokens.enumerated() {
            guard !t.isEmpty, t.count <= shape.contextLength else {
                throw InputError(file: source, field: "text \(i)",
                                 "has \(t.count) tokens, expected 1 to \(shape.contextLength) (the tower's context)")
            }
            if let bad = t.first(where: { $0 < 0 || $0 >= shape.vocabularySize }) {
                throw InputError(file: source, field: "token embedding",
                                 "has \(shape.vocabularySize) rows but the tokenizer gave id \(bad): the vocabulary does not belong to this checkpoint")
            }
        }
        var out = Matrix(rows: tokens.count, cols: shape.width)
        var scratch = BlockScratch()
        var start = 0
        while start < tokens.count {
            var end = start, rows = 0
            while end < tokens.count && (end == start || rows + tokens[end].count <= Self.rowsPerPass) {
                rows += tokens[end].count; end += 1
            }
            let pooled = pass(Array(tokens[start..<end]), sharingPrefixes: sharingPrefixes, scratch: &scratch)
            out.storage.replaceSubrange(start * shape.width ..< end * shape.width, with: pooled)
            start = end
        }
        return out
    }

    private func pass(_ batch: [[Int]], sharingPrefixes: Bool, scratch: inout BlockScratch) -> [Float] {
        let w = shape.width
        let packing = PrefixPacking(batch, sharing: sharingPrefixes)
        var x = [Float](repeating: 0, count: packing.rowTokens.count * w)
        x.withUnsafeMutableBufferPointer { xp in
            tokenEmbedding.withFloats { te in
                positionEmbedding.withFloats { pe in
                    for (r, (id, p)) in packing.rowTokens.enumerated() {
                        let dst = xp.baseAddress! + r * w
                        for i in 0..<w { dst[i] = te[id * w + i] + pe[p * w + i] }
                    }
                }
            }
        }
        for block in blocks { block.forward(&x, sequences: packing.sequences, causal: true, scratch: &scratch) }
        var pooled = [Float](repeating: 0, count: batch.count * w)
        x.withUnsafeBufferPointer { xp in
            pooled.withUnsafeMutableBufferPointer { pp in
                for (i, t) in batch.enumerated() {
                    let at = packing.row(sequence: i, position: poolPosition(t))
                    finalNorm.apply(xp.baseAddress! + at * w, rows: 1, width: w, into: pp.baseAddress! + i * w)
                }
            }
        }
        return pooled
    }

    /// The multiply-adds ×2 of `features(tokens:)`: per computed row and
    /// layer, the QKV, output and MLP products (24·W²) and attention over the
    /// row's sequence (4·L·W, the causal mask's zeros not subtracted).
    public func flops(tokens: [[Int]], sharingPrefixes: Bool = true) -> Double {
        let w = Double(shape.width), layers = Double(shape.layers)
        return PrefixPacking(tokens, sharing: sharingPrefixes).sequences.reduce(0.0) { sum, s in
            sum + Double(s.rows.count) * layers * (24 * w * w + 4 * Double(s.length) * w)
        }
    }

    /// Where a sequence's feature is read, by the checkpoint's rule; ties and
    /// misses resolve as `torch.argmax` does (the first maximum, position 0).
    func poolPosition(_ tokens: [Int]) -> Int {
        switch shape.pooling {
        case .largestTokenID:
            var best = 0
            for (i, id) in tokens.enumerated() where id > tokens[best] { best = i }
            return best
        case .firstToken(let id):
            return tokens.firstIndex(of: id) ?? 0
        case .last:
            return tokens.count - 1
        }
    }
}

/// Token sequences packed as a prefix tree: a row per distinct prefix, so
/// sequences that begin alike share the rows of their common beginning.
struct PrefixPacking {
    /// Each row's token id and position.
    private(set) var rowTokens: [(token: Int, position: Int)] = []
    private(set) var sequences: [PackedSequence] = []
    /// Each sequence's row at each position.
    private var paths: [[Int]] = []

    private struct Edge: Hashable { var parent: Int; var token: Int }

    init(_ batch: [[Int]], sharing: Bool = true) {
        var child: [Edge: Int] = [:]
        for t in batch {
            var path: [Int] = []
            var parent = -1
            var shared = 0
            for (p, token) in t.enumerated() {
                let edge = Edge(parent: parent, token: token)
                if sharing, shared == p, let row = child[edge] {
                    parent = row; shared += 1
                } else {
                    // A new row: every later row of this sequence is new too.
                    parent = rowTokens.count
                    child[edge] = parent
                    rowTokens.append((token, p))
                }
                path.append(parent)
            }
            let own = path[shared...]
            sequences.append(PackedSequence(rows: (own.first ?? rowTokens.count) ..< (own.last.map { $0 + 1 } ?? rowTokens.count),
                                            prefix: Array(path[..<shared])))
            paths.append(path)
        }
    }

    func row(sequence: Int, position: Int) -> Int { paths[sequence][position] }
}
