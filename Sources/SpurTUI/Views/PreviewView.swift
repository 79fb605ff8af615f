import Foundation
import SpurAudit
import SpurCore
import SpurEngine

// Screen 2: examples with and without the attribute, each with its heatmap.
extension Views {
    static func previewScreen(_ ui: UISnapshot, _ g: inout CellGrid, _ b: Box) {
        guard let pv = ui.preview else { return }
        let t = ui.theme, m = ui.model
        guard let row = pv.row else {
            g.text("Pick an attribute on the Attributes screen (1) first.", x: 1, y: b.y, style: t.dim)
            return
        }
        let attr = m.audit.attributes[row.attribute], cls = m.classes[row.classIndex]
        let (list, withCount, scores) = (pv.list.all, pv.list.withCount, pv.list.scores)
        var head: [(lead: String, text: String)] = [("", "\(cls) with '\(attr)' (\(withCount))"), (" ", "and without (\(list.count - withCount)), \(m.auditSettings.split?.rawValue ?? "all splits")")]
        if m.bundle.hasHeatmaps { head += [("   ", "c: map class"), ("   ", "v: \(pv.overlay ? "side by side" : "overlay")")] }
        g.text(Phrase.prefix(head, width: b.w - 2), x: 1, y: b.y, style: t.header, maxWidth: b.w - 2)
        let listWidth = 22
        // Column heads over the list, in the rows' own layout: with/without, id, pre-trained right?, detection score.
        let heads = "  " + TableLayout.fit("example", width: 10) + " " + (ui.ascii ? "ok" : "✓") + " " + "det."
        g.text(heads, x: 1, y: b.y + 1, style: t.dim, maxWidth: listWidth)
        let firstRow = b.y + 2, visible = b.h - 2
        let selected = min(pv.selected, max(0, list.count - 1))
        let top = ListWindow.top(selected: selected, count: list.count, visible: visible)
        for i in top..<min(list.count, top + visible) {
            let e = list[i]
            let ex = m.bundle.examples[e]
            let ok = m.auditedPredictions[e].map { $0 == ex.label }
            let mark = ok.map { $0 ? (ui.ascii ? "ok" : "✓") : (ui.ascii ? "no" : "✗") } ?? " "
            let score = scores[e].map { String(format: "%.2f", $0) } ?? "  – "
            let label = (i < withCount ? "+ " : "− ") + TableLayout.fit(ex.id, width: 10) + " " + mark + " " + score
            let style = i == selected ? t.selection : ok == false ? t.bad : (i < withCount ? t.text : t.dim)
            g.text(label, x: 1, y: firstRow + i - top, style: style, maxWidth: listWidth)
            g.targets[firstRow + i - top] = .row(i, 0..<(listWidth + 1))
            if i == selected { g.text("▶", x: 0, y: firstRow + i - top, style: t.selection) }
        }
        if let p = pv.current {
            drawPreview(p, ui: ui, overlay: pv.overlay, &g, x: listWidth + 2, y: b.y + 1, w: b.w - listWidth - 3, h: b.h - 1,
                        detection: scores[p.example])
        } else if !list.isEmpty {
            g.text("rendering…", x: listWidth + 2, y: b.y + 2, style: t.dim)
        }
    }

