import Foundation

/// The cleaning CLIP applies before it splits a text: OpenAI's
/// `basic_clean` (ftfy, then HTML entities unescaped twice, stripped), then
/// `whitespace_clean` (every whitespace run one space), then lower case.
///
/// Of ftfy's `fix_text` this does what changes ordinary typed text: C1
/// controls read as Windows-1252, Latin ligatures spelled out, full-width
/// forms narrowed, curly quotes straightened, control characters removed,
/// NFC. It does not guess at mojibake (ftfy's `fix_encoding` heuristics): a
/// text that is UTF-8 decoded as Latin-1 stays as it is. HTML entities:
/// numeric ones as Python's `html.unescape` reads them, named ones from
/// `HTMLEntities.named` (the Latin-1 set and the common typographic ones).
public enum TextCleaner {
    public static func clean(_ text: String) -> String {
        var s = fixText(text)
        s = HTMLEntities.unescape(HTMLEntities.unescape(s))
        return collapseWhitespace(s).lowercased()
    }

    /// The ftfy subset, repeated until nothing changes (as `fix_text` does).
    static func fixText(_ text: String) -> String {
        var current = text
        for _ in 0..<4 {
            var s = current
            if !s.contains("<") { s = HTMLEntities.unescape(s) }
            s = mapScalars(s) { c in
                if (0x80...0x9F).contains(c.value) { return [windows1252(c.value)] }
                if let ligature = ligatures[c.value] { return Array(ligature.unicodeScalars) }
                if isWide(c) { return Array(String(c).precomposedStringWithCompatibilityMapping.unicodeScalars) }
                if c.value == 0x02BC || (0x2018...0x201B).contains(c.value) { return ["'"] }
                if (0x201C...0x201F).contains(c.value) { return ["\""] }
                if isRemovedControl(c) { return [] }
                return [c]
            }
            s = s.precomposedStringWithCanonicalMapping
            // Scalars, not `==`: Swift strings compare up to canonical
            // equivalence, so NFC would look like no change.
            if s.unicodeScalars.elementsEqual(current.unicodeScalars) { break }
            current = s
        }
        return current
    }

    /// Python's `re.sub(r'\s+', ' ', s).strip()`.
    static func collapseWhitespace(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for c in text.unicodeScalars {
            if PreTokenizer.isWhitespace(c) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.append(c)
            }
        }
        return String(out)
    }

    private static func mapScalars(_ text: String, _ transform: (Unicode.Scalar) -> [Unicode.Scalar]) -> String {
        var out = String.UnicodeScalarView()
        for c in text.unicodeScalars { out.append(contentsOf: transform(c)) }
        return String(out)
    }

    /// Full-width and half-width forms and the ideographic space, which ftfy
    /// replaces by their compatibility form.
    private static func isWide(_ c: Unicode.Scalar) -> Bool {
        c.value == 0x3000 || (0xFF01...0xFFEF).contains(c.value)
    }

    private static func isRemovedControl(_ c: Unicode.Scalar) -> Bool {
        switch c.value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: return true
        default: return false
        }
    }

    private static let ligatures: [UInt32: String] = [
        0x0132: "IJ", 0x0133: "ij", 0x0149: "\u{02BC}n", 0x01C4: "D\u{017D}", 0x01C5: "D\u{017E}", 0x01C6: "d\u{017E}",
        0x01C7: "LJ", 0x01C8: "Lj", 0x01C9: "lj", 0x01CA: "NJ", 0x01CB: "Nj", 0x01CC: "nj",
        0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl", 0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "\u{017F}t", 0xFB06: "st",
    ]

    /// A C1 control as the Windows-1252 character of the same byte; the five
    /// bytes Windows-1252 leaves undefined stay as they are.
    static func windows1252(_ value: UInt32) -> Unicode.Scalar {
        let table: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D, 0x017D, 0x8F,
            0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
        ]
        return Unicode.Scalar(table[Int(value - 0x80)])!
    }
}
