import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

struct TextFeatureCacheTests {
    func scratch(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "text-cache-\(name)-\(getpid())-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// coreutils' sha256sum, an independent implementation.
    func sha256sum(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return "sha256:" + String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
    }

    @Test func digestsAgreeWithSha256sumAcrossPieceBoundaries() throws {
        let dir = scratch("digest")
        for size in [0, 1, 4 << 20, (4 << 20) + 3] {
            let path = dir + "/f\(size)"
            var rng = SeededGenerator(seed: UInt64(size))
            FileManager.default.createFile(atPath: path, contents: Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            #expect(try FileDigest.sha256(path) == sha256sum(path), "size \(size)")
        }
    }

    @Test func aDigestIsKeptUntilTheFileChanges() throws {
        let dir = scratch("kept")
        let cache = TextFeatureCache(folder: dir)
        let path = dir + "/weights"
        FileManager.default.createFile(atPath: path, contents: Data("first".utf8))
        let when = Date(timeIntervalSince1970: 1_700_000_000)
        try FileManager.default.setAttributes([.modificationDate: when], ofItemAtPath: path)
        let first = try cache.digest(of: path)
        // Same size and time: the remembered digest, not a new hash.
        FileManager.default.createFile(atPath: path, contents: Data("other".utf8))
        try FileManager.default.setAttributes([.modificationDate: when], ofItemAtPath: path)
        #expect(try cache.digest(of: path) == first)
        try FileManager.default.setAttributes([.modificationDate: when.addingTimeInterval(1)], ofItemAtPath: path)
        #expect(try cache.digest(of: path) == sha256sum(path))
        #expect(first != (try sha256sum(path)))
    }

    @Test func featuresComeBackByModelTextAndWidth() {
        let cache = TextFeatureCache(folder: scratch("features"))
        let m = Matrix([[1, 2, 3], [-0.5, 0, 1e-7]])
        cache.store(model: "sha256:a", texts: ["one", "two"], features: m)
        let back = cache.features(model: "sha256:a", texts: ["two", "three", "one"], width: 3)
        #expect(back[0] == [-0.5, 0, 1e-7] && back[1] == nil && back[2] == [1, 2, 3])
        #expect(cache.features(model: "sha256:b", texts: ["one"], width: 3) == [nil])
        #expect(cache.features(model: "sha256:a", texts: ["one"], width: 4) == [nil])
    }

    @Test func aCacheThatCannotBeWrittenIsNoError() throws {
        let file = scratch("blocked") + "/not-a-folder"
        FileManager.default.createFile(atPath: file, contents: Data())
        let cache = TextFeatureCache(folder: file)
        cache.store(model: "m", texts: ["x"], features: Matrix([[1]]))
        #expect(cache.features(model: "m", texts: ["x"], width: 1) == [nil])
    }
}
