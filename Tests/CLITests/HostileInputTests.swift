import Foundation
import Testing

/// Issue 25 ("Hostile input, round 3"), items 1, 2, 3, 5 and 6: each test
/// builds the input the fuzz campaign reported on a copy of the fuzz seed.
struct HostileInputTests {
    /// Runs spurscope, killing it after `limit` seconds: a hang fails the
    /// test (`finished` false) instead of stalling the suite. Not a timing
    /// assertion: the limit is far beyond what the command needs.
    /// How the fuzzer runs a command: no colour, a watchdog.
    static func runBounded(_ arguments: [String], limit: TimeInterval = 20) throws -> CLIResult {
        try CLIRunner.run(arguments, environment: ["NO_COLOR": "1"], limit: limit)
    }

    static func seedCopy() throws -> String { try FuzzCaseTests.materialise(nil) }

    /// (example id, image path) of the seed's first PNG example.
    static func firstPNG(_ bundle: String) throws -> (id: String, image: String) {
        let lines = try String(contentsOfFile: bundle + "/examples.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let cells = try #require(lines.map { $0.split(separator: ",", omittingEmptySubsequences: false) }.first { $0[1].hasSuffix(".png") })
        return (String(cells[0]), String(cells[1]))
    }

    // MARK: item 1: a FIFO image

    @Test func fifoImageNeitherBlocksCamNorPassesValidate() throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let (id, image) = try Self.firstPNG(bundle)
        let path = bundle + "/" + image
        try FileManager.default.removeItem(atPath: path)
        #expect(mkfifo(path, 0o644) == 0)
        let cam = try Self.runBounded(["cam", bundle, "--example", id, "--ascii"])
        #expect(cam.finished, "cam blocked on a FIFO image")
        #expect(cam.status == 2 && cam.stderr.contains("is a FIFO"), "\(cam.stderr)")
        let validate = try Self.runBounded(["validate", bundle])
        #expect(validate.finished, "validate blocked on a FIFO image")
        #expect(validate.status == 2 && validate.stderr.contains("'\(image)': is a FIFO"), "\(validate.stderr)")
    }

