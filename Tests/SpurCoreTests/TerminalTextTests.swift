import Foundation
import Testing
@testable import SpurCore

/// Issue 25: text from data never acts on a terminal.
struct TerminalTextTests {
    @Test func controlCharactersBecomeVisibleEscapes() {
        #expect(TerminalText.escaped("plain — ünïcode 水") == "plain — ünïcode 水")
        #expect(TerminalText.escaped("a\u{1B}]0;owned\u{07}b") == "a\\u{1B}]0;owned\\u{7}b")
        #expect(TerminalText.escaped("line\nnext\r") == "line\\u{A}next\\u{D}")
        #expect(TerminalText.escaped("\u{202E}reversed") == "\\u{202E}reversed")
        #expect(TerminalText.escaped("\u{9B}31m") == "\\u{9B}31m")   // C1 CSI
    }

    @Test func typedTextWithAControlCharacterIsRefusedWithItsPosition() throws {
        #expect(throws: SettingError("note", "holds the control character U+001B at position 4: text here is one line of printable characters")) {
            try TerminalText.check("abc\u{1B}[31m", setting: "note")
        }
        try TerminalText.check("on a misty lake", setting: "phrasePresent")
    }

    @Test func theWorkspaceStoresNoControlCharacter() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("terminal-text-\(UUID())").path
        let ws = try Workspace(path: dir + "/workspace.sqlite")
        for (note, present) in [("x\u{1B}]52;c;ZXZpbA==\u{07}", "with water"), ("fine", "two\nlines")] {
            #expect(throws: SettingError.self) {
                try ws.record(className: "landbird", attribute: "water", verdict: .spurious, note: note, phrasePresent: present)
            }
        }
        #expect(try ws.currentDecisions().isEmpty)
    }
}
