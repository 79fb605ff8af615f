import CZlib
import Foundation
import SpurCore

/// The files CLIP's vocabulary ships in, read into a `BPEVocabulary`.
public enum VocabularyFiles {
    /// OpenAI's `bpe_simple_vocab_16e6.txt.gz`.
    public static let openAIName = "bpe_simple_vocab_16e6.txt.gz"
    /// CLIP uses the first 48,894 merges of its files (49,152 tokens less the
    /// 256 bytes and the two special tokens); OpenAI's file holds more, and
    /// both references cut there.
    static let mergeCount = 49_152 - 256 - 2

    /// Finds the vocabulary at `path`: OpenAI's gzipped file, a
    /// `vocab.json` (with `merges.txt` beside it), a `tokenizer.json`, or a
    /// folder holding one of them (a checkpoint folder or the folder of a
    /// checkpoint file).
    public static func load(_ path: String) throws -> BPEVocabulary {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(file: path, "does not exist; expected a CLIP vocabulary (\(openAIName), vocab.json with merges.txt, or tokenizer.json) or a folder with one")
        }
        let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        if !isDirectory.boolValue {
            switch (path as NSString).lastPathComponent {
            case let name where name.hasSuffix(".gz"): return try openAI(path)
            case let name where name.hasSuffix(".safetensors"): return try load(folder.isEmpty ? "." : folder)
            case "tokenizer.json": return try tokenizerJSON(path)
            case let name where name.hasSuffix(".json"):
                return try huggingFace(vocab: path, merges: (folder as NSString).appendingPathComponent("merges.txt"))
            default:
                throw InputError(file: path, "is not a CLIP vocabulary; expected \(openAIName), vocab.json or tokenizer.json")
            }
        }
        let inFolder = { (name: String) in (folder as NSString).appendingPathComponent(name) }
        let exists = { (name: String) in FileManager.default.fileExists(atPath: inFolder(name)) }
        if exists("vocab.json") { return try huggingFace(vocab: inFolder("vocab.json"), merges: inFolder("merges.txt")) }
        if exists("tokenizer.json") { return try tokenizerJSON(inFolder("tokenizer.json")) }
        if exists(openAIName) { return try openAI(inFolder(openAIName)) }
        throw InputError(file: path, "has no CLIP vocabulary: looked for vocab.json with merges.txt, tokenizer.json and \(openAIName)")
    }

    /// Writes `BPEVocabulary.bytesOnly()` as Hugging Face's `vocab.json`
    /// and `merges.txt` (a header, no merges) into `folder`: a vocabulary
    /// that every reader of a checkpoint folder accepts, for benchmarks and
    /// tests where the real one is not installed. Its prompts are a token a
    /// byte, so the text tower does more work than with CLIP's merges.
    public static func writeBytesOnly(to folder: String) throws {
        var ids: [String: Int] = [BPEVocabulary.startToken: 49_406, BPEVocabulary.endToken: 49_407]
        for (i, byte) in ByteAlphabet.vocabularyOrder.enumerated() {
            let s = String(ByteAlphabet.scalars[byte])
            ids[s] = i
            ids[s + BPEVocabulary.endOfWord] = 256 + i
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let json = try JSONSerialization.data(withJSONObject: ids, options: [.sortedKeys])
        try AtomicFile.write(json, to: (folder as NSString).appendingPathComponent("vocab.json"))
        try AtomicFile.write(Data("#version: 0.2\n".utf8), to: (folder as NSString).appendingPathComponent("merges.txt"))
    }

    /// OpenAI's file: a header line, then one merge a line. The ids are
    /// built as OpenAI's `SimpleTokenizer` builds them: the 256 byte
    /// symbols, the same ending a word, each merge's result, the start and
    /// end tokens.
    public static func openAI(_ path: String) throws -> BPEVocabulary {
        let text = try gunzip(path)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let pairs = try mergePairs(lines.dropFirst().prefix(mergeCount), source: path, firstLine: 2)
        var tokens = ByteAlphabet.vocabularyOrder.map { String(ByteAlphabet.scalars[$0]) }
        tokens += tokens.map { $0 + BPEVocabulary.endOfWord }
        tokens += pairs.map { $0.0 + $0.1 }
        tokens += [BPEVocabulary.startToken, BPEVocabulary.endToken]
        var ids: [String: Int] = [:]
        for (i, t) in tokens.enumerated() { ids[t] = i }
        return try BPEVocabulary(ids: ids, merges: pairs, source: path)
    }

    /// Hugging Face's `vocab.json` and `merges.txt` (its first line a
    /// `#version` header, as `CLIPTokenizer` reads it).
    public static func huggingFace(vocab: String, merges: String) throws -> BPEVocabulary {
        let ids = try ConfigFile.decode([String: Int].self, path: vocab)
        guard let text = try? String(contentsOfFile: merges, encoding: .utf8) else {
            throw InputError(file: merges, "cannot be read as UTF-8 text; vocab.json needs its merges.txt beside it")
        }
        let lines = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false)
        return try BPEVocabulary(ids: ids, merges: try mergePairs(lines.dropFirst().prefix(mergeCount), source: merges, firstLine: 2), source: vocab)
    }

    /// A Hugging Face fast tokenizer's `tokenizer.json` (BPE model; merges
    /// as "a b" strings or as pairs).
    public static func tokenizerJSON(_ path: String) throws -> BPEVocabulary {
        struct File: Decodable {
            struct Model: Decodable {
                var type: String?
                var vocab: [String: Int]
                var merges: [Merge]
            }
            var model: Model
        }
        enum Merge: Decodable {
            case joined(String), pair([String])
            init(from decoder: Decoder) throws {
                let c = try decoder.singleValueContainer()
                if let s = try? c.decode(String.self) { self = .joined(s) } else { self = .pair(try c.decode([String].self)) }
            }
        }
        let file = try ConfigFile.decode(File.self, path: path)
        if let type = file.model.type, type != "BPE" {
            throw InputError(file: path, field: "model.type", "is \(type), expected BPE")
        }
        var pairs: [(String, String)] = []
        for (i, merge) in file.model.merges.enumerated() {
            let parts: [String]
            switch merge {
            case .joined(let s): parts = s.split(separator: " ").map(String.init)
            case .pair(let p): parts = p
            }
            guard parts.count == 2 else {
                throw InputError(file: path, field: "model.merges[\(i)]", "has \(parts.count) parts, expected a pair")
            }
            pairs.append((parts[0], parts[1]))
        }
        return try BPEVocabulary(ids: file.model.vocab, merges: pairs, source: path)
    }

    private static func mergePairs(_ lines: ArraySlice<Substring>, source: String, firstLine: Int) throws -> [(String, String)] {
        try lines.enumerated().map { offset, line in
            let parts = line.split(separator: " ")
            guard parts.count == 2 else {
                throw InputError(file: source, field: "line \(firstLine + offset)", "is '\(line.prefix(40))', expected two symbols separated by a space")
            }
            return (String(parts[0]), String(parts[1]))
        }
    }

    /// A gzipped UTF-8 text file's contents.
    static func gunzip(_ path: String) throws -> String {
        guard let file = gzopen(path, "rb") else { throw InputError(file: path, "cannot be opened") }
        defer { gzclose(file) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw InputError(file: path, "is not a readable gzip file") }
            if n == 0 { break }
            data.append(buffer, count: Int(n))
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: path, "does not hold UTF-8 text")
        }
        return text
    }
}
