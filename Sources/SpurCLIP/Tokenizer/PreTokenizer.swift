/// CLIP's split of cleaned text into words before BPE, the alternatives of
/// OpenAI's pattern tried in its order at each match start:
///
///     <|startoftext|> | <|endoftext|> | 's|'t|'re|'ve|'m|'ll|'d
///     | \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+
///
/// Whitespace between matches is skipped. A digit is a word of its own; a
/// run of punctuation is one word. Written as a scanner over scalars rather
/// than a regular expression so that the classes are exactly Unicode's
/// general categories, as in the `regex` module CLIP was trained with.
enum PreTokenizer {
    static let specialTokens = ["<|startoftext|>", "<|endoftext|>"].map { Array($0.unicodeScalars) }
    static let contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"].map { Array($0.unicodeScalars) }
    /// The pattern's literal alternatives, in its order.
    private static let literals = specialTokens + contractions

    /// The words of `text`, which is already cleaned and lower-cased.
    static func words(_ text: String) -> [String] {
        let s = Array(text.unicodeScalars)
        var words: [String] = []
        var i = 0
        func take(_ n: Int) {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: s[i..<(i + n)])
            words.append(String(view))
            i += n
        }
        while i < s.count {
            if let literal = literals.first(where: { matches($0, in: s, at: i) }) {
                take(literal.count)
            } else if isLetter(s[i]) {
                var j = i + 1
                while j < s.count, isLetter(s[j]) { j += 1 }
                take(j - i)
            } else if isNumber(s[i]) {
                take(1)
            } else if !isWhitespace(s[i]) {
                var j = i + 1
                while j < s.count, !isWhitespace(s[j]), !isLetter(s[j]), !isNumber(s[j]) { j += 1 }
                take(j - i)
            } else {
                i += 1
            }
        }
        return words
    }

    /// Exact: the pattern ignores case, but the text is lower-cased before
    /// the split and every literal is lower case.
    private static func matches(_ literal: [Unicode.Scalar], in s: [Unicode.Scalar], at i: Int) -> Bool {
        i + literal.count <= s.count && s[i..<(i + literal.count)].elementsEqual(literal)
    }

    static func isLetter(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    static func isNumber(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// Python's `str.isspace`: Unicode's White_Space plus the four
    /// information separators U+001C–U+001F.
    static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
        c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
    }
}
