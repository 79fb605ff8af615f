import SpurCore
import SpurEngine

/// What each engine setting is called on the Train screen and which keys
/// change it, for the engine's errors (`SettingError`) to name what a UI
/// user can do, as `SettingFlags` names the flag on the command line.
enum SettingKeys {
    static let controls: [TrainingSetting: (label: String, keys: String)] = [
        .lossForm: ("loss form", "f"), .absentWords: ("absent word", "e"),
        .attributes: ("attribute", "a/A, or mark one spurious on screen 1"),
        .epochs: ("epochs", "+/- or e"), .learningRate: ("learning rate", "l/L or e"),
        .batchSize: ("batch size", "b/B or e"), .optimizer: ("optimizer", "o"),
        .weightDecay: ("weight decay", "w/W or e"), .sampler: ("sampler", "s"),
    ]

    /// The settings the `e` form types, in its order.
    static let typed: [TrainingSetting] = [.epochs, .learningRate, .batchSize, .weightDecay]

    static func label(_ s: TrainingSetting) -> String { controls[s]!.label }

    /// The form's label of an attribute's absent word.
    static func absentWordLabel(_ attribute: String) -> String { "absent word (\(attribute))" }

    /// The error as the Train screen shows it: the setting's name and keys, then the engine's problem.
    static func message(_ e: SettingError) -> String {
        guard let s = TrainingSetting(rawValue: e.setting), let c = controls[s] else { return "\(e.setting): \(e.problem)" }
        return "\(c.label) (\(c.keys)): \(e.problem)"
    }

    /// Runs `body`, a setting's error reworded for this screen: errors
    /// raised once the data is read (an attribute the bundle lacks) reach
    /// the screen as the engine's failure message, past `message`.
    static func worded<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as SettingError { throw Worded(description: message(e)) }
    }

    struct Worded: Error, CustomStringConvertible { var description: String }
}
