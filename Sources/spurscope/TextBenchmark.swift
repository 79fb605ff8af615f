import Foundation
import SpurCLIP
import SpurCore

/// `bench --suite text`: CLIP's tokenizer and text tower at ViT-B/32's size
/// with random weights (written to a scratch file first), timed as the
/// expert's work uses them.
enum TextBenchmark {
    struct Result {
        var vocabulary: String
        var loadSeconds: Double
        /// One phrase through the 80 templates, tokenizing included, no cache.
        var verdictSeconds: Double
        var verdictTokens: Int
        /// A batch of prompts through the tower alone.
        var batchPrompts: Int
        var batchTokens: Int
        var batchSeconds: Double
        var batchFLOPs: Double
        /// The same batch with every row computed (no shared prefixes).
        var unsharedSeconds: Double
        var unsharedFLOPs: Double
        var tokenizeSeconds: Double
        /// The verdict's arithmetic, shared rows counted once.
        var verdictFloorFLOPs: Double
    }

    /// The real vocabulary when the test venv or a given path has it; else
    /// bytes without merges (every byte a token: longer sequences than CLIP's).
    static func tokenizer(vocab: String?) throws -> (CLIPTokenizer, String) {
        let candidates = [vocab, ".venv-extract/lib/python3.11/site-packages/clip/" + VocabularyFiles.openAIName].compactMap { $0 }
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            return (try CLIPTokenizer(contentsOf: found), found)
        }
        return (CLIPTokenizer(vocabulary: .bytesOnly()), "bytes, no merges (no vocabulary found: pass --vocab)")
    }

    static func measure(scratch: String, vocab: String?, repetitions: Int) throws -> Result {
        let size = RandomTextCheckpoint.Size.vitB32
        let path = scratch + ".safetensors"
        try RandomTextCheckpoint.write(size, to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var t0 = monotonicSeconds()
        let tower = try CLIPTextTower.load(CLIPCheckpoint(path: path))
        let load = monotonicSeconds() - t0
        let (tokenizer, vocabName) = try tokenizer(vocab: vocab)

        let phrase = "waterbird swimming on a misty lake"
        let verdictTexts = CLIPTemplates.imagenet80.map { $0.replacingOccurrences(of: "{}", with: phrase) }
        var verdict = Double.infinity
        var verdictTokens = 0
        _ = try tower.features(tokens: [tokenizer.tokenize("warm up").ids])
        for r in 0..<repetitions {
            // A fresh tokenizer each time: its word cache would hide the cost.
            let fresh = r == 0 ? tokenizer : CLIPTokenizer(vocabulary: tokenizer.vocabulary)
            t0 = monotonicSeconds()
            let tokens = verdictTexts.map { fresh.tokenize($0).ids }
            _ = try tower.features(tokens: tokens)
            verdict = min(verdict, monotonicSeconds() - t0)
            verdictTokens = tokens.reduce(0) { $0 + $1.count }
        }

        let words = ["water", "tree", "boat", "sky", "grass", "forest", "beach", "lake", "road", "sand", "snow", "rock", "field"]
        let batchTexts = CLIPTemplates.imagenet80.flatMap { t in words.map { t.replacingOccurrences(of: "{}", with: "bird on \($0)") } }
        t0 = monotonicSeconds()
        let fresh = CLIPTokenizer(vocabulary: tokenizer.vocabulary)
        let batch = batchTexts.map { fresh.tokenize($0).ids }
        let tokenize = monotonicSeconds() - t0
        func best(sharing: Bool) throws -> Double {
            var best = Double.infinity
            for _ in 0..<repetitions {
                t0 = monotonicSeconds()
                _ = try tower.features(tokens: batch, sharingPrefixes: sharing)
                best = min(best, monotonicSeconds() - t0)
            }
            return best
        }
        let shared = try best(sharing: true), unshared = try best(sharing: false)
        let sharedFLOPs = tower.flops(tokens: batch), unsharedFLOPs = tower.flops(tokens: batch, sharingPrefixes: false)
        return Result(vocabulary: vocabName, loadSeconds: load, verdictSeconds: verdict, verdictTokens: verdictTokens,
                      batchPrompts: batch.count, batchTokens: batch.reduce(0) { $0 + $1.count }, batchSeconds: shared,
                      batchFLOPs: sharedFLOPs, unsharedSeconds: unshared, unsharedFLOPs: unsharedFLOPs, tokenizeSeconds: tokenize,
                      verdictFloorFLOPs: tower.flops(tokens: verdictTexts.map { tokenizer.tokenize($0).ids }))
    }
}
