import ArgumentParser
import SpurEngine
import SpurCore

/// The flag that sets each engine setting, for the engine's errors
/// (`SettingError`) to name what a command-line user can change.
enum SettingFlags {
    /// Settings whose flag is not the setting's name in kebab case.
    static let exceptions: [String: String] = [
        "attributes": "--attribute", "absentWords": "--absent-word", "learningRate": "--lr", "weightDecay": "--wd",
        "lambdas": "--lambda", "initialTemperature": "--temperature", "attributeThresholds": "--attribute-threshold",
        "presence": "--zero-shot", "className": "--class",
    ]

    /// `sfrReferenceEpochs` → `--sfr-reference-epochs`.
    static func flag(for setting: String) -> String {
        if let f = exceptions[setting] { return f }
        var out = "--"
        for ch in setting {
            if ch.isUppercase { out += "-" + ch.lowercased() } else { out.append(ch) }
        }
        return out
    }

    /// How the command line offers a core error's fix.
    static func words(_ remedy: InputError.Remedy, file: String) -> String {
        switch remedy {
        case .replaceExisting:
            return "pass --force to replace it"
        case .rebuildEncoder:
            return "pre-train it again (spurscope synth --recipe RECIPE --encoder \(file) --encoder-only --force) or pass another --encoder path"
        }
    }

    /// The error as the command line reports it, its fix in the command line's words.
    static func described(_ e: InputError) -> String {
        guard let remedy = e.remedy else { return e.description }
        return "\(e.description); \(words(remedy, file: e.file))"
    }

    /// The error as the command line reports it.
    static func inputError(_ e: SettingError) -> InputError { InputError(file: flag(for: e.setting), e.problem) }
}

// The engine's choices as typed options: ArgumentParser parses them, lists
// their values in `--help` and words the error for a value it does not know.
extension TrainingConfig.OptimizerKind: ExpressibleByArgument {}
extension TrainingConfig.Sampler: ExpressibleByArgument {}
extension TrainingConfig.LossForm: ExpressibleByArgument {}
extension TrainingConfig.StarDecay: ExpressibleByArgument {}
extension TrainingConfig.SFRWeighting: ExpressibleByArgument {}
extension Method: ExpressibleByArgument {}
