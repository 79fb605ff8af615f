import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// Sequences that begin alike share their prefix rows; each text's feature
/// must still be what it is when encoded alone (no sharing at all).
struct PrefixSharingTests {
    @Test func packingSharesCommonBeginningsOnly() {
        let p = PrefixPacking([[1, 2, 3], [1, 2, 4, 5], [1, 2, 3], [6], [1, 2]])
        #expect(p.rowTokens.map(\.token) == [1, 2, 3, 4, 5, 6])
        #expect(p.rowTokens.map(\.position) == [0, 1, 2, 2, 3, 0])
        #expect(p.sequences == [
            PackedSequence(rows: 0..<3, prefix: []),
            PackedSequence(rows: 3..<5, prefix: [0, 1]),
            PackedSequence(rows: 5..<5, prefix: [0, 1, 2]),   // a repeat owns nothing
            PackedSequence(rows: 5..<6, prefix: []),
            PackedSequence(rows: 6..<6, prefix: [0, 1]),      // a prefix of an earlier one
        ])
        #expect(p.row(sequence: 1, position: 3) == 4 && p.row(sequence: 2, position: 2) == 2)
    }

    @Test func sharedPrefixesGiveEachTextItsOwnFeature() throws {
        let path = NSTemporaryDirectory() + "prefix-sharing-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try RandomTextCheckpoint.write(.init(vocabularySize: 50, contextLength: 12, width: 64, layers: 2, embeddingDim: 16), to: path)
        let tower = try CLIPTextTower.load(CLIPCheckpoint(path: path))
        let texts = [[49, 3, 4, 5, 49], [48, 3, 4, 7, 8, 49], [48, 3, 4, 5, 49], [48, 3, 4, 5, 49], [48, 3, 49], [48, 9, 49]]
        let together = try tower.features(tokens: texts)
        for (i, t) in texts.enumerated() {
            let alone = try tower.features(tokens: [t])
            let diff = zip(together.row(i), alone.row(0)).map { abs($0 - $1) }.max()!
            #expect(diff < 1e-5, "text \(i): max |Δ| \(diff)")
        }
        // The two texts that differ after a shared prefix have different features.
        #expect(zip(together.row(1), together.row(2)).map { abs($0 - $1) }.max()! > 1e-3)
    }
}
