import Testing
@testable import SpurCore

struct TerminalArtTests {
    @Test func xterm256PicksTheNearestCubeOrGrey() {
        #expect(TerminalArt.xterm256(0, 0, 0) == 16)
        #expect(TerminalArt.xterm256(255, 255, 255) == 231)
        #expect(TerminalArt.xterm256(255, 0, 0) == 196)
        // (100, 100, 100): the cube's (95, 95, 95) is 75 away (squared), grey 98 only 12.
        #expect(TerminalArt.xterm256(100, 100, 100) == 232 + 9)
        // (135, 175, 215) is exactly a cube colour: 16 + 36·2 + 6·3 + 4.
        #expect(TerminalArt.xterm256(135, 175, 215) == 110)
        // Nearest level, not v/51: 60 is 35 from 95 and 60 from 0, so level 1.
        #expect(TerminalArt.xterm256(60, 0, 0) == 16 + 36)
    }

    @Test func infernoEndsAndMiddle() {
        #expect(TerminalArt.inferno(0) == (0, 0, 4))
        #expect(TerminalArt.inferno(1) == (252, 255, 164))
        #expect(TerminalArt.inferno(0.5) == (186, 54, 85))
        #expect(TerminalArt.inferno(-3) == (0, 0, 4) && TerminalArt.inferno(7) == (252, 255, 164))
    }

    @Test func halfBlocksPairPixelRows() {
        // 2×4 image: rows red, green, blue, white → two rows of two cells.
        let rows: [[UInt8]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
        let img = RGBImage(width: 2, height: 4, pixels: rows.flatMap { $0 + $0 })
        let cells = TerminalArt.halfBlocks(img, columns: 2, rows: 2)
        #expect(cells.count == 2 && cells[0].count == 2)
        #expect(cells[0][0] == .init(top: [255, 0, 0], bottom: [0, 255, 0]))
        #expect(cells[1][1] == .init(top: [0, 0, 255], bottom: [255, 255, 255]))
    }

    @Test func overlayBlendsInRGBBeforeQuantising() {
        let img = RGBImage(width: 1, height: 1, pixels: [100, 100, 100])
        let o = TerminalArt.overlay(img, heat: Heatmap(width: 1, height: 1, values: [1]), alpha: 0.5)
        #expect(o.pixels == [176, 178, 132])   // ½·(252, 255, 164) + ½·100, rounded
    }

    @Test func asciiRampRunsDarkToLight() {
        #expect(TerminalArt.rampCharacter(0) == " " && TerminalArt.rampCharacter(1) == "@")
        #expect(TerminalArt.rampCharacter(0.5) == "=" || TerminalArt.rampCharacter(0.5) == "+")
        let img = RGBImage(width: 2, height: 2, pixels: [0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255])
        #expect(TerminalArt.ascii(img, columns: 2, rows: 1) == [" @"])
    }

    /// A cell shows one pixel column and two pixel rows, so a picture of
    /// `c` columns of a `w × h` image is `c·h / (2w)` rows, within the box.
    @Test func fitKeepsTheAspectRatioInsideTheBox() {
        #expect(TerminalArt.fit(width: 64, height: 64, columns: 16, rows: 8) == (16, 8))
        // 500 × 375 (4:3): 16 columns → 16·375/1000 = 6 rows.
        #expect(TerminalArt.fit(width: 500, height: 375, columns: 16, rows: 8) == (16, 6))
        #expect(TerminalArt.fit(width: 64, height: 48, columns: 16, rows: 8) == (16, 6))
        // 375 × 500: 16 columns would be 10.7 rows, so 8 rows and 8·2·0.75 = 12 columns.
        #expect(TerminalArt.fit(width: 375, height: 500, columns: 16, rows: 8) == (12, 8))
        // Extreme aspect ratios stay inside the box, at least one cell.
        #expect(TerminalArt.fit(width: 65535, height: 1, columns: 16, rows: 8) == (16, 1))
        #expect(TerminalArt.fit(width: 1, height: 65535, columns: 16, rows: 8) == (1, 8))
        #expect(TerminalArt.fit(width: 500, height: 375, columns: 0, rows: 0) == (1, 1))
    }

    @Test func nonSquarePicturesKeepTheirShape() {
        // 4 × 2 image: left half red, right half blue; heat 1 on the right half.
        let red: [UInt8] = [255, 0, 0], blue: [UInt8] = [0, 0, 255]
        let img = RGBImage(width: 4, height: 2, pixels: (0..<2).flatMap { _ in red + red + blue + blue })
        let heat = Heatmap(width: 4, height: 2, values: [0, 0, 1, 1, 0, 0, 1, 1])
        let o = TerminalArt.overlay(img, heat: heat, alpha: 1)
        #expect(o[0, 1] == (0, 0, 4) && o[3, 0] == (252, 255, 164))   // inferno(0), inferno(1)
        let size = TerminalArt.fit(width: 4, height: 2, columns: 4, rows: 4)
        #expect(size == (4, 1))
        let cells = TerminalArt.halfBlocks(img, columns: size.columns, rows: size.rows)
        #expect(cells.map(\.count) == [4])
        #expect(cells[0][0] == .init(top: red, bottom: red) && cells[0][3] == .init(top: blue, bottom: blue))
        let colored = TerminalArt.colored(heat: heat)
        #expect(colored.width == 4 && colored.height == 2 && colored[2, 1] == (252, 255, 164))
    }
}
