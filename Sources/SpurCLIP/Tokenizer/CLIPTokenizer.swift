import Synchronization

/// A text as the text tower reads it.
public struct TokenizedText: Equatable, Sendable {
    /// Start token, the text's tokens, end token.
    public var ids: [Int]
    /// Whether the text was cut to fit the context (its end token kept).
    public var truncated: Bool

    public init(ids: [Int], truncated: Bool) {
        self.ids = ids
        self.truncated = truncated
    }
}

/// CLIP's tokenizer: the text cleaned (`TextCleaner`), split into words
/// (`PreTokenizer`), each word's UTF-8 bytes merged by the vocabulary's BPE.
/// Words are cached, since prompts repeat their templates' words.
public final class CLIPTokenizer: Sendable {
    public let vocabulary: BPEVocabulary
    /// Keyed by UTF-8 bytes: `String` keys would merge canonically
    /// equivalent words, which BPE tells apart.
    private let cache = Mutex<[[UInt8]: [Int]]>([:])

    public init(vocabulary: BPEVocabulary) {
        self.vocabulary = vocabulary
    }

    /// The vocabulary at `path` (see `VocabularyFiles.load`).
    public convenience init(contentsOf path: String) throws {
        self.init(vocabulary: try VocabularyFiles.load(path))
    }

    /// The text's token ids, without the start and end tokens.
    public func encode(_ text: String) -> [Int] {
        PreTokenizer.words(TextCleaner.clean(text)).flatMap(encode(word:))
    }

    /// `[start] + encode(text) + [end]`, cut to `contextLength` keeping the
    /// end token last (OpenAI's `tokenize(truncate=True)`).
    public func tokenize(_ text: String, contextLength: Int = 77) -> TokenizedText {
        precondition(contextLength >= 2, "a context holds at least the start and end tokens")
        var ids = [vocabulary.startID] + encode(text) + [vocabulary.endID]
        let truncated = ids.count > contextLength
        if truncated {
            ids.removeLast(ids.count - contextLength)
            ids[contextLength - 1] = vocabulary.endID
        }
        return TokenizedText(ids: ids, truncated: truncated)
    }

    private func encode(word: String) -> [Int] {
        switch word {
        case BPEVocabulary.startToken: return [vocabulary.startID]
        case BPEVocabulary.endToken: return [vocabulary.endID]
        default: break
        }
        let key = Array(word.utf8)
        if let known = cache.withLock({ $0[key] }) { return known }
        let ids = vocabulary.encode(word: word)
        cache.withLock { $0[key] = ids }
        return ids
    }
}
