import Foundation
import SpurCore
import TOMLKit

/// Themes as TOML files (`themes/NAME.toml`): each UI role's colours and
/// emphasis, the heatmap colour map, and whether to use colour at all.
extension Theme {
    public static let roleNames = ["text", "dim", "header", "selection", "status_bar", "banner", "good", "bad", "accent"]

    /// Parses a theme; every problem names the file and the key.
    public static func parse(_ text: String, file: String) throws -> Theme {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            throw InputError(file: file, field: "line \(e.source.begin.line)", "is not valid TOML")
        }
        func style(_ role: String) throws -> Style {
            guard let roles = table["roles"]?.table else { throw InputError(file: file, field: "roles", "is missing") }
            guard let entry = roles[role] else { throw InputError(file: file, field: "roles.\(role)", "is missing") }
            guard let t = entry.table else { throw InputError(file: file, field: "roles.\(role)", "must be a table like { fg = \"#rrggbb\" }") }
            for key in t.keys where !["fg", "bg", "bold", "reverse"].contains(key) {
                throw InputError(file: file, field: "roles.\(role).\(key)", "is not a known key (fg, bg, bold, reverse)")
            }
            func color(_ key: String) throws -> Color {
                guard let v = t[key] else { return .terminalDefault }
                guard let s = v.string else { throw InputError(file: file, field: "roles.\(role).\(key)", "must be a string: \"default\" or \"#rrggbb\"") }
                if s == "default" { return .terminalDefault }
                guard s.count == 7, s.hasPrefix("#"), let n = UInt32(s.dropFirst(), radix: 16) else {
                    throw InputError(file: file, field: "roles.\(role).\(key)", "'\(s)' is not a colour (expected \"default\" or \"#rrggbb\")")
                }
                return .rgb(UInt8(n >> 16), UInt8((n >> 8) & 0xff), UInt8(n & 0xff))
            }
            func flag(_ key: String) throws -> Bool {
                guard let v = t[key] else { return false }
                guard let b = v.bool else { throw InputError(file: file, field: "roles.\(role).\(key)", "must be true or false") }
                return b
            }
            return Style(foreground: try color("fg"), background: try color("bg"), bold: try flag("bold"), reverse: try flag("reverse"))
        }
        let monochrome: Bool
        if let m = table["monochrome"] {
            guard let b = m.bool else { throw InputError(file: file, field: "monochrome", "must be true or false") }
            monochrome = b
        } else {
            monochrome = false
        }
        var heatmap = Heatmap.inferno
        if let h = table["heatmap"]?.table?["colormap"] {
            guard let name = h.string, let map = Heatmap(rawValue: name) else {
                throw InputError(file: file, field: "heatmap.colormap", "must be \"inferno\" or \"grey\"")
            }
            heatmap = map
        }
        return Theme(name: table["name"]?.string ?? (file as NSString).lastPathComponent,
                     text: try style("text"), dim: try style("dim"), header: try style("header"),
                     selection: try style("selection"), statusBar: try style("status_bar"), banner: try style("banner"),
                     good: try style("good"), bad: try style("bad"), accent: try style("accent"),
                     monochrome: monochrome, heatmap: heatmap)
    }

    public static func load(file: String) throws -> Theme {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw InputError(file: file, "cannot be read")
        }
        return try parse(text, file: file)
    }

    /// A theme by name or path: a `.toml` path as given, else `NAME.toml` in
    /// the theme directories; `dark` and `monochrome` also exist built in.
    public static func named(_ name: String, directories: [String]) throws -> Theme {
        if name.hasSuffix(".toml") { return try load(file: name) }
        for dir in directories {
            let path = (dir as NSString).appendingPathComponent("\(name).toml")
            if FileManager.default.fileExists(atPath: path) { return try load(file: path) }
        }
        switch name {
        case "dark": return .dark
        case "monochrome": return .monochrome
        default:
            throw SettingError("theme", "'\(name)' is not a theme (looked for \(name).toml in \(directories.joined(separator: ", ")))")
        }
    }
}

/// `~/.config/spurscope/config.toml` (or `$XDG_CONFIG_HOME/spurscope/…`):
/// settings a person wants every time, for now `theme = "NAME"`.
public enum UIConfig {
    public static var path: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CONFIG_HOME"] ?? ((env["HOME"] ?? NSHomeDirectory()) as NSString).appendingPathComponent(".config")
        return (base as NSString).appendingPathComponent("spurscope/config.toml")
    }

    /// The configured theme name, if the file exists and names one.
    public static func theme(at file: String = path) throws -> String? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let table: TOMLTable
        do { table = try TOMLTable(string: text) } catch let e as TOMLParseError {
            throw InputError(file: file, field: "line \(e.source.begin.line)", "is not valid TOML")
        }
        guard let v = table["theme"] else { return nil }
        guard let name = v.string else { throw InputError(file: file, field: "theme", "must be a string, the name of a theme") }
        return name
    }
}
