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
        let cells = TerminalArt.halfBlocks(img, columns: 2)
        #expect(cells.count == 2 && cells[0].count == 2)
        #expect(cells[0][0] == .init(top: [255, 0, 0], bottom: [0, 255, 0]))
        #expect(cells[1][1] == .init(top: [0, 0, 255], bottom: [255, 255, 255]))
    }

    @Test func overlayBlendsInRGBBeforeQuantising() {
        let img = RGBImage(width: 1, height: 1, pixels: [100, 100, 100])
        let o = TerminalArt.overlay(img, heat: [1], alpha: 0.5)
        #expect(o.pixels == [176, 178, 132])   // ½·(252, 255, 164) + ½·100, rounded
    }

    @Test func asciiRampRunsDarkToLight() {
        #expect(TerminalArt.rampCharacter(0) == " " && TerminalArt.rampCharacter(1) == "@")
        #expect(TerminalArt.rampCharacter(0.5) == "=" || TerminalArt.rampCharacter(0.5) == "+")
        let img = RGBImage(width: 2, height: 2, pixels: [0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255])
        #expect(TerminalArt.ascii(img, columns: 2) == [" @"])
    }
}
