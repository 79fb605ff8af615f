/// HTML character references, read as Python's `html.unescape` reads them:
/// `&#N;` and `&#xH;` (the semicolon optional), invalid numbers as the
/// standard says (U+FFFD, Windows-1252 for 0x80–0x9F, nothing for
/// non-characters), `&name;` from `named`, and the legacy names that the
/// standard also accepts without a semicolon.
enum HTMLEntities {
    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            guard s[i] == "&", i + 1 < s.count else { out.append(s[i]); i += 1; continue }
            if s[i + 1] == "#", let (value, length) = numericReference(s, at: i + 2) {
                out.append(contentsOf: characters(forNumber: value))
                i += 2 + length
            } else if let (replacement, length) = namedReference(s, at: i + 1) {
                out.append(contentsOf: replacement.unicodeScalars)
                i += 1 + length
            } else {
                out.append(s[i]); i += 1
            }
        }
        return String(out)
    }

    /// `[0-9]+;?` or `[xX][0-9a-fA-F]+;?` at `start`: the value and the
    /// reference's length.
    private static func numericReference(_ s: [Unicode.Scalar], at start: Int) -> (UInt64, Int)? {
        var j = start
        let hex = j < s.count && (s[j] == "x" || s[j] == "X")
        if hex { j += 1 }
        let digitsStart = j
        var value: UInt64 = 0
        while j < s.count, let digit = Int(String(s[j]), radix: hex ? 16 : 10), s[j].isASCII {
            value = min(value * (hex ? 16 : 10) + UInt64(digit), 0x1_0000_0000)
            j += 1
        }
        guard j > digitsStart else { return nil }
        if j < s.count, s[j] == ";" { j += 1 }
        return (value, j - start)
    }

    private static func characters(forNumber value: UInt64) -> [Unicode.Scalar] {
        if value == 0 { return ["\u{FFFD}"] }
        if value == 0x0D { return ["\r"] }
        if (0x80...0x9F).contains(value) { return [TextCleaner.windows1252(UInt32(value))] }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return ["\u{FFFD}"] }
        switch value {
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0xFDD0...0xFDEF: return []
        case _ where value & 0xFFFE == 0xFFFE: return []
        default: return [Unicode.Scalar(UInt32(value))!]
        }
    }

    /// `name;` from `named`, or the longest legacy name (no semicolon) that
    /// starts the text, as the standard reads `&ampx` as `&x`.
    private static func namedReference(_ s: [Unicode.Scalar], at start: Int) -> (String, Int)? {
        var j = start
        var name = ""
        while j < s.count, j - start < 32, s[j].isASCII, s[j].properties.isAlphabetic || ("0"..."9").contains(s[j]) {
            name.unicodeScalars.append(s[j]); j += 1
        }
        if j < s.count, s[j] == ";", let replacement = named[name] { return (replacement, name.count + 1) }
        for length in stride(from: name.count, through: 2, by: -1) {
            let prefix = String(name.prefix(length))
            if legacy.contains(prefix), let replacement = named[prefix] { return (replacement, length) }
        }
        return nil
    }

    /// The Latin-1 names, in code point order from U+00A0; HTML accepts
    /// each of them without a semicolon.
    private static let latin1 = """
        nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 acute \
        micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml Aring AElig \
        Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash \
        Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig ccedil egrave eacute \
        ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc \
        uuml yacute thorn yuml
        """.split(separator: " ").map(String.init)

    static let legacy: Set<String> = Set(latin1 + ["amp", "lt", "gt", "quot", "AMP", "LT", "GT", "QUOT", "COPY", "REG"])

    static let named: [String: String] = {
        var table: [String: String] = [
            "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "AMP": "&", "LT": "<", "GT": ">", "QUOT": "\"",
            "COPY": "©", "REG": "®", "hellip": "…", "mdash": "—", "ndash": "–", "lsquo": "‘", "rsquo": "’",
            "sbquo": "‚", "ldquo": "“", "rdquo": "”", "bdquo": "„", "bull": "•", "trade": "™", "euro": "€",
            "dagger": "†", "Dagger": "‡", "permil": "‰", "lsaquo": "‹", "rsaquo": "›", "prime": "′", "Prime": "″",
            "minus": "−", "larr": "←", "rarr": "→", "uarr": "↑", "darr": "↓", "harr": "↔", "ensp": "\u{2002}",
            "emsp": "\u{2003}", "thinsp": "\u{2009}", "zwnj": "\u{200C}", "zwj": "\u{200D}", "OElig": "Œ", "oelig": "œ",
            "Scaron": "Š", "scaron": "š", "Yuml": "Ÿ", "fnof": "ƒ", "circ": "ˆ", "tilde": "˜",
        ]
        for (offset, name) in latin1.enumerated() { table[name] = String(Unicode.Scalar(UInt32(0xA0 + offset))!) }
        return table
    }()
}
