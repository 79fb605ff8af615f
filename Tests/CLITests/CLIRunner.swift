import Foundation

/// Runs the built `spurscope` binary as a user would and captures its output.
struct CLIResult {
    var status: Int32
    var stdout: String
    var stderr: String
    /// Ended by a signal (a Swift trap, an abort, a bad access) rather than by exit.
    var signalled = false
    /// False when the run outlived its limit and was killed.
    var finished = true
}

enum CLIRunner {
    /// The executable sits next to the test bundle in the build directory.
    static var executable: URL {
        var dir = Bundle(for: Marker.self).bundleURL
        while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("spurscope").path) {
            let parent = dir.deletingLastPathComponent()
            precondition(parent != dir, "spurscope binary not found above the test bundle")
            dir = parent
        }
        return dir.appendingPathComponent("spurscope")
    }

    /// The repository root, for fixtures of other test targets.
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs the binary with this process's environment, less the variables
    /// that change how it draws (`NO_COLOR`, `COLORTERM`), plus `environment`,
    /// standard input empty. With a `limit`, a run still going after it is
    /// killed and reported as not `finished`: a hang fails its test instead
    /// of stalling the suite.
    static func run(_ arguments: [String], environment: [String: String] = [:], limit: TimeInterval? = nil) throws -> CLIResult {
        let p = Process()
        p.executableURL = executable
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        env["COLORTERM"] = nil
        p.environment = env.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in done.signal() }
        try p.run()
        // Both drained at once: a full pipe must neither block the child nor look like a hang.
        nonisolated(unsafe) var o = Data(), e = Data()
        let readers = DispatchGroup()
        DispatchQueue.global().async(group: readers) { o = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: readers) { e = err.fileHandleForReading.readDataToEndOfFile() }
        var finished = true
        if let limit {
            finished = done.wait(timeout: .now() + limit) == .success
            if !finished { kill(p.processIdentifier, SIGKILL); done.wait() }
        } else {
            done.wait()
        }
        readers.wait()
        return CLIResult(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                         stderr: String(decoding: e, as: UTF8.self), signalled: p.terminationReason == .uncaughtSignal,
                         finished: finished)
    }

    final class Marker {}
}
