import Foundation
import SpurCore
import SpurEngine
import SpurReport
import SpurSnapshot

/// `spurscope report`'s cost: the sample bundle with a spurious verdict (so
/// the evidence grid and its Grad-CAM PNGs are drawn) and a generated
/// 100 k-example bundle (pooled features only: the audit and the page's
/// tables at scale). Times the whole thing, loading and audit included,
/// and measures what lands on disk.
enum ReportBenchmark {
    struct Row { var name: String; var examples: Int; var seconds: Double; var bytes: Int; var files: Int }

    static func measure(sample: String?, scratch: String) throws -> [Row] {
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var rows: [Row] = []
        if let sample {
            let ws = scratch + "/ws-sample"
            let workspace = try Workspace(bundle: sample, directory: ws)
            _ = try workspace.record(className: "waterbird", attribute: "land", verdict: .spurious)
            rows.append(try time(name: "sample bundle, 1 spurious verdict", bundle: sample, workspace: ws, out: scratch + "/out-sample"))
        }
        let big = scratch + "/bundle-100k"
        try generated(examples: 100_000, at: big)
        rows.append(try time(name: "generated, pooled only", bundle: big, workspace: scratch + "/ws-big", out: scratch + "/out-big"))
        return rows
    }

    static func time(name: String, bundle: String, workspace: String, out: String) throws -> Row {
        let start = Date()
        let model = try UIModel(bundle: bundle, workspace: workspace)
        let page = ReportPage(model: model, runs: try model.workspace.runs(), examplesPerGroup: 8, bundlePath: bundle,
                              version: "bench", bundleDigest: "bench")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try page.write(to: out)
        let seconds = Date().timeIntervalSince(start)
        var bytes = 0, files = 0
        for case let f as String in FileManager.default.enumerator(atPath: out)! {
            let attributes = try FileManager.default.attributesOfItem(atPath: out + "/" + f)
            if attributes[.type] as? FileAttributeType == .typeRegular { bytes += (attributes[.size] as? Int) ?? 0; files += 1 }
        }
        return Row(name: name, examples: model.bundle.examples.count, seconds: seconds, bytes: bytes, files: files)
    }

    static func generated(examples n: Int, at dir: String) throws {
        let (dv, dt, e) = (512, 256, 256)
        var rng = SeededGenerator(seed: 23, purpose: "bench-report-bundle")
        let classes = ["landbird", "waterbird"]
        let text = WordVectorTextEncoder(seed: 23, dim: dt)
        let splits: [Split] = [.train, .val, .test]
        let examples = (0..<n).map { i in
            Example(id: "r\(i)", image: "none.png", label: Int(rng.next() % 2), split: splits[Int(rng.next() % 3)],
                    attributes: ["water": Int(rng.next() % 2)])
        }
        let detections = examples.indices.flatMap { i -> [Detection] in
            let water = examples[i].attributes["water"]!
            return [Detection(example: i, attribute: 0, score: Float(water)), Detection(example: i, attribute: 1, score: Float(1 - water))]
        }
        let templates = Array(CLIPTemplates.imagenet80.prefix(8))
        let prompts = classes.flatMap { c in templates.map { FeatureBundle.fill($0, with: c) } }
        let contents = BundleContents(
            manifest: BundleManifest(model: "bench-report", textEncoder: text.descriptor,
                                     dims: .init(imageDim: dv, textDim: dt, embeddingDim: e), grid: .init(height: 1, width: 1),
                                     pooling: .mean, classes: classes, templates: templates,
                                     attributes: ["water", "land"], tensors: [], groups: ["water"]),
            examples: examples, detections: detections, prompts: prompts,
            pooled: rng.gaussianMatrix(rows: n, cols: dv), spatial: nil,
            textPrompts: text.encode(prompts),
            heads: ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv, std: 1 / Float(dv).squareRoot()),
                                   text: rng.gaussianMatrix(rows: e, cols: dt, std: 1 / Float(dt).squareRoot()),
                                   logitScale: logf(100)))
        try BundleWriter.write(contents, to: dir, overwrite: true)
    }
}