    // MARK: item 2: validate opens every image

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (c & 1 == 1 ? 0xEDB8_8320 : 0) }
        }
        return ~c
    }

    /// The PNG with its IHDR claiming 60000 × 60000 pixels (within libpng's
    /// own limits, over spurscope's), CRC made valid.
    static func hugeIHDR(_ png: [UInt8]) -> [UInt8] {
        var b = png
        let side: [UInt8] = [0x00, 0x00, 0xEA, 0x60]
        b.replaceSubrange(16..<20, with: side)
        b.replaceSubrange(20..<24, with: side)
        let crc = crc32(Array(b[12..<29]))
        b.replaceSubrange(29..<33, with: [UInt8(crc >> 24), UInt8(crc >> 16 & 255), UInt8(crc >> 8 & 255), UInt8(crc & 255)])
        return b
    }

    @Test func validateNamesEveryUnreadableImage() throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let fm = FileManager.default
        let lines = try String(contentsOfFile: bundle + "/examples.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let pngs = Array(Set(lines.map { String($0.split(separator: ",")[1]) }.filter { $0.hasSuffix(".png") })).sorted()
        try #require(pngs.count >= 6)
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: bundle + "/" + pngs[0])))
        func replace(_ rel: String, _ make: (String) throws -> Void) throws {
            let p = bundle + "/" + rel
            try fm.removeItem(atPath: p)
            try make(p)
        }
        try replace(pngs[0]) { fm.createFile(atPath: $0, contents: Data()) }                                      // zero bytes
        try replace(pngs[1]) { fm.createFile(atPath: $0, contents: Data(original.prefix(original.count / 2))) }  // truncated
        try replace(pngs[2]) { try fm.createDirectory(atPath: $0, withIntermediateDirectories: false) }
        try replace(pngs[3]) { fm.createFile(atPath: $0, contents: Data(Self.hugeIHDR(original))) }
        try replace(pngs[4]) { try fm.createSymbolicLink(atPath: $0, withDestinationPath: "/dev/zero") }
        try replace(pngs[5]) { #expect(mkfifo($0, 0o644) == 0) }
        let r = try Self.runBounded(["validate", bundle])
        #expect(r.finished)
        #expect(r.status == 2)
        for (rel, words) in zip(pngs, ["empty file", "truncated", "is a directory", "over the limit", "is a character device", "is a FIFO"]) {
            #expect(r.stderr.contains("'\(rel)': ") && r.stderr.split(separator: "\n").contains { $0.contains(rel) && $0.contains(words) },
                    "\(rel) (\(words)) not reported: \(r.stderr)")
        }
    }

    // MARK: item 3: many classes

    @Test func manyUnmatchedClassesGiveBoundedErrors() throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let manifestPath = bundle + "/manifest.json"
        var manifest = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        manifest["classes"] = (manifest["classes"] as! [String]) + (0..<100_000).map { "unused class \($0)" }
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        // Every label names no class.
        let csv = try String(contentsOfFile: bundle + "/examples.csv", encoding: .utf8)
            .replacingOccurrences(of: ",landbird,", with: ",nothing,").replacingOccurrences(of: ",waterbird,", with: ",nothing,")
        try csv.write(toFile: bundle + "/examples.csv", atomically: true, encoding: .utf8)
        for args in [["validate", bundle], ["info", bundle], ["detect", bundle]] {
            let r = try Self.runBounded(args, limit: 60)
            #expect(r.finished, "\(args[0]) did not finish")
            #expect(r.status == 2)
            // Was 39 MB: every bad label listed every class.
            #expect(r.stderr.utf8.count < 20_000, "\(args[0]): \(r.stderr.utf8.count) bytes of errors")
            #expect(r.stderr.contains("'nothing' is not a class") && r.stderr.contains("and 99997 more"), "\(r.stderr.prefix(500))")
        }
    }

    // MARK: item 5: numbers out of range, long values

    @Test(arguments: [("\"Dv\": 8", "\"Dv\": 1e30", "dims.Dv"), ("\"Dv\": 8", "\"Dv\": 9223372036854775808", "dims.Dv"),
                      ("\"H\": 4", "\"H\": 128.5", "grid.H"),
                      ("\"format_version\": 1", "\"format_version\": 1, \"detection_threshold\": 1e+308", "detection_threshold")])
    func outOfRangeNumberNamesItsField(original: String, replacement: String, field: String) throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let path = bundle + "/manifest.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try #require(text.contains(original))
        try text.replacingOccurrences(of: original, with: replacement).write(toFile: path, atomically: true, encoding: .utf8)
        for command in ["validate", "info"] {
            let r = try CLIRunner.run([command, bundle])
            #expect(r.status == 2)
            #expect(r.stderr.contains("manifest.json: \(field): is "), "\(command): \(r.stderr)")
            #expect(!r.stderr.contains("not valid JSON"), "\(command): \(r.stderr)")
        }
    }

    @Test func longValueIsCutInTheMessage() throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let path = bundle + "/manifest.json"
        var manifest = try #require(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        manifest["templates"] = [String(repeating: "y", count: 10_000_000)]
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: path))
        let r = try CLIRunner.run(["validate", bundle])
        #expect(r.status == 2)
        #expect(r.stderr.contains("templates[0]") && r.stderr.contains("… (10000000 bytes)"), "\(r.stderr.prefix(300))")
        #expect(r.stderr.utf8.count < 10_000, "\(r.stderr.utf8.count) bytes of errors")
    }

    // MARK: item 6: a reader beside a writer

    static let sqlite3 = "/usr/bin/sqlite3"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: sqlite3)))
    func readersDoNotWaitForAWriter() throws {
        let bundle = try Self.seedCopy()
        defer { try? FileManager.default.removeItem(atPath: bundle) }
        let mark = try CLIRunner.run(["mark", bundle, "--class", "landbird", "--attribute", "water", "--verdict", "spurious"])
        #expect(mark.status == 0, "\(mark.stderr)")
        // Another connection inside a write transaction, held until its stdin closes.
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: Self.sqlite3)
        writer.arguments = [bundle + "/.spurscope/workspace.sqlite"]
        let input = Pipe(), output = Pipe()
        writer.standardInput = input
        writer.standardOutput = output
        writer.standardError = FileHandle.nullDevice
        try writer.run()
        defer { try? input.fileHandleForWriting.close(); writer.waitUntilExit() }
        input.fileHandleForWriting.write(Data("""
            BEGIN IMMEDIATE;
            INSERT INTO decisions (class, attribute, verdict, phrase_present, phrase_absent, created_at) VALUES ('landbird', 'boat', 'healthy', 'p', 'a', '2026-01-01T00:00:00.000Z');
            SELECT 'holding';\n
            """.utf8))
        var seen = Data()
        while !String(decoding: seen, as: UTF8.self).contains("holding") {
            let chunk = output.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "sqlite3 ended before taking the write lock")
            seen += chunk
        }
        // With the write lock held, readers read the last commit. They used
        // to wait out the 10 s busy timeout and fail with "database is locked".
        let decisions = try Self.runBounded(["decisions", bundle])
        #expect(decisions.status == 0, "\(decisions.stderr)")
        #expect(decisions.stdout.contains("landbird / water: spurious") && !decisions.stdout.contains("boat"))
        for args in [["detect", bundle, "--min-support", "1"], ["eval", bundle, "--zeroshot", "--no-aiou"]] {
            let r = try Self.runBounded(args)
            #expect(r.status == 0 && !r.stderr.contains("locked"), "\(args[0]): \(r.stderr)")
        }
    }
}
