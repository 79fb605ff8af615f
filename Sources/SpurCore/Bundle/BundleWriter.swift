import Foundation

/// Everything a bundle holds, in memory (small bundles, tests, the
/// synthetic benchmark). Importers of large datasets stream instead.
public struct BundleContents: Sendable {
    public var manifest: BundleManifest
    public var examples: [Example]
    public var detections: [Detection]
    public var prompts: [String]
    public var pooled: Matrix              // [N, Dv]
    public var spatial: [Float]?           // [N, H, W, Dv] flattened
    public var spatialAsFloat16: Bool
    public var textPrompts: Matrix         // [P, Dt]
    public var heads: ProjectionHeads

    public init(manifest: BundleManifest, examples: [Example], detections: [Detection], prompts: [String],
                pooled: Matrix, spatial: [Float]?, spatialAsFloat16: Bool = true,
                textPrompts: Matrix, heads: ProjectionHeads) {
        self.manifest = manifest; self.examples = examples; self.detections = detections
        self.prompts = prompts; self.pooled = pooled; self.spatial = spatial
        self.spatialAsFloat16 = spatialAsFloat16; self.textPrompts = textPrompts; self.heads = heads
    }
}

/// Writes bundles so that a reader never sees half of one: the files go to a
/// hidden sibling directory, each written atomically, and the directory is
/// renamed into place last.
public enum BundleWriter {
    public static func write(_ c: BundleContents, to directory: String, overwrite: Bool = false) throws {
        try writeDirectory(directory, overwrite: overwrite) { staging in try writeContents(c, into: staging) }
    }

    /// The bundle's own files, into an existing directory (a staging one).
    public static func writeContents(_ c: BundleContents, into staging: String) throws {
        var manifest = c.manifest
        var tensors = ["image_pooled", "text_prompts", "W_v", "W_t", "logit_scale"]
        if c.spatial != nil { tensors.insert("image_spatial", at: 1) }
        manifest.tensors = tensors
        try manifest.write(to: staging + "/" + FeatureBundle.manifestFile)
        try writeExamples(c.examples, classes: manifest.classes, attributeOrder: manifest.attributes,
                          to: staging + "/" + FeatureBundle.examplesFile)
        if let name = manifest.detections {
            try DetectionsFile.write(DetectionTable(exampleCount: c.examples.count, detections: c.detections),
                                     vocabulary: manifest.attributes, to: staging + "/" + name)
        } else {
            try writeDetections(c.detections, examples: c.examples, vocabulary: manifest.attributes,
                                to: staging + "/" + FeatureBundle.attributesFile)
        }
        try CSVTable.write(header: ["prompt"], rows: c.prompts.map { [$0] }, to: staging + "/" + FeatureBundle.promptsFile)

        let n = c.examples.count, g = manifest.grid, d = manifest.dims
        var decl: [SafetensorsStreamWriter.Declaration] = [.init("image_pooled", .f32, [n, d.imageDim])]
        if c.spatial != nil {
            decl.append(.init("image_spatial", c.spatialAsFloat16 ? .f16 : .f32, [n, g.height, g.width, d.imageDim]))
        }
        decl += [.init("text_prompts", .f32, [c.textPrompts.rows, c.textPrompts.cols]),
                 .init("W_v", .f32, [c.heads.image.rows, c.heads.image.cols]),
                 .init("W_t", .f32, [c.heads.text.rows, c.heads.text.cols]),
                 .init("logit_scale", .f32, [])]
        let w = try SafetensorsStreamWriter(path: staging + "/" + FeatureBundle.featuresFile, tensors: decl,
                                            metadata: ["written_by": "spurscope"])
        try w.append(c.pooled.storage)
        if let s = c.spatial { try w.append(s) }
        try w.append(c.textPrompts.storage)
        try w.append(c.heads.image.storage)
        try w.append(c.heads.text.storage)
        try w.append([c.heads.logitScale])
        try w.finish()
    }

    /// Runs `body` on a fresh staging directory, then moves it to `directory`.
    public static func writeDirectory(_ directory: String, overwrite: Bool, _ body: (String) throws -> Void) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory) && !overwrite {
            throw InputError(file: directory, "already exists", remedy: .replaceExisting)
        }
        let parent = (directory as NSString).deletingLastPathComponent
        let name = (directory as NSString).lastPathComponent
        let base = parent.isEmpty ? "." : parent
        let staging = "\(base)/.\(name).partial-\(getpid())"
        try? fm.removeItem(atPath: staging)
        do {
            try fm.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: directory, "cannot create it: \(error.localizedDescription)")
        }
        do {
            try body(staging)
            let old = "\(base)/.\(name).old-\(getpid())"
            let replacing = fm.fileExists(atPath: directory)
            if replacing { try fm.moveItem(atPath: directory, toPath: old) }
            try fm.moveItem(atPath: staging, toPath: directory)
            if replacing { try? fm.removeItem(atPath: old) }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    /// Ground-truth columns follow `attributeOrder` (the vocabulary), then
    /// any other names alphabetically.
    public static func writeExamples(_ examples: [Example], classes: [String], attributeOrder: [String] = [],
                                     to path: String) throws {
        let present = Set(examples.flatMap { $0.attributes.keys })
        let attributeNames = attributeOrder.filter(present.contains) + present.subtracting(attributeOrder).sorted()
        let hasMask = examples.contains { $0.mask != nil }, hasBox = examples.contains { $0.bbox != nil }
        var header = ["id", "image", "label", "split"] + attributeNames.map { "attr:" + $0 }
        if hasMask { header.append("mask") }
        if hasBox { header.append("bbox") }
        let rows = examples.map { e -> [String] in
            var r = [e.id, e.image, classes[e.label], e.split.rawValue]
            r += attributeNames.map { e.attributes[$0].map(String.init) ?? "" }
            if hasMask { r.append(e.mask ?? "") }
            if hasBox { r.append(e.bbox.map { "\($0.x0) \($0.y0) \($0.x1) \($0.y1)" } ?? "") }
            return r
        }
        try CSVTable.write(header: header, rows: rows, to: path)
    }

    public static func writeDetections(_ detections: [Detection], examples: [Example], vocabulary: [String], to path: String) throws {
        try CSVTable.write(header: ["id", "attribute", "score"],
                           rows: detections.map { [examples[$0.example].id, vocabulary[$0.attribute], "\($0.score)"] },
                           to: path)
    }
}
