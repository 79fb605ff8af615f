import Foundation
import SpurCore

/// One JSON object per line on standard output, keys sorted so output is
/// stable across runs.
enum JSONOutput {
    static func line(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return escapingControls(String(decoding: data, as: UTF8.self))
    }

    /// JSON escapes C0 controls itself but writes DEL, C1 controls, line
    /// separators and bidi overrides raw, which a terminal obeys; as \uXXXX
    /// they are the same JSON string, shown instead.
    static func escapingControls(_ json: String) -> String {
        guard TerminalText.firstControl(in: json) != nil else { return json }
        var out = ""
        for u in json.unicodeScalars {
            if TerminalText.isControl(u) && u.value > 0xFFFF { out += "\\u{FFFD}" }
            else if TerminalText.isControl(u) { out += String(format: "\\u%04X", u.value) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// JSON has no NaN or infinity: such a value is written as null.
    static func number(_ x: Float) -> Any { x.isFinite ? Double(x) : NSNull() }
}
