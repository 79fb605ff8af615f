import ArgumentParser
import Foundation
import SpurAudit
import SpurCLIP
import SpurCore
import SpurReport
import SpurSnapshot

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report of the audit, the verdicts and the runs.",
        discussion: """
        Writes DIR/index.html and DIR/img/*.png: no network, no JavaScript; it opens from \
        disk and prints. Sections: provenance (bundle, digest of its manifest, model, splits, \
        groups, detector threshold), triage (screen 1's ranking per class with δ, its 95 % \
        interval, supports and confused class; each verdict with phrases, note and history), \
        evidence (for each attribute marked spurious, examples with and without it beside \
        their Grad-CAM overlays in the inferno map), mitigation (each run's configuration, \
        loss and validation curves with the best epoch marked, per-group validation accuracy \
        of the first and the best epoch as a table and bars). Every figure names its split \
        and whether groups are detected or true.

        Defaults: --out is ./spurscope-report; all runs of the workspace are included unless \
        --run is given; at most --examples-per-group examples (default 8) per group, the \
        first in bundle order, so the page's cost does not grow with the bundle. An existing \
        --out is replaced only with --force; the page is written to a temporary directory \
        beside it and renamed into place.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .customLong("run"), parsing: .unconditionalSingleValue, help: "Include this run (repeatable; default: every run of the workspace).") var runIDs: [Int64] = []
    @Option(name: .long, help: "Directory to write (default: ./spurscope-report).") var out: String = "spurscope-report"
    @Option(name: .long, parsing: .unconditional, help: "Examples shown per group, with and without each spurious attribute.") var examplesPerGroup: Int = 8
    @Flag(name: .long, help: "Replace --out when it exists.") var force = false
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        guard (1...256).contains(examplesPerGroup) else {
            throw InputError(file: "--examples-per-group", "is \(examplesPerGroup), expected 1...256")
        }
        let fm = FileManager.default
        let target = URL(fileURLWithPath: out).standardizedFileURL.path
        if fm.fileExists(atPath: target) && !force {
            throw InputError(file: target, "exists; pass --force to replace it")
        }
        let parent = (target as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue, fm.isWritableFile(atPath: parent) else {
            throw InputError(file: parent, "cannot be written (the report goes to \(target))")
        }
        let started = Date()
        progress("loading \(bundle) and running the audit")
        let model = try UIModel(bundle: bundle, workspace: workspaceOption.workspace)
        let all = try model.workspace.runs()
        let runs: [RunRecord]
        if runIDs.isEmpty { runs = all } else {
            runs = try runIDs.map { id in
                try all.first { $0.id == id }.orThrow(InputError(file: "--run", "\(id) is not a run of the workspace \(model.workspace.path)"))
            }
        }
        let digest = try FileDigest.sha256(model.bundle.path("manifest.json"))
        let page = ReportPage(model: model, runs: runs, examplesPerGroup: examplesPerGroup,
                              bundlePath: URL(fileURLWithPath: bundle).standardizedFileURL.path,
                              version: "spurscope (no version or commit embedded in this build)",
                              bundleDigest: "manifest.json " + digest, progress: progress)
        let temporary = parent + "/.spurscope-report-\(ProcessInfo.processInfo.processIdentifier)"
        try? fm.removeItem(atPath: temporary)
        do {
            try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
            try page.write(to: temporary)
            if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
            try fm.moveItem(atPath: temporary, toPath: target)
        } catch let error as InputError {
            try? fm.removeItem(atPath: temporary); throw error
        } catch {
            try? fm.removeItem(atPath: temporary)
            throw InputError(file: target, "cannot be written (\(error.localizedDescription))")
        }
        progress(String(format: "wrote %@/index.html in %.1f s", target, Date().timeIntervalSince(started)))
        print(target + "/index.html")
    }

    func progress(_ message: String) {
        FileHandle.standardError.write(Data("report: \(message)\n".utf8))
    }
}
