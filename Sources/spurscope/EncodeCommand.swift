import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode texts with a CLIP checkpoint's text tower, natively.",
        discussion: """
        Prints each text's token ids and its feature as a bundle's text_prompts stores it: \
        the end token's state after the final LayerNorm, before text_projection. Reads a \
        Hugging Face save_pretrained folder, an open_clip hub folder, or one .safetensors \
        file of an OpenAI / open_clip state dict; F32, F16 and BF16 weights.
        """)

    @Option(name: .long, help: "The checkpoint: a folder or a .safetensors file.") var checkpoint: String
    @Option(name: .customLong("token-ids"), help: ArgumentHelp(
        "A JSON file holding an array of token-id arrays (start … end) to encode instead of texts: for checks against another implementation.",
        valueName: "FILE.json")) var tokenIDs: String?
    @Flag(name: .long, help: "One JSON object per input, with the keys tokens and feature.") var json = false

    func run() throws {
        let started = Date()
        let ckpt = try CLIPCheckpoint(path: checkpoint)
        let tower = try CLIPTextTower.load(ckpt)
        guard let tokenIDs else {
            throw InputError(file: "encode", "give --token-ids FILE.json")
        }
        let sequences = try Self.readTokenIDs(tokenIDs)
        let features = try tower.features(tokens: sequences)
        let encoder = JSONEncoder()
        for (i, t) in sequences.enumerated() {
            let row = Array(features.row(i))
            if json {
                print(String(decoding: try encoder.encode(EncodedText(text: nil, tokens: t, feature: row)), as: UTF8.self))
            } else {
                print("\(i): \(t.count) tokens, ‖feature‖ \(String(format: "%.4f", sqrt(row.reduce(0) { $0 + $1 * $1 })))")
            }
        }
        if !json {
            let s = tower.shape
            FileHandle.standardError.write(Data("\(ckpt.weightsPath): \(ckpt.layout.rawValue) layout, width \(s.width), \(s.layers) layers, \(s.heads) heads; \(sequences.count) texts in \(String(format: "%.2f", Date().timeIntervalSince(started))) s\n".utf8))
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
    var feature: [Float]
}
