import ArgumentParser
import Foundation
import SpurCore
import SpurTUI

struct UICommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ui",
        abstract: "Open the terminal UI on a bundle (the default command).",
        discussion: """
        Screens: 1 Attributes (rank by evidence, mark s/h/u, n note, U undo), 2 Preview \
        (every example with and without the attribute, image and Grad-CAM), 3 Train \
        (start a run, live curves, x cancels), 4 Groups (any two models side by side \
        per test group, p/P pick them; browse a group with both Grad-CAMs). ? shows \
        every key, q quits; the mouse clicks tabs and rows. NO_COLOR or --ascii draws \
        without colour.
        """)

    @Argument(help: "The bundle directory (default: the sample bundle, sample-data/waterbirds-synth).")
    var bundle: String = "sample-data/waterbirds-synth"

    @Option(name: .long, help: "Colour theme: dark, light, high-contrast, monochrome, or a .toml file (default: the config file's, else dark).") var theme: String?
    @Flag(name: .long, help: "ASCII art instead of coloured half blocks.") var ascii = false
    @OptionGroup(title: "Audit (screen 1, as `detect` takes them)") var auditOptions: AuditOptions
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        // `ui` is the default command, so `spurscope nosuchcmd` arrives here
        // with a "bundle" that is really a mistyped command name.
        if !bundle.contains("/") && !FileManager.default.fileExists(atPath: bundle) {
            let commands = Spurscope.configuration.subcommands.map { $0.configuration.commandName ?? "" }.filter { !$0.isEmpty }
            throw InputError(file: bundle, "is neither a command (\(commands.joined(separator: ", "))) nor a bundle directory")
        }
        let audit = try auditOptions.audit()
        let noColor = ProcessInfo.processInfo.environment["NO_COLOR"] != nil
        let name = try theme ?? UIConfig.theme() ?? "dark"
        var chosen = try Theme.named(name, directories: Self.themeDirectories)
        if noColor { chosen = try Theme.named("monochrome", directories: Self.themeDirectories) }
        if !FileManager.default.fileExists(atPath: bundle + "/" + FeatureBundle.manifestFile) && bundle == "sample-data/waterbirds-synth" {
            throw InputError(file: bundle, "does not exist yet: `make sample` builds the sample bundle, or pass a bundle directory")
        }
        FileHandle.standardError.write(Data("loading \(bundle)…\n".utf8))
        let model = try UIModel(bundle: bundle, workspace: workspaceOption.workspace, auditSettings: audit)
        let app = App(model: model, theme: chosen, ascii: ascii || noColor)
        try TerminalUI.run(app)
        // The terminal is restored. A run's thread may still be inside BLAS:
        // give it a bounded moment, record the run as cancelled if it does not
        // end, and leave without the exit handlers (OpenBLAS's would wait for
        // that thread forever).
        app.prepareExit(wait: 0.5)
        fflush(nil)
        _exit(0)
    }

    /// `$SPURSCOPE_THEMES`, `./themes`, and the repository's `themes/` next
    /// to a binary built in `.build/CONFIG/`.
    static var themeDirectories: [String] {
        var dirs: [String] = []
        if let env = ProcessInfo.processInfo.environment["SPURSCOPE_THEMES"] { dirs.append(env) }
        dirs.append("themes")
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            dir = dir.deletingLastPathComponent()
            dirs.append(dir.appendingPathComponent("themes").path)
        }
        return dirs
    }
}
