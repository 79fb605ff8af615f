/// Text from data (a note, a phrase, a class name from a vocabulary file) on
/// its way to a terminal. A control character there is an instruction to
/// the terminal, not text: ESC starts escape sequences (colours, the window
/// title, OSC 52 writes the clipboard), a newline or carriage return
/// rewrites what the screen shows, and bidirectional overrides reorder it.
/// Such characters are refused where people type text in and shown as
/// visible escapes wherever data goes out.
public enum TerminalText {
    /// Whether a scalar would act on a terminal instead of printing.
    public static func isControl(_ u: Unicode.Scalar) -> Bool {
        if u.properties.generalCategory == .control { return true }
        switch u.value {
        case 0x2028, 0x2029: return true              // line and paragraph separators
        case 0x202A...0x202E, 0x2066...0x2069: return true   // bidirectional embeddings, overrides, isolates
        default: return false
        }
    }

    /// The first control scalar of `s` and its position (in scalars), if any.
    public static func firstControl(in s: String) -> (scalar: Unicode.Scalar, offset: Int)? {
        for (i, u) in s.unicodeScalars.enumerated() where isControl(u) { return (u, i) }
        return nil
    }

    /// `s` with every control scalar written as a visible `\u{1B}`.
    public static func escaped(_ s: String) -> String {
        guard firstControl(in: s) != nil else { return s }
        var out = ""
        for u in s.unicodeScalars {
            if isControl(u) { out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}" } else { out.unicodeScalars.append(u) }
        }
        return out
    }

    /// A refusal of typed text holding a control character, naming it and
    /// where it is, for the setting that carries the text.
    public static func check(_ s: String, setting: String) throws {
        if let (u, i) = firstControl(in: s) {
            throw SettingError(setting, "holds the control character U+\(String(u.value, radix: 16, uppercase: true).leftPadded(to: 4)) at position \(i + 1): text here is one line of printable characters")
        }
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
