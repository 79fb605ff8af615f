import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a feature bundle and list every problem found.",
        discussion: """
        Checks manifest.json, examples.csv, attributes.csv, prompts.csv and \
        features.safetensors against each other, scans every feature for NaN/Inf, \
        opens every image and mask file and reads its header (a regular file, PNG or \
        JPEG within the pixel limits, with its end marker; pixels are decoded by cam) and, for bundles with a Grad-CAM \
        tail, that cam_tail.safetensors forwarded from a few examples' image_tail_input \
        gives their image_pooled. Exits 0 only on a sound bundle, \
        2 otherwise, after listing all problems (not only the first).
        """)

    @Argument(help: "The bundle directory.")
    var bundle: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        var report = BundleCheck.run(directory: bundle, deep: true, images: true)
        if report.problems.isEmpty, let b = report.bundle {
            report.problems = try CAMTails.consistencyProblems(b)
        }
        if json {
            print(try JSONOutput.line(["bundle": bundle, "sound": report.problems.isEmpty,
                                       "problems": report.problems.map { TerminalText.escaped($0.description) }]))
        } else if report.problems.isEmpty, let b = report.bundle {
            print("\(bundle): sound — \(b.examples.count) examples, \(b.manifest.classes.count) classes, \(b.prompts.count) prompts, \(b.detectionTable.count) detections")
        } else {
            let err = FileHandle.standardError
            // Problems quote values from the bundle: shown, never obeyed by the terminal.
            for p in report.problems { err.write(Data("\(TerminalText.escaped(p.description))\n".utf8)) }
            err.write(Data("\(bundle): \(report.problems.count) problem\(report.problems.count == 1 ? "" : "s")\n".utf8))
        }
        if !report.problems.isEmpty { throw ExitCode(2) }
    }
}

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Summarise a feature bundle: model, dims, classes, splits and group counts.",
        discussion: """
        Group counts are shown per split for every ground-truth attribute the bundle \
        carries (columns attr:NAME of examples.csv), laid out like Table 1 of the paper.
        """)

    @Argument(help: "The bundle directory.")
    var bundle: String

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        let b = try FeatureBundle.openSummary(bundle)
        let m = b.manifest
        let t = b.exampleTable
        var splitCounts = [0, 0, 0]
        for s in t.splits { splitCounts[Int(s)] += 1 }
        let tables = b.groundTruthAttributes.map { GroupCounts(bundle: b, attribute: $0) }
        if json {
            var object: [String: Any] = [
                "bundle": bundle, "model": m.model, "text_encoder": m.textEncoder, "pooling": m.pooling.rawValue,
                "dims": ["Dv": m.dims.imageDim, "Dt": m.dims.textDim, "E": m.dims.embeddingDim],
                "grid": ["H": m.grid.height, "W": m.grid.width], "spatial_maps": b.hasSpatialMaps,
                "heatmaps": HeatmapMethod.of(b).map { $0 == .throughHead ? "through-head" : "grad-cam" } ?? "none",
                "grad_cam_layer": HeatmapMethod.of(b).flatMap { if case .gradCAM(let layer) = $0 { layer } else { nil } } ?? NSNull(),
                "classes": m.classes, "templates": m.templates.count, "prompts": b.prompts.count,
                "attribute_vocabulary": m.attributes.count, "detections": b.detectionCount,
                "detections_file": m.detections ?? FeatureBundle.attributesFile, "detection_threshold": m.presenceThreshold,
                "examples": Dictionary(uniqueKeysWithValues: zip(Split.allCases.map(\.rawValue), splitCounts)),
            ]
            object["groups"] = Dictionary(uniqueKeysWithValues: tables.map { t in
                (t.attribute, t.rows.map { r in ["class": r.className, "value": r.value,
                                                 "train": r.counts[0], "val": r.counts[1], "test": r.counts[2]] as [String: Any] })
            })
            print(try JSONOutput.line(object))
            return
        }
        print("bundle      \(bundle)")
        print("model       \(m.model) (text encoder \(m.textEncoder), \(m.pooling.rawValue) pooling)")
        print("dims        Dv \(m.dims.imageDim), Dt \(m.dims.textDim), E \(m.dims.embeddingDim); grid \(m.grid.height)×\(m.grid.width)")
        switch HeatmapMethod.of(b) {
        case .gradCAM(let layer)?: print("heatmaps    Grad-CAM at \(layer)" + (m.camTail != nil ? " (from the cached tail input)" : ""))
        case .throughHead?: print("heatmaps    image_spatial read through the head (not Grad-CAM: the bundle has no cam_tail)")
        case nil: print("heatmaps    none (no image_spatial, no cam_tail)")
        }
        print("classes     \(m.classes.count): \(m.classes.joined(separator: ", "))")
        print("examples    \(t.count): train \(splitCounts[0]), val \(splitCounts[1]), test \(splitCounts[2])")
        print("prompts     \(b.prompts.count) (\(m.templates.count) templates)")
        print("attributes  vocabulary \(m.attributes.count), detections \(b.detectionCount) (\(m.detections ?? FeatureBundle.attributesFile)), present at score ≥ \(m.presenceThreshold)\(m.detectionThreshold == nil ? " (default)" : "")")
        for t in tables {
            print("")
            print(t.rendered())
        }
    }
}

/// Examples per (class, attribute value) and split: the paper's Table 1.
struct GroupCounts {
    struct Row { var className: String; var value: Int; var counts: [Int] }
    var attribute: String
    var rows: [Row]

    init(bundle b: FeatureBundle, attribute: String) {
        self.attribute = attribute
        let t = b.exampleTable
        let classes = b.manifest.classes.count, column = t.attributeNames.firstIndex(of: attribute)
        // counts[(class · 2 + value) · 3 + split], one pass over the columns.
        var counts = [Int](repeating: 0, count: classes * 2 * 3)
        if let column {
            let width = t.attributeNames.count
            for i in 0..<t.count {
                let v = t.attributeValues[i * width + column]
                if v >= 0 { counts[(Int(t.labels[i]) * 2 + Int(v)) * 3 + Int(t.splits[i])] += 1 }
            }
        }
        var rows: [Row] = []
        for (c, name) in b.manifest.classes.enumerated() {
            for v in [0, 1] {
                rows.append(Row(className: name, value: v, counts: Array(counts[(c * 2 + v) * 3 ..< (c * 2 + v) * 3 + 3])))
            }
        }
        self.rows = rows
    }

    func rendered() -> String {
        let labels = rows.map { "\($0.className), \($0.value == 1 ? "" : "no ")\(attribute)" }
        let width = max(labels.map(\.count).max() ?? 0, "group".count)
        var lines = ["group counts by ground-truth '\(attribute)'",
                     "group".padding(toLength: width, withPad: " ", startingAt: 0) + "    train      val     test"]
        for (label, r) in zip(labels, rows) {
            lines.append(label.padding(toLength: width, withPad: " ", startingAt: 0)
                         + r.counts.map { String(format: " %8d", $0) }.joined())
        }
        return lines.joined(separator: "\n")
    }
}
