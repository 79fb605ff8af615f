import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode texts with a CLIP checkpoint's tokenizer and text tower, natively.",
        discussion: """
        Prints each text's token ids and its feature as a bundle's text_prompts stores it: \
        the end token's state after the final LayerNorm, before text_projection. Reads a \
        Hugging Face save_pretrained folder, an open_clip hub folder, or one .safetensors \
        file of an OpenAI / open_clip state dict; F32, F16 and BF16 weights.
        """)

    @Option(name: .long, help: "The checkpoint: a folder or a .safetensors file.") var checkpoint: String
    @Option(name: .long, help: ArgumentHelp(
        "The tokenizer's vocabulary (see `tokenize --help`); by default the one in the checkpoint's folder.",
        valueName: "PATH")) var vocab: String?
    @Option(name: .long, help: ArgumentHelp("A JSON file holding an array of texts, encoded after the TEXT arguments.", valueName: "FILE.json"))
    var texts: String?
    @Option(name: .customLong("token-ids"), help: ArgumentHelp(
        "A JSON file holding an array of token-id arrays (start … end) to encode instead of texts: for checks against another implementation.",
        valueName: "FILE.json")) var tokenIDs: String?
    @Flag(name: .long, help: "One JSON object per input, with the keys text, tokens, truncated and feature.") var json = false
    @Argument(help: "Texts to encode.") var text: [String] = []

    func validate() throws {
        if tokenIDs != nil && (!text.isEmpty || texts != nil) {
            throw ValidationError("--token-ids encodes token ids instead of texts: give one or the other")
        }
    }

    func run() throws {
        let started = Date()
        let ckpt = try CLIPCheckpoint(path: checkpoint)
        let tower = try CLIPTextTower.load(ckpt)
        let inputs: [(text: String?, tokens: TokenizedText)]
        if let tokenIDs {
            inputs = try Self.readTokenIDs(tokenIDs).map { (nil, TokenizedText(ids: $0, truncated: false)) }
        } else {
            let all = try text + (texts.map(TextList.read) ?? [])
            guard !all.isEmpty else { throw InputError(file: "encode", "give texts as arguments, --texts FILE.json or --token-ids FILE.json") }
            let tokenizer = try CLIPTokenizer(contentsOf: vocab ?? ckpt.folder)
            inputs = all.map { ($0, tokenizer.tokenize($0, contextLength: tower.shape.contextLength)) }
        }
        let features = try tower.features(tokens: inputs.map(\.tokens.ids))
        let encoder = JSONEncoder()
        for (i, input) in inputs.enumerated() {
            let row = Array(features.row(i))
            if json {
                let line = EncodedText(text: input.text, tokens: input.tokens.ids, truncated: input.tokens.truncated, feature: row)
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } else {
                let norm = String(format: "%.4f", sqrt(row.reduce(0) { $0 + $1 * $1 }))
                let cut = input.tokens.truncated ? " (truncated)" : ""
                print("\(input.text ?? String(i)): \(input.tokens.ids.count) tokens\(cut), ‖feature‖ \(norm)")
            }
        }
        if !json {
            let s = tower.shape
            FileHandle.standardError.write(Data("\(ckpt.weightsPath): \(ckpt.layout.rawValue) layout, width \(s.width), \(s.layers) layers, \(s.heads) heads; \(inputs.count) texts in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n".utf8))
        }
    }

    static func readTokenIDs(_ path: String) throws -> [[Int]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "cannot be read") }
        do {
            return try JSONDecoder().decode([[Int]].self, from: data)
        } catch {
            throw InputError(file: path, "is not a JSON array of arrays of token ids")
        }
    }
}

/// One encoded text as `encode --json` prints it.
struct EncodedText: Codable {
    var text: String?
    var tokens: [Int]
    var truncated: Bool
    var feature: [Float]
}
