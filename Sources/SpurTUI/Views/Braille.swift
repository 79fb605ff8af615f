import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Curves in braille: each cell holds 2×4 dots.
public enum Braille {
    static let bits: [[UInt32]] = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]   // [row][column]

    public static func plot(_ values: [Double], into g: inout CellGrid, x: Int, y: Int, width: Int, height: Int,
                            style: Style, range: ClosedRange<Double>? = nil, overlay: Bool = false) {
        guard !values.isEmpty, width > 0, height > 0 else { return }
        let lo = range?.lowerBound ?? values.min()!, hi = range?.upperBound ?? values.max()!
        let span = hi > lo ? hi - lo : 1
        let dotsX = width * 2, dotsY = height * 4
        var cells = [UInt32](repeating: 0, count: width * height)
        for dx in 0..<dotsX {
            let i = values.count == 1 ? 0 : Int((Double(dx) / Double(dotsX - 1) * Double(values.count - 1)).rounded())
            let v = (values[i] - lo) / span
            let dy = dotsY - 1 - Int((min(max(v, 0), 1) * Double(dotsY - 1)).rounded())
            cells[(dy / 4) * width + dx / 2] |= bits[dy % 4][dx % 2]
        }
        for r in 0..<height {
            for c in 0..<width where cells[r * width + c] != 0 || !overlay {
                var bitsHere = cells[r * width + c]
                if overlay, let existing = g[x + c, y + r].character.unicodeScalars.first?.value, existing >= 0x2800, existing <= 0x28FF {
                    bitsHere |= existing - 0x2800
                }
                g[x + c, y + r] = Cell(character: Character(Unicode.Scalar(0x2800 + bitsHere)!), style: style)
            }
        }
    }
}
