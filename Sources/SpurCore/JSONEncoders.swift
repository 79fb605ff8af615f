import Foundation

extension JSONEncoder {
    /// Compact, keys sorted: how run configs and metrics are stored, so two
    /// equal values are equal as text.
    public static var sortedKeys: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }

    /// For files people read and diff (manifests, recipes): indented, keys sorted.
    public static var readable: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
