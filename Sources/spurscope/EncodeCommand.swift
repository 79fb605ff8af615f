import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore
import SpurEngine

struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Encode texts with a CLIP checkpoint's tokenizer and text tower, natively.",
        discussion: """
        Prints each text's token ids and its feature as a bundle's text_prompts stores it: \
        the end token's state after the final LayerNorm, before text_projection. Reads a \
        Hugging Face save_pretrained folder, an open_clip hub folder, or one .safetensors \
        file of an OpenAI / open_clip state dict; F32, F16 and BF16 weights. With --bundle, \
        texts are encoded as the bundle's commands encode them (its prompt table, its \
        built-in encoder, or its recorded text checkpoint) and each is also compared with \
        every class: the cosine of the projected text with the class's zero-shot embedding. \
        Features of a recorded checkpoint are cached per user in \
        $SPURSCOPE_CACHE (else $XDG_CACHE_HOME/spurscope, else ~/.cache/spurscope).
        """)

    @Option(name: .long, help: "The checkpoint: a folder or a .safetensors file.") var checkpoint: String?
    @Option(name: .long, help: "Encode as this bundle does, and compare with its classes.") var bundle: String?
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
        if (checkpoint == nil) == (bundle == nil) {
            throw ValidationError("give --checkpoint PATH or --bundle DIR (one of them)")
        }
        if bundle != nil && (tokenIDs != nil || vocab != nil) {
            throw ValidationError("--token-ids and --vocab go with --checkpoint; a bundle uses its own text encoder")
        }
        if tokenIDs != nil && (!text.isEmpty || texts != nil) {
            throw ValidationError("--token-ids encodes token ids instead of texts: give one or the other")
        }
    }

    func run() throws {
        if let bundle { return try runWithBundle(bundle) }
        let started = Date()
        let ckpt = try CLIPCheckpoint(path: checkpoint!)
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

    func runWithBundle(_ directory: String) throws {
        let b = try FeatureBundle.open(directory)
        let all = try text + (texts.map(TextList.read) ?? [])
        guard !all.isEmpty else { throw InputError(file: "encode", "give texts as arguments or --texts FILE.json") }
        let features = try b.textFeatures(for: all)
        let heads = try b.pretrainedHeads()
        let classes = HeadClassifier(heads: heads, classTemplates: try b.classTemplateFeatures(),
                                     templateCount: b.manifest.templates.count).classEmbeddings
        let projected = Matrix.product(features, heads.text, transposeB: true).normalizedRows().output
        let cosines = Matrix.product(projected, classes, transposeB: true)
        // Token ids where the text is tokenized here (a recorded checkpoint).
        let tokenizer = (try b.textCheckpointEncoder() as? CLIPTextEncoder)?.tokenizer
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for (i, t) in all.enumerated() {
            let tokens = tokenizer?.tokenize(t)
            let perClass = Dictionary(uniqueKeysWithValues: b.manifest.classes.enumerated().map { ($1, cosines[i, $0]) })
            if json {
                let line = EncodedBundleText(text: t, tokens: tokens?.ids, truncated: tokens?.truncated, inTable: b.promptRow(t) != nil,
                                             feature: Array(features.row(i)), classes: perClass)
                print(String(decoding: try encoder.encode(line), as: UTF8.self))
            } else {
                let source = b.promptRow(t) != nil ? "prompt table" : (tokens.map { "encoded, \($0.ids.count) tokens\($0.truncated ? ", truncated" : "")" } ?? "encoded")
                let ranked = b.manifest.classes.indices.sorted { cosines[i, $0] > cosines[i, $1] }
                print("\(t)  (\(source))")
                print("  " + ranked.map { "\(b.manifest.classes[$0]) \(String(format: "%.3f", cosines[i, $0]))" }.joined(separator: "  "))
            }
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

/// One text as `encode --bundle --json` prints it.
struct EncodedBundleText: Codable {
    var text: String
    var tokens: [Int]?
    var truncated: Bool?
    /// Whether the bundle's prompt table already held it.
    var inTable: Bool
    var feature: [Float]
    /// Cosine with each class's zero-shot embedding.
    var classes: [String: Float]

    enum CodingKeys: String, CodingKey { case text, tokens, truncated, inTable = "in_table", feature, classes }
}

/// One encoded text as `encode --json` prints it.
struct EncodedText: Codable {
    var text: String?
    var tokens: [Int]
    var truncated: Bool
    var feature: [Float]
}
