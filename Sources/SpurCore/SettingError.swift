/// A problem with a setting of a run, an audit or a grouping, named in the
/// engine's own terms: `setting` is the name of the field that holds it
/// (`TrainingConfig.epochs`, `PresenceSource`'s `threshold`, …), never a
/// front end's control. The command line says which flag sets it
/// (`--epochs`), the UI which key; both show `problem` as it is.
public struct SettingError: Error, CustomStringConvertible, Equatable, Sendable {
    public var setting: String
    public var problem: String

    public init(_ setting: String, _ problem: String) {
        self.setting = setting
        self.problem = problem
    }

    public var description: String { "\(setting): \(problem)" }
}
