import Foundation

/// JSONSerialization keeps one value of a key an object repeats, silently:
/// a safetensors header naming a tensor twice would then read as whichever
/// entry won. This finds repeated keys of the top-level object of text that
/// JSONSerialization has already accepted (so the scan may assume valid
/// JSON); keys are decoded by JSONSerialization, so `"a"` and `"\u0061"` are
/// the same key.
enum JSONKeys {
    static func firstRepeatedTopLevelKey(_ data: Data) -> String? {
        let bytes = [UInt8](data)
        var i = 0
        func skipSpace() { while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 } }
        /// Past the string starting at `i` (a quote); returns its raw text with quotes.
        func skipString() -> ArraySlice<UInt8>? {
            let start = i
            i += 1
            while i < bytes.count {
                switch bytes[i] {
                case 0x5C: i += 2
                case 0x22: i += 1; return bytes[start..<i]
                default: i += 1
                }
            }
            return nil
        }
        /// Past one value of any kind: nested containers are skipped by depth.
        func skipValue() -> Bool {
            var depth = 0
            repeat {
                skipSpace()
                guard i < bytes.count else { return false }
                switch bytes[i] {
                case 0x22: guard skipString() != nil else { return false }
                case 0x7B, 0x5B: depth += 1; i += 1
                case 0x7D, 0x5D: depth -= 1; i += 1
                case 0x2C, 0x3A: i += 1
                default:   // number, true, false, null
                    while i < bytes.count, !",]} \t\r\n".utf8.contains(bytes[i]) { i += 1 }
                }
            } while depth > 0
            return true
        }
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else { return nil }
        i += 1
        var seen = Set<String>()
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x22, let raw = skipString(),
                  let key = (try? JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed)) as? String
            else { return nil }
            if !seen.insert(key).inserted { return key }
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x3A else { return nil }
            i += 1
            guard skipValue() else { return nil }
            skipSpace()
            guard i < bytes.count, bytes[i] == 0x2C else { return nil }
            i += 1
        }
    }
}
