import Foundation

/// One JSON object per line on standard output, keys sorted so output is
/// stable across runs.
enum JSONOutput {
    static func line(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// JSON has no NaN or infinity: such a value is written as null.
    static func number(_ x: Float) -> Any { x.isFinite ? Double(x) : NSNull() }
}