    /// The image and its heatmap: side by side (image | heatmap over image) or
    /// the overlay alone, as half blocks, or as the ASCII ramp on monochrome;
    /// a colour-scale legend below.
    static func drawPreview(_ p: Preview, ui: UISnapshot, overlay: Bool, _ g: inout CellGrid, x: Int, y: Int, w: Int, h: Int,
                            detection: Float? = nil, title: (side: String, model: String)? = nil) {
        let t = ui.theme, m = ui.model
        let ex = m.bundle.examples[p.example]
        // With a title (before / after), the caption is short: the example and label are in the list.
        // Whole phrases only, the prediction kept longest ("predicted water" would name an attribute).
        let maps = m.bundle.hasHeatmaps
        var phrases: [Phrase]
        if let title {
            // "A pre-trained", or just "A" when the model's name and its prediction do not both fit.
            let name = title.model.count + 3 + m.classes[p.predicted].count <= w ? title.model : title.side
            phrases = [Phrase(name, lead: "", priority: 0), Phrase("→ \(m.classes[p.predicted])", priority: 1),
                       Phrase("map \(m.classes[p.mapClass])", lead: ", ", priority: maps ? 3 : 9)]
        } else {
            let full = "\(ex.id): \(m.classes[ex.label]) → predicted \(m.classes[p.predicted])"
            phrases = full.count <= w ? [Phrase(full, lead: "", priority: 0)]
                : [Phrase("\(ex.id):", lead: "", priority: 2), Phrase("\(m.classes[ex.label]) → \(m.classes[p.predicted])", priority: 0)]
            phrases.append(Phrase("map of \(m.classes[p.mapClass])", lead: "; ", priority: maps ? 3 : 9))
            if let detection { phrases.append(Phrase(String(format: "detection %.2f", detection), lead: "; ", priority: 1)) }
        }
        g.text(Phrase.fit(phrases, width: w), x: x, y: y, style: p.predicted == ex.label ? t.good : t.bad, maxWidth: w)
        let map = t.heatmap
        let ascii = ui.ascii || t.monochrome
        // Each picture fits its share of the pane (below the caption, above
        // the legend, at most 32 columns by 16 rows), keeping the aspect ratio.
        let count = overlay ? 1 : 2
        let box = (columns: min(32, (w - 2 * (count - 1)) / count), rows: min(16, h - 3))
        guard box.columns >= 1 && box.rows >= 1 else { return }
        let size = TerminalArt.fit(width: p.image.width, height: p.image.height, columns: box.columns, rows: box.rows)
        // Image and heat are sampled to the picture's pixels (a column and two
        // rows per cell) before colouring and blending: the same sample points
        // as resampling afterwards, a few thousand colour-map lookups instead
        // of one per image pixel. α 0.45: the heat shows where the model looks
        // and the bird stays visible. Pictures are made lazily and cached.
        let small = (width: size.columns, height: 2 * size.rows)
        let image = { p.image.resized(width: small.width, height: small.height) }
        let heat = { Heatmap.bilinear(p.heat.values, gridWidth: p.heat.width, gridHeight: p.heat.height, width: small.width, height: small.height) }
        let pictures: [() -> RGBImage] = overlay ? [{ TerminalArt.overlay(image(), heat: heat(), alpha: 0.45, colormap: map.color) }]
            : [image, { TerminalArt.colored(heat: heat(), colormap: map.color) }]
        for (k, pic) in pictures.enumerated() {
            let px = x + k * (size.columns + 2)
            if ascii {
                let source = k == 1 ? TerminalArt.colored(heat: heat()) { v in
                    let c = UInt8(255 * v); return (c, c, c)
                } : pic()
                for (r, line) in TerminalArt.ascii(source, columns: size.columns, rows: size.rows).enumerated() {
                    g.text(line, x: px, y: y + 1 + r, style: t.text)
                }
            } else {
                let key = "\(p.id) \(overlay) \(k) \(size.columns)x\(size.rows) \(map.rawValue)"
                let blocks = ui.pictures.cells(key) { TerminalArt.halfBlocks(pic(), columns: size.columns, rows: size.rows) }
                for (r, cells) in blocks.enumerated() {
                    for (c, cell) in cells.enumerated() {
                        g[px + c, y + 1 + r] = Cell(character: "▀", style: Style(
                            foreground: .rgb(cell.top[0], cell.top[1], cell.top[2]),
                            background: .rgb(cell.bottom[0], cell.bottom[1], cell.bottom[2])))
                    }
                }
            }
        }
        // Legend: the colour scale from low to high Grad-CAM weight.
        let ly = y + 2 + size.rows
        guard m.bundle.hasHeatmaps else {
            // A blank map would read as "the model looks nowhere".
            g.text(Phrase.prefix([("", "no Grad-CAM:"), (" ", "the bundle has no spatial maps")], width: w), x: x, y: ly, style: t.dim)
            return
        }
        // "low", the ramp and "high" when they fit the pane (14 columns), else the ramp alone.
        let words = w >= 14
        let steps = words ? min(16, w - 10) : max(2, w)
        let rampX = words ? x + 4 : x
        if words { g.text("low", x: x, y: ly, style: t.dim) }
        for i in 0..<steps {
            let v = Float(i) / Float(steps - 1)
            if ascii {
                g[rampX + i, ly] = Cell(character: TerminalArt.rampCharacter(v), style: t.text)
            } else {
                let c = map.color(v)
                g[rampX + i, ly] = Cell(character: " ", style: Style(background: .rgb(c.0, c.1, c.2)))
            }
        }
        if words { g.text("high", x: rampX + steps + 1, y: ly, style: t.dim) }
        // Which map it is, where there is room: old ViT and ResNet bundles' maps are not Grad-CAM.
        if words, let method = HeatmapMethod.of(m.bundle) {
            let label = method.shortLabel, at = rampX + steps + 7
            if at + label.count <= x + w { g.text(label, x: at, y: ly, style: t.dim) }
        }
    }
}
