/// A problem with something the user handed us: a file, a field, a flag.
///
/// Every such problem names where it is (`file`, and inside it the `field`:
/// a tensor, a row, a key), what was found and what was expected, so that the
/// message alone is enough to fix the input. The command line turns it into
/// exit status 2; nothing else in spurscope decides exit codes.
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var field: String?
    public var problem: String
    /// The fix, when it is an action a front end offers: each words it in
    /// its own controls (the command line names a flag).
    public var remedy: Remedy?

    /// Fixes a front end offers in its own terms.
    public enum Remedy: Equatable, Sendable {
        /// Replace what exists at `file` (the command line's `--force`).
        case replaceExisting
        /// Rebuild the synthetic benchmark's encoder at `file` from its recipe.
        case rebuildEncoder
    }

    public init(file: String, field: String? = nil, _ problem: String, remedy: Remedy? = nil) {
        self.file = file
        self.field = field
        self.problem = problem
        self.remedy = remedy
    }

    /// A JSON field's name as errors give it: `a.b[2].c`.
    public static func fieldName(_ path: [CodingKey]) -> String {
        path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            .replacingOccurrences(of: ".[", with: "[")
    }

    /// A value from a file as a message quotes it: at most `limit`
    /// characters, then "… (N bytes)", so a 10 MB field cannot bury the error.
    public static func excerpt(_ value: String, limit: Int = 80) -> String {
        guard value.count > limit else { return value }
        return String(value.prefix(limit)) + "… (\(value.utf8.count) bytes)"
    }

    public var description: String {
        if let field { return "\(file): \(field): \(problem)" }
        return "\(file): \(problem)"
    }
}
