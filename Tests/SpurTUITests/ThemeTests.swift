import Foundation
import Testing
import SpurCore
@testable import SpurTUI

struct ThemeTests {
    static let themes = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("themes").path

    @Test(arguments: ["dark", "light", "high-contrast", "monochrome"])
    func shippedThemesParse(_ name: String) throws {
        let t = try Theme.named(name, directories: [Self.themes])
        #expect(t.name == name)
        #expect(t.monochrome == (name == "monochrome"))
        #expect(t.heatmap == (name == "monochrome" ? .grey : .inferno))
    }

    @Test func darkFileMatchesTheBuiltInDark() throws {
        let file = try Theme.named("dark", directories: [Self.themes])
        #expect(file == Theme.dark)
    }

    static let good = """
    [roles]
    text = {}
    dim = {}
    header = { fg = "#87afff", bold = true }
    selection = { reverse = true }
    status_bar = {}
    banner = {}
    good = {}
    bad = {}
    accent = {}
    """

    @Test(arguments: [
        ("header = { fg = \"#87afff\", bold = true }", "header = { fg = \"#87afzz\" }", "roles.header.fg: '#87afzz' is not a colour (expected \"default\" or \"#rrggbb\")"),
        ("header = { fg = \"#87afff\", bold = true }", "header = { fg = \"#87afff\", bold = \"yes\" }", "roles.header.bold: must be true or false"),
        ("header = { fg = \"#87afff\", bold = true }", "header = { colour = \"#87afff\" }", "roles.header.colour: is not a known key (fg, bg, bold, reverse)"),
        ("accent = {}", "", "roles.accent: is missing"),
        ("selection = { reverse = true }", "selection = [1, 2", "line 6: is not valid TOML"),
    ])
    func malformedThemeNamesTheKey(_ replace: (String, String, String)) throws {
        let text = Self.good.replacingOccurrences(of: replace.0, with: replace.1)
        #expect(throws: InputError.self) { try Theme.parse(text, file: "t.toml") }
        do { _ = try Theme.parse(text, file: "t.toml") } catch let e as InputError {
            #expect(e.description == "t.toml: " + replace.2)
        }
    }

    @Test func configFileNamesTheTheme() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "theme = \"light\"\n".write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        #expect(try UIConfig.theme(at: dir + "/config.toml") == "light")
        #expect(try UIConfig.theme(at: dir + "/absent.toml") == nil)
        try "theme = 3\n".write(toFile: dir + "/bad.toml", atomically: true, encoding: .utf8)
        #expect(throws: InputError(file: dir + "/bad.toml", field: "theme", "must be a string, the name of a theme")) {
            try UIConfig.theme(at: dir + "/bad.toml")
        }
    }
}
