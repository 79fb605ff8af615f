import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Split texts into CLIP's tokens, natively.",
        discussion: """
        Cleans each text as CLIP does (ftfy's fixes of typed text, HTML entities, whitespace, \
        lower case), splits it into words and merges each word's bytes with the vocabulary's \
        BPE. Prints the ids from the start token to the end token, cut to the context with \
        the end token kept. The vocabulary is OpenAI's bpe_simple_vocab_16e6.txt.gz, a \
        Hugging Face vocab.json (merges.txt beside it), a tokenizer.json, or a checkpoint \
        folder holding one.
        """)

    @Option(name: .long, help: ArgumentHelp("The vocabulary file, or a folder holding one.", valueName: "PATH"))
    var vocab: String
    @Option(name: .long, help: ArgumentHelp("A JSON file holding an array of texts, tokenized after the TEXT arguments.", valueName: "FILE.json"))
    var texts: String?
    @Option(name: .long, help: "Tokens in the context, start and end tokens included (CLIP's is 77).")
    var context: Int = 77
    @Flag(name: .long, help: "One JSON object per text, with the keys text, tokens and truncated.")
    var json = false
    @Argument(help: "Texts to tokenize.") var text: [String] = []

    func validate() throws {
        guard (2...100_000).contains(context) else {
            throw ValidationError("--context: is \(context), expected 2...100000")
        }
    }

    func run() throws {
        let tokenizer = try CLIPTokenizer(contentsOf: vocab)
        let all = try text + (texts.map(TextList.read) ?? [])
        guard !all.isEmpty else { throw InputError(file: "tokenize", "give texts as arguments or --texts FILE.json") }
        let encoder = JSONEncoder()
        for t in all {
            let tokens = tokenizer.tokenize(t, contextLength: context)
            if json {
                let line = TokenizedLine(text: t, tokens: tokens.ids, truncated: tokens.truncated)
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } else {
                print(tokens.ids.map(String.init).joined(separator: " ") + (tokens.truncated ? "  (truncated)" : ""))
            }
        }
    }
}

struct TokenizedLine: Codable {
    var text: String
    var tokens: [Int]
    var truncated: Bool
}

/// A JSON array of texts, as `tokenize --texts` and `encode --texts` read it.
enum TextList {
    static func read(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "cannot be read") }
        do {
            return try JSONDecoder().decode([String].self, from: data)
        } catch {
            throw InputError(file: path, "is not a JSON array of strings")
        }
    }
}
