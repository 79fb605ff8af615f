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
            // Beyond the BMP, \uXXXX would need a surrogate pair: the replacement character says enough.
            if TerminalText.isControl(u) && u.value > 0xFFFF { out += "\\uFFFD" }
            else if TerminalText.isControl(u) { out += String(format: "\\u%04X", u.value) } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// A Codable value as one line: its camelCase properties as snake_case
    /// keys, sorted, so `--json` is typed where it is built.
    static func line<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return escapingControls(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

/// A value written as JSON null when absent, where a key must be present
/// either way (synthesised Codable leaves absent optionals out).
struct OrNull<Value: Encodable>: Encodable {
    var value: Value?
    init(_ value: Value?) { self.value = value }
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}
