import SpurCore

/// A byte-level BPE vocabulary: the ranked merges and the id of each token.
///
/// Symbols are numbered internally: 0–255 are the bytes, 256–511 the bytes
/// ending a word (`</w>`), then every string a merge produces. A merge is a
/// pair of symbols with a rank and the symbol it makes, so BPE compares
/// integers, not strings; ids are looked up once, at the end.
public struct BPEVocabulary: Sendable {
    /// Each symbol's token id, nil where the vocabulary lacks the string.
    let symbolIDs: [Int?]
    /// `first << 32 | second` → (rank, merged symbol).
    let merges: [UInt64: (rank: Int32, symbol: Int32)]
    public let startID: Int
    public let endID: Int
    /// The id of a string the vocabulary lacks: CLIP's end token.
    public var unknownID: Int { endID }
    public let tokenCount: Int

    public static let startToken = "<|startoftext|>"
    public static let endToken = "<|endoftext|>"
    public static let endOfWord = "</w>"

    /// - Parameters:
    ///   - ids: token string → id.
    ///   - merges: ranked pairs, best first; a pair listed twice keeps its
    ///     later rank, as a Python dict built from the list does.
    ///   - source: named in errors.
    public init(ids: [String: Int], merges pairs: [(String, String)], source: String) throws {
        guard let start = ids[Self.startToken], let end = ids[Self.endToken] else {
            throw InputError(file: source, "has no \(Self.startToken) or \(Self.endToken) token; expected a CLIP vocabulary")
        }
        var strings: [String] = ByteAlphabet.scalars.map { String($0) }
        strings += strings.map { $0 + Self.endOfWord }
        var index: [String: Int32] = [:]
        for (i, s) in strings.enumerated() { index[s] = Int32(i) }
        func symbol(_ s: String) -> Int32 {
            if let known = index[s] { return known }
            strings.append(s)
            index[s] = Int32(strings.count - 1)
            return Int32(strings.count - 1)
        }
        // Every operand first, so a merge whose operand only a later merge
        // makes is still found once that symbol exists.
        let resolved = pairs.map { (symbol($0.0), symbol($0.1)) }
        var table: [UInt64: (rank: Int32, symbol: Int32)] = [:]
        for (rank, (pair, names)) in zip(resolved, pairs).enumerated() {
            let merged = symbol(names.0 + names.1)
            table[UInt64(UInt32(pair.0)) << 32 | UInt64(UInt32(pair.1))] = (Int32(rank), merged)
        }
        self.symbolIDs = strings.map { ids[$0] }
        self.merges = table
        self.startID = start
        self.endID = end
        self.tokenCount = ids.count
    }

    /// Every byte a token and no merges (ids as OpenAI orders the bytes, the
    /// special tokens at CLIP's 49406 and 49407): sequences longer than
    /// CLIP's, for a benchmark without the real vocabulary.
    public static func bytesOnly() -> BPEVocabulary {
        var ids: [String: Int] = [:]
        for (i, byte) in ByteAlphabet.vocabularyOrder.enumerated() {
            let s = String(ByteAlphabet.scalars[byte])
            ids[s] = i
            ids[s + endOfWord] = 256 + i
        }
        ids[startToken] = 49_406
        ids[endToken] = 49_407
        return try! BPEVocabulary(ids: ids, merges: [], source: "bytes")
    }

    /// The token ids of one word (BPE as CLIP runs it over the word's UTF-8
    /// bytes: the lowest-ranked adjacent pair merged everywhere, until no
    /// pair of the word is a merge).
    func encode(word: String) -> [Int] {
        var symbols: [Int32] = word.utf8.map { Int32($0) }
        guard !symbols.isEmpty else { return [] }
        symbols[symbols.count - 1] += 256
        while symbols.count > 1 {
            var best: (rank: Int32, symbol: Int32)? = nil
            var bestPair: UInt64 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let m = merges[key], best == nil || m.rank < best!.rank { best = m; bestPair = key }
            }
            guard let merge = best else { break }
            let first = Int32(truncatingIfNeeded: bestPair >> 32), second = Int32(truncatingIfNeeded: bestPair & 0xFFFF_FFFF)
            var next: [Int32] = []
            next.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count, symbols[i] == first, symbols[i + 1] == second {
                    next.append(merge.symbol); i += 2
                } else {
                    next.append(symbols[i]); i += 1
                }
            }
            symbols = next
        }
        return symbols.map { symbolIDs[Int($0)] ?? unknownID }
    }
}
