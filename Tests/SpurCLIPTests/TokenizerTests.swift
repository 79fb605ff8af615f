import Testing
@testable import SpurCLIP

/// Hand-worked cases; tools/reference/tests/test_tokenizer.py checks the
/// whole tokenizer against OpenAI's and transformers' on the real vocabulary.
struct TokenizerTests {
    /// A vocabulary of five letters whose merges are ranked so that the
    /// order matters: "ab" beats "bc", so "abc" is "ab" + "c</w>", never
    /// "a" + "bc</w>".
    func toyVocabulary() throws -> BPEVocabulary {
        var ids: [String: Int] = [:]
        for (i, s) in ["a", "b", "c", "a</w>", "b</w>", "c</w>", "ab", "bc</w>", "abc</w>", "<|startoftext|>", "<|endoftext|>"].enumerated() {
            ids[s] = i
        }
        return try BPEVocabulary(ids: ids, merges: [("a", "b"), ("b", "c</w>"), ("ab", "c</w>")], source: "toy")
    }

    @Test func mergesApplyInRankOrderEverywhereInAWord() throws {
        let v = try toyVocabulary()
        // a b c</w> → (a b) first, rank 0 → ab c</w> → rank 2 → abc</w>.
        #expect(v.encode(word: "abc") == [8])
        // b c</w>: only rank 1 applies.
        #expect(v.encode(word: "bc") == [7])
        // a b a b c</w>: rank 0 merges both pairs, then ab c</w>.
        #expect(v.encode(word: "ababc") == [6, 8])
        // "ca" has no merge; "c" is not a word end here, "a</w>" is.
        #expect(v.encode(word: "ca") == [2, 3])
        // A byte the vocabulary lacks is the unknown (end) token.
        #expect(v.encode(word: "d") == [10])
    }

    @Test func aMergeWhoseOperandALaterMergeMakesStillApplies() throws {
        // Rank 0 needs "xy", which only rank 1 makes: once "xy" exists,
        // "xy z</w>" is still a merge.
        var ids = ["<|startoftext|>": 0, "<|endoftext|>": 1, "xyz</w>": 2]
        ids["x"] = 3
        let v = try BPEVocabulary(ids: ids, merges: [("xy", "z</w>"), ("x", "y")], source: "toy")
        #expect(v.encode(word: "xyz") == [2])
    }

    @Test func wordsSplitAsOpenAIsPattern() {
        #expect(PreTokenizer.words("it's a dog's 12 birds!!! <|endoftext|>x") ==
                ["it", "'s", "a", "dog", "'s", "1", "2", "birds", "!!!", "<|endoftext|>", "x"])
        // Punctuation runs swallow an apostrophe that starts no contraction.
        #expect(PreTokenizer.words("''s rock'n'roll") == ["''", "s", "rock", "'", "n", "'", "roll"])
        // Combining marks are neither letters nor numbers.
        #expect(PreTokenizer.words("e\u{301}x ½") == ["e", "\u{301}", "x", "½"])
    }

    @Test func cleaningFollowsFtfyAndHTML() {
        #expect(TextCleaner.clean("  “Curly”\t\u{2028}ﬁsh &amp;amp; &eacute;&#x41; ＦＵＬＬ\u{0085}\u{0007} ") == "\"curly\" fish & éa full…")
        #expect(TextCleaner.clean("e\u{301}").unicodeScalars.map(\.value) == [0xE9])
        #expect(TextCleaner.clean("&ampx &notit; &unknown; &#0; &#x110000;") == "&x ¬it; &unknown; \u{FFFD} \u{FFFD}")
        // ftfy leaves entities alone in text with '<'; html.unescape then
        // reads them anyway, twice.
        #expect(TextCleaner.clean("<b> &amp;lt;") == "<b> <")
    }

    @Test func tokenizeKeepsTheEndTokenWhenItCuts() throws {
        let t = CLIPTokenizer(vocabulary: try toyVocabulary())
        #expect(t.tokenize("abc bc") == TokenizedText(ids: [9, 8, 7, 10], truncated: false))
        #expect(t.tokenize("abc bc abc", contextLength: 3) == TokenizedText(ids: [9, 8, 10], truncated: true))
        #expect(t.tokenize("<|startoftext|>") == TokenizedText(ids: [9, 9, 10], truncated: false))
    }
}
