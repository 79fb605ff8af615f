import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

/// The root command. Every subcommand reports bad input as an `InputError`,
/// which becomes one line on standard error and exit status 2; usage errors
/// from argument parsing exit with 2 as well, so scripts can tell "bad input"
/// (2) from "failed while working" (1).
@main
struct Spurscope {
    static let configuration = CommandConfiguration(
        commandName: "spurscope",
        abstract: "Find and remove spurious correlations in CLIP-style models during fine-tuning.",
        discussion: """
        spurscope works on a feature bundle: encoder outputs cached once, so that \
        training the two projection layers, evaluation and Grad-CAM run on BLAS.
        """,
        subcommands: [UICommand.self, SynthCommand.self, InfoCommand.self, ValidateCommand.self, ImportCommand.self, DetectCommand.self, MarkCommand.self, DecisionsCommand.self, TrainCommand.self, EvalCommand.self, CompareCommand.self, ReportCommand.self, ProbeCommand.self, CamCommand.self, ExtractCommand.self, EncodeCommand.self, EncodeImagesCommand.self, PreprocessCommand.self, TokenizeCommand.self, LossCommand.self, BenchCommand.self, BenchProbeCommand.self],
        defaultSubcommand: UICommand.self)

    static func main() {
        BundleTextResolver.install()
        do {
            var command = try RootCommand.parseAsRoot()
            try command.run()
        } catch let error as InputError {
            // Errors quote values from files and flags: shown, never obeyed by the terminal.
            FileHandle.standardError.write(Data("error: \(TerminalText.escaped(SettingFlags.described(error)))\n".utf8))
            exit(2)
        } catch let error as SettingError {
            FileHandle.standardError.write(Data("error: \(TerminalText.escaped("\(SettingFlags.inputError(error))"))\n".utf8))
            exit(2)
        } catch {
            let code = RootCommand.exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((RootCommand.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            RootCommand.exit(withError: error)
        }
    }
}

struct RootCommand: ParsableCommand {
    static let configuration = Spurscope.configuration
}
