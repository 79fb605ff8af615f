/// CLIP's byte-level alphabet: each of the 256 byte values as one printable
/// Unicode scalar, so that BPE runs over strings with no whitespace or control
/// characters in them (Radford et al.'s `bytes_to_unicode`). Printable Latin-1
/// bytes stand for themselves; the other 68 take the scalars from U+0100 on,
/// in byte order.
enum ByteAlphabet {
    /// The scalar of each byte value.
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte values in vocabulary order: the printable ones first, then
    /// the rest (OpenAI builds its vocabulary in this order).
    static let vocabularyOrder: [Int] = (0..<256).filter(isPrintable) + (0..<256).filter { !isPrintable($0) }

    /// `!`…`~`, `¡`…`¬`, `®`…`ÿ`.
    private static func isPrintable(_ byte: Int) -> Bool {
        (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
    }
}
