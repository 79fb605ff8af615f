import Foundation

/// Training curves as hand-written SVG: one polyline per series with one
/// point per epoch (the test counts them), axes with ticks, the best epoch marked.
public enum CurveSVG {
    public struct Series {
        public var name: String
        public var colour: String
        public var values: [Double]
        public init(name: String, colour: String, values: [Double]) { self.name = name; self.colour = colour; self.values = values }
    }

    public static func render(series: [Series], epochs: [Int], best: Int?, title: String,
                              width: Double = 560, height: Double = 260) -> String {
        let left = 52.0, right = 16.0, top = 24.0, bottom = 40.0
        let plotW = width - left - right, plotH = height - top - bottom
        let all = series.flatMap(\.values).filter(\.isFinite)
        var lo = all.min() ?? 0, hi = all.max() ?? 1
        if hi - lo < 1e-9 { lo -= 0.5; hi += 0.5 }
        let firstEpoch = Double(epochs.first ?? 1), lastEpoch = Double(epochs.last ?? 1)
        let span = max(lastEpoch - firstEpoch, 1)
        func x(_ e: Double) -> Double { left + (epochs.count == 1 ? plotW / 2 : (e - firstEpoch) / span * plotW) }
        func y(_ v: Double) -> Double { top + (1 - (v - lo) / (hi - lo)) * plotH }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"curve\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n"
        s += "<title>\(HTML.escape(title))</title>\n"
        s += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top + plotH)\" x2=\"\(left + plotW)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>\n"
        s += "<line class=\"axis\" x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotH)\" stroke=\"#333\"/>\n"
        for i in 0...4 {
            let v = lo + (hi - lo) * Double(i) / 4
            s += "<text x=\"\(left - 6)\" y=\"\(fmt(y(v)) )\" font-size=\"10\" text-anchor=\"end\" dominant-baseline=\"middle\">\(String(format: "%.3g", v))</text>\n"
        }
        let tickStep = max(1, epochs.count / 10)
        for (i, e) in epochs.enumerated() where i % tickStep == 0 || i == epochs.count - 1 {
            s += "<text x=\"\(fmt(x(Double(e))))\" y=\"\(top + plotH + 14)\" font-size=\"10\" text-anchor=\"middle\">\(e)</text>\n"
        }
        s += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 6)\" font-size=\"11\" text-anchor=\"middle\">epoch</text>\n"
        if let b = best {
            s += "<line class=\"best\" x1=\"\(fmt(x(Double(b))))\" y1=\"\(top)\" x2=\"\(fmt(x(Double(b))))\" y2=\"\(top + plotH)\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
            // Right of the line unless that would leave the plot.
            let atRight = x(Double(b)) > left + plotW * 0.7
            s += "<text x=\"\(fmt(x(Double(b)) + (atRight ? -4 : 4)))\" y=\"\(top + 10)\" font-size=\"10\" text-anchor=\"\(atRight ? "end" : "start")\">best epoch \(b)</text>\n"
        }
        for (k, ser) in series.enumerated() {
            let points = zip(epochs, ser.values).map { epoch, value in
                fmt(x(Double(epoch))) + "," + fmt(y(value.isFinite ? value : lo))
            }
            s += "<polyline class=\"series\" data-series=\"\(HTML.escape(ser.name))\" fill=\"none\" stroke=\"\(ser.colour)\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
            s += "<text x=\"\(left + 8)\" y=\"\(top + 12 + Double(k) * 13)\" font-size=\"10\" fill=\"\(ser.colour)\">\(HTML.escape(ser.name))</text>\n"
        }
        return s + "</svg>\n"
    }

    public static func bars(_ items: [(label: String, before: Double?, after: Double?)], title: String) -> String {
        let rowH = 18.0, left = 170.0, plotW = 300.0
        let height = Double(items.count) * rowH * 2 + 30
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"bars\" width=\"\(Int(left + plotW + 60))\" height=\"\(Int(height))\" role=\"img\" aria-label=\"\(HTML.escape(title))\">\n<title>\(HTML.escape(title))</title>\n"
        for (i, item) in items.enumerated() {
            let y0 = 10 + Double(i) * rowH * 2
            s += "<text x=\"\(left - 6)\" y=\"\(fmt(y0 + rowH))\" font-size=\"10\" text-anchor=\"end\">\(HTML.escape(item.label))</text>\n"
            for (j, v) in [item.before, item.after].enumerated() {
                guard let v else { continue }
                let yy = y0 + Double(j) * rowH * 0.9
                s += "<rect x=\"\(left)\" y=\"\(fmt(yy))\" width=\"\(fmt(v * plotW))\" height=\"\(fmt(rowH * 0.8))\" fill=\"\(j == 0 ? "#9aa5b1" : "#c0392b")\"/>\n"
                s += "<text x=\"\(fmt(left + v * plotW + 4))\" y=\"\(fmt(yy + rowH * 0.6))\" font-size=\"10\">\(j == 0 ? "before" : "after") \(HTML.percent(v))</text>\n"
            }
        }
        return s + "</svg>\n"
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
}
