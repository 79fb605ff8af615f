import Foundation
import Testing
import SpurCore

/// Replays every input the fuzzer (tools/fuzz/fuzz.py) ever saw crash: the
/// seed bundle with the case's mutated files laid over it and its deleted
/// files removed, then the command that crashed. Each must now end with a
/// clean exit status — 0, or 1/2 with a message — and never by a signal.
@Suite struct FuzzCaseTests {
    static let directory = CLIRunner.repository.appendingPathComponent("Tests/CLITests/FuzzCases")

    struct Case: Decodable {
        var args: [String]
        var deleted: [String]
        /// "path=kind": a FIFO, directory, device link, empty file or
        /// symlink loop put where the file was (git cannot hold them).
        var special: [String]?
        var found: String
    }

    /// Every saved case. Throws when the directory cannot be read: a
    /// parameterised test over no arguments runs nothing and passes.
    static func caseNames() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        return names.filter { FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/case.json").path) }.sorted()
    }

    /// The replay below passes vacuously without cases: a moved or emptied
    /// directory must fail here instead.
    @Test func casesAreFound() throws {
        let names = try Self.caseNames()
        #expect(names.count >= 4, "\(Self.directory.path) holds \(names.count) cases: \(names)")
    }

    /// The seed itself is sound: the cases test the mutations, not a broken seed.
    @Test func seedIsSound() throws {
        let dir = try Self.materialise(nil)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLIRunner.run(["validate", dir])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test(arguments: try FuzzCaseTests.caseNames())
    func replay(_ name: String) throws {
        let c = try JSONDecoder().decode(Case.self, from: Data(contentsOf: Self.directory.appendingPathComponent("\(name)/case.json")))
        let dir = try Self.materialise(name, deleting: c.deleted)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for item in c.special ?? [] { try Self.makeSpecial(item, in: dir) }
        // Bounded: a case that once hung must fail here, not stall the suite.
        let r = try HostileInputTests.runBounded(c.args.map { $0.replacingOccurrences(of: "{bundle}", with: dir) }, limit: 30)
        #expect(r.finished, "\(name) (\(c.found)) still hangs")
        #expect(!r.signalled, "\(name) (\(c.found)) still ends by signal \(r.status)")
        #expect([0, 1, 2].contains(r.status), "\(name): exit status \(r.status)")
        if r.status != 0 { #expect(!r.stderr.isEmpty, "\(name): failed without a message") }
    }

    /// Replaces `rel` in `dir` as tools/fuzz/fuzz.py's make_special does.
    static func makeSpecial(_ item: String, in dir: String) throws {
        let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
        // A case whose special file cannot be made would replay without its hazard: fail instead.
        guard parts.count == 2 else { throw InputError(file: "case.json", field: "special", "'\(item)' is not PATH=KIND") }
        let path = (dir as NSString).appendingPathComponent(parts[0])
        let fm = FileManager.default
        try? fm.removeItem(atPath: path)
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        switch parts[1] {
        case "fifo": guard mkfifo(path, 0o644) == 0 else { throw CocoaError(.fileWriteUnknown) }
        case "dir": try fm.createDirectory(atPath: path, withIntermediateDirectories: false)
        case "empty": fm.createFile(atPath: path, contents: Data())
        case "loop": try fm.createSymbolicLink(atPath: path, withDestinationPath: (path as NSString).lastPathComponent)
        case let kind where kind.hasPrefix("dev-"): try fm.createSymbolicLink(atPath: path, withDestinationPath: "/dev/" + kind.dropFirst(4))
        default: throw InputError(file: "case.json", field: "special", "'\(parts[1])' is not fifo, dir, empty, loop or dev-NAME")
        }
    }

    /// A fresh copy of the seed with a case's files laid over it.
    static func materialise(_ name: String?, deleting: [String] = []) throws -> String {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("fuzzcase-\(name ?? "seed")-\(getpid())-\(UUID().uuidString.prefix(8))").path
        try? fm.removeItem(atPath: dir)
        try fm.copyItem(atPath: directory.appendingPathComponent("seed").path, toPath: dir)
        if let name {
            let files = directory.appendingPathComponent("\(name)/files")
            if let walk = fm.enumerator(atPath: files.path) {
                for case let rel as String in walk {
                    var isDir: ObjCBool = false
                    let src = files.appendingPathComponent(rel).path
                    guard fm.fileExists(atPath: src, isDirectory: &isDir), !isDir.boolValue else { continue }
                    let dst = (dir as NSString).appendingPathComponent(rel)
                    try? fm.removeItem(atPath: dst)
                    // A workspace lives in .spurscope/, which the seed has not.
                    try fm.createDirectory(atPath: (dst as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try fm.copyItem(atPath: src, toPath: dst)
                }
            }
        }
        for rel in deleting { try fm.removeItem(atPath: (dir as NSString).appendingPathComponent(rel)) }
        return dir
    }
}
