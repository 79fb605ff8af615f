import Foundation
import SpurAudit
import SpurCore
import SpurEngine
import SpurTUI

/// Frame times of the terminal UI, without a terminal: building the cell
/// grid for the Attributes screen with 10,000 ranked rows, and for a preview
/// of a 224×224 image with its heatmap.
enum UIBenchmark {
    struct Result { var attributesMs: Double; var keyAndFrameMs: Double; var previewMs: Double; var newPreviewMs: Double; var frames: Int }

    static func measure(bundle: String, frames: Int = 50) throws -> Result {
        let ws = NSTemporaryDirectory() + "spurscope-bench-ui-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: ws) }
        // 10,000 attributes for class 0, with varied δ and supports.
        var rng = SeededGenerator(seed: 9, purpose: "bench-ui")
        let n = 10_000
        let rows = (0..<n).map { a -> DiscrepancyRow in
            let w = 10 + Int(rng.next() % 200), wo = 10 + Int(rng.next() % 200)
            return DiscrepancyRow(classIndex: 0, attribute: a, with: Proportion(successes: Int(rng.next() % UInt64(w)), total: w),
                                  without: Proportion(successes: Int(rng.next() % UInt64(wo)), total: wo), confusedClass: 1)
        }
        let auditedRows = try FeatureBundle.open(bundle).indices(in: .val)
        let audit = Audit.Result(table: DiscrepancyTable(rows: rows, classCount: 2, classTotals: [Proportion(successes: 1, total: 2), Proportion(successes: 1, total: 2)]),
                                 classes: ["landbird", "waterbird"], attributes: (0..<n).map { "attribute-\($0)" },
                                 rows: auditedRows, presence: AttributePresence(exampleCount: auditedRows.count, attributeCount: n,
                                                                                offsets: [Int](repeating: 0, count: auditedRows.count + 1), attributes: []))
        let model = try UIModel(bundle: bundle, workspace: ws, audit: audit)
        let app = App(model: model, theme: .dark, ascii: false)
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        var t: [Double] = []
        for _ in 0..<frames {
            let t0 = monotonicSeconds()
            _ = Views.render(app, width: 120, height: 40)
            t.append(monotonicSeconds() - t0)
        }
        var k: [Double] = []
        for i in 0..<frames {
            let t0 = monotonicSeconds()
            app.handle(i % 2 == 0 ? .down : .pageDown)
            _ = Views.render(app, width: 120, height: 40)
            k.append(monotonicSeconds() - t0)
        }
        // A 224×224 image and heatmap on the Preview screen.
        var pixels = [UInt8](repeating: 0, count: 224 * 224 * 3)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: (i &* 2654435761) >> 13) }
        var heat = [Float](repeating: 0, count: 224 * 224)
        for i in heat.indices { heat[i] = Float(i % 224 + i / 224) / 446 }
        app.handle(.character("1"))
        app.handle(.character("2"))
        func newPreview() -> Preview {
            Preview(example: model.valRows.first ?? 0, mapClass: 0, image: RGBImage(width: 224, height: 224, pixels: pixels),
                    heat: Heatmap(width: 224, height: 224, values: heat), predicted: 0)
        }
        // A preview just delivered: its picture is blended and resampled once.
        var q: [Double] = []
        for _ in 0..<frames {
            app.setPreview(newPreview())
            let t0 = monotonicSeconds()
            _ = Views.render(app, width: 120, height: 40)
            q.append(monotonicSeconds() - t0)
        }
        // Every later frame of the same preview (ten a second while a run trains) reuses it.
        app.setPreview(newPreview())
        var p: [Double] = []
        for _ in 0..<frames {
            let t0 = monotonicSeconds()
            _ = Views.render(app, width: 120, height: 40)
            p.append(monotonicSeconds() - t0)
        }
        return Result(attributesMs: 1000 * median(t), keyAndFrameMs: 1000 * median(k), previewMs: 1000 * median(p), newPreviewMs: 1000 * median(q), frames: frames)
    }
}
