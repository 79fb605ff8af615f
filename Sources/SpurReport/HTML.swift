import Foundation

/// Text from data (class names, phrases, notes, ids) goes through here before
/// it reaches the page: markup characters escaped, control characters dropped
/// (they have no printable form and some break XML parsers of SVG).
public enum HTML {
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for u in s.unicodeScalars {
            switch u {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\n", "\t": out.unicodeScalars.append(u)
            default:
                if u.properties.generalCategory == .control { continue }
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    public static func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
    public static func signed(_ x: Double) -> String { String(format: "%+.3f", x) }
}
