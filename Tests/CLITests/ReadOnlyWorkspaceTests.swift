import Foundation
import Testing

/// Issue 12, item 8: a read-only bundle that already has a workspace.
/// Reading commands work; writing ones say the workspace is read-only and
/// suggest `--workspace DIR`. Made read-only with chmod; as root (whom chmod
/// does not stop) the commands run as `nobody` through setpriv.
struct ReadOnlyWorkspaceTests {
    static let setpriv = "/usr/bin/setpriv"

    /// Runs spurscope as a user that chmod binds.
    static func runUnprivileged(_ arguments: [String]) throws -> CLIResult {
        guard getuid() == 0 else { return try CLIRunner.run(arguments) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: setpriv)
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", CLIRunner.executable.path] + arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    @Test(.enabled(if: getuid() != 0 || FileManager.default.isExecutableFile(atPath: setpriv)))
    func readingWorksAndWritingSuggestsAnotherWorkspace() throws {
        let bundle = try FuzzCaseTests.materialise(nil)
        defer {
            chmodTree(bundle, add: true)
            try? FileManager.default.removeItem(atPath: bundle)
        }
        #expect(try CLIRunner.run(["mark", bundle, "--class", "landbird", "--attribute", "water", "--verdict", "spurious"]).status == 0)
        let train = try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "1", "--batch-size", "8"])
        #expect(train.status == 0, "\(train.stderr)")
        chmodTree(bundle, add: false)

        for args in [["decisions", bundle], ["detect", bundle, "--min-support", "1"], ["eval", bundle, "--run", "1", "--no-aiou"],
                     ["eval", bundle, "--zeroshot"], ["cam", bundle, "--example", "s00003", "--run", "1", "--width", "10"]] {
            let r = try Self.runUnprivileged(args)
            #expect(r.status == 0, "\(args[0]): \(r.stderr)")
        }
        let decisions = try Self.runUnprivileged(["decisions", bundle])
        #expect(decisions.stdout.contains("landbird / water: spurious"))
        for args in [["mark", bundle, "--class", "landbird", "--attribute", "boat", "--verdict", "healthy"],
                     ["train", bundle, "--method", "erm", "--epochs", "1"]] {
            let r = try Self.runUnprivileged(args)
            #expect(r.status == 2 && r.stderr.contains("workspace.sqlite: the workspace is read-only")
                    && r.stderr.contains("--workspace DIR"), "\(args[0]): \(r.stderr)")
        }
        // What the message suggests works.
        let elsewhere = FileManager.default.temporaryDirectory.appendingPathComponent("ro-elsewhere-\(getpid())").path
        try? FileManager.default.removeItem(atPath: elsewhere)
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: elsewhere) }
        _ = chmod(elsewhere, 0o777)
        let moved = try Self.runUnprivileged(["mark", bundle, "--class", "landbird", "--attribute", "boat", "--verdict", "healthy", "--workspace", elsewhere])
        #expect(moved.status == 0, "\(moved.stderr)")
    }

    /// chmod -R a-w (or u+w back).
    func chmodTree(_ root: String, add: Bool) {
        var paths = [root]
        if let walk = FileManager.default.enumerator(atPath: root) {
            for case let rel as String in walk { paths.append((root as NSString).appendingPathComponent(rel)) }
        }
        for p in paths {
            guard let mode = (try? FileManager.default.attributesOfItem(atPath: p))?[.posixPermissions] as? Int else { continue }
            _ = chmod(p, mode_t(add ? mode | 0o200 : mode & ~0o222))
        }
    }
}
