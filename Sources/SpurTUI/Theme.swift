import Foundation
import SpurCore

/// Colours of the UI's roles and the heatmap colour map.
public struct Theme: Equatable, Sendable {
    public var name: String
    public var text: Style
    public var dim: Style
    public var header: Style
    public var selection: Style
    public var statusBar: Style
    public var banner: Style
    public var good: Style
    public var bad: Style
    public var accent: Style
    /// Whether colours are used at all (NO_COLOR, monochrome terminals).
    public var monochrome: Bool
    public var heatmap: Heatmap = .inferno

    /// Colour maps for Grad-CAM heatmaps.
    public enum Heatmap: String, Sendable {
        case inferno, grey
        public func color(_ t: Float) -> TerminalArt.RGB {
            switch self {
            case .inferno: return TerminalArt.inferno(t)
            case .grey: let v = UInt8((min(max(t, 0), 1) * 255).rounded()); return (v, v, v)
            }
        }
    }

    public static let dark = Theme(
        name: "dark",
        text: Style(), dim: Style(foreground: .rgb(128, 128, 128)),
        header: Style(foreground: .rgb(135, 175, 255), bold: true),
        selection: Style(foreground: .rgb(0, 0, 0), background: .rgb(135, 175, 215)),
        statusBar: Style(foreground: .rgb(255, 255, 255), background: .rgb(58, 58, 58)),
        banner: Style(foreground: .rgb(255, 255, 255), background: .rgb(175, 0, 0), bold: true),
        good: Style(foreground: .rgb(95, 215, 95)), bad: Style(foreground: .rgb(255, 95, 95)),
        accent: Style(foreground: .rgb(255, 215, 95)), monochrome: false)

    /// No colour at all: emphasis by bold and reverse video only.
    public static let monochrome = Theme(
        name: "monochrome", text: Style(), dim: Style(), header: Style(bold: true), selection: Style(reverse: true),
        statusBar: Style(reverse: true), banner: Style(bold: true, reverse: true), good: Style(), bad: Style(bold: true),
        accent: Style(bold: true), monochrome: true)
}
