import Foundation

/// Builds bundles from what users have: the WILDS Waterbirds layout, or
/// generic exported tensors with an `examples.csv`. Either way the result is
/// checked like any bundle before it is moved into place, so an import
/// either yields a sound bundle or changes nothing.
public enum BundleImport {

    /// What every importer needs besides its examples.
    public struct Common: Sendable {
        public var features: String        // safetensors with image_pooled, text_prompts, W_v, W_t, logit_scale
        public var prompts: String         // CSV with a `prompt` column, one row per text_prompts row
        public var templates: [String]
        public var model: String?
        public var textEncoder: String?
        /// Nil: the source bundle's (when the examples come from one), else mean.
        public var pooling: BundleManifest.Pooling?
        public var overwrite: Bool

        public init(features: String, prompts: String, templates: [String] = CLIPTemplates.imagenet80,
                    model: String? = nil, textEncoder: String? = nil, pooling: BundleManifest.Pooling? = nil,
                    overwrite: Bool = false) {
            self.features = features; self.prompts = prompts; self.templates = templates
            self.model = model; self.textEncoder = textEncoder; self.pooling = pooling; self.overwrite = overwrite
        }
    }

    // MARK: WILDS Waterbirds

    public static let waterbirdClasses = ["landbird", "waterbird"]

    /// `metadata.csv` of WILDS Waterbirds: `img_id, img_filename, y, split, place`
    /// (y 1 = waterbird; split 0/1/2 = train/val/test; place 0 land, 1 water).
    /// Feature rows follow the metadata rows. Detections are the ground-truth
    /// backgrounds `water` / `land` (score 1 or 0); masks, when given, are the
    /// CUB segmentations `MASKS/<img_filename as .png>`.
    public static func waterbirds(metadata: String, images: String, masks: String?, common: Common,
                                  out: String) throws -> FeatureBundle {
        let t = try CSVTable(path: metadata)
        let idCol = try t.requireColumn("img_id"), fileCol = try t.requireColumn("img_filename")
        let yCol = try t.requireColumn("y"), splitCol = try t.requireColumn("split")
        let placeCol = try t.requireColumn("place")
        func code(_ r: Int, _ c: Int, _ name: String, _ allowed: ClosedRange<Int>) throws -> Int {
            let text = t.value(r, c)
            guard let v = Int(text), allowed.contains(v) else {
                throw InputError(file: metadata, field: "line \(t.line(r)), column \(name)",
                                 "'\(text)' is not one of \(allowed.map(String.init).joined(separator: ", "))")
            }
            return v
        }
        var examples: [Example] = []
        var detections: [Detection] = []
        let imageRoot = absolute(images)
        let maskRoot = masks.map(absolute)
        for r in t.rows.indices {
            let y = try code(r, yCol, "y", 0...1)
            let split = [Split.train, .val, .test][try code(r, splitCol, "split", 0...2)]
            let place = try code(r, placeCol, "place", 0...1)
            let file = t.value(r, fileCol)
            let mask = maskRoot.map { ($0 as NSString).appendingPathComponent((file as NSString).deletingPathExtension + ".png") }
            examples.append(Example(id: t.value(r, idCol), image: (imageRoot as NSString).appendingPathComponent(file),
                                    label: y, split: split, attributes: ["water": place], mask: mask))
            detections.append(Detection(example: r, attribute: 0, score: Float(place)))
            detections.append(Detection(example: r, attribute: 1, score: Float(1 - place)))
        }
        return try assemble(examples: examples, detections: detections, classes: waterbirdClasses,
                            attributes: ["water", "land"], groups: ["water"], common: common,
                            sources: [FeatureBundle.examplesFile: metadata], out: out)
    }

    // MARK: Generic tensors

    /// A bundle from an `examples.csv` in bundle format (image and mask paths
    /// relative to that file are made absolute), an optional `attributes.csv`
    /// (`id, attribute, score`), and exported tensors. Classes default to the
    /// labels in order of first appearance.
    public static func tensors(examples examplesPath: String, attributes attributesPath: String?,
                               classes given: [String]?, common: Common, out: String) throws -> FeatureBundle {
        let t = try CSVTable(path: examplesPath)
        let labelCol = try t.requireColumn("label")
        var classes = given ?? []
        if given == nil {
            for r in t.rows.indices where !classes.contains(t.value(r, labelCol)) { classes.append(t.value(r, labelCol)) }
        }
        var problems: [InputError] = []
        let parsed = try BundleCheck.parseExamples(t, classes: classes, into: &problems)
        if let first = problems.first { throw first }
        let base = (absolute(examplesPath) as NSString).deletingLastPathComponent
        func resolve(_ p: String) -> String { p.hasPrefix("/") ? p : (base as NSString).appendingPathComponent(p) }
        let examples = parsed.examples.map { e -> Example in
            var e = e
            e.image = resolve(e.image)
            e.mask = e.mask.map(resolve)
            return e
        }
        // Examples read from a bundle: what the import is not told to change
        // comes along (issue 24), or the new bundle would silently differ.
        let source = BundleSource(directory: base)
        var vocabulary: [String] = []
        var detections: [Detection] = []
        if attributesPath == nil, let table = try source?.binaryDetections(exampleCount: examples.count) {
            vocabulary = source!.manifest.attributes
            detections = table.detections
        }
        if let attributesPath {
            let a = try CSVTable(path: attributesPath)
            let nameCol = try a.requireColumn("attribute")
            for r in a.rows.indices where !vocabulary.contains(a.value(r, nameCol)) { vocabulary.append(a.value(r, nameCol)) }
            detections = try BundleCheck.parseDetections(a, examples: examples, vocabulary: vocabulary, into: &problems)
            if let first = problems.first { throw first }
        }
        return try assemble(examples: examples, detections: detections, classes: classes,
                            attributes: vocabulary, common: common, source: source,
                            binaryDetections: attributesPath == nil && source?.manifest.detections != nil,
                            sources: [FeatureBundle.examplesFile: examplesPath,
                                      FeatureBundle.attributesFile: attributesPath ?? FeatureBundle.attributesFile],
                            out: out)
    }

    // MARK: shared

    static func absolute(_ p: String) -> String {
        p.hasPrefix("/") ? p : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(p)
    }

    /// Writes the bundle next to `out`, checks it (deep), then moves it into place.
    ///
    /// `sources` maps bundle files to the user's inputs they came from, so a
    /// problem found in the staged bundle names the file the user can fix
    /// (rows keep their order, so line numbers carry over).
    static func assemble(examples: [Example], detections: [Detection], classes: [String], attributes: [String],
                         groups: [String]? = nil, common: Common, source: BundleSource? = nil, binaryDetections: Bool = false,
                         sources: [String: String], out: String) throws -> FeatureBundle {
        let features = try SafetensorsFile(path: common.features)
        let pooled = try features.checkedInfo("image_pooled", shape: [examples.count, nil], floating: true)
        let text = try features.checkedInfo("text_prompts", shape: [nil, nil], floating: true)
        let wv = try features.checkedInfo("W_v", shape: [nil, pooled.shape[1]], floating: true)
        _ = try features.checkedInfo("W_t", shape: [wv.shape[0], text.shape[1]], floating: true)
        _ = try features.checkedInfo("logit_scale", floating: true)
        var tensors = BundleManifest.requiredTensors
        var grid = BundleManifest.Grid(height: 1, width: 1)
        if let s = features.tensors["image_spatial"] {
            _ = try features.checkedInfo("image_spatial", shape: [examples.count, nil, nil, pooled.shape[1]], floating: true)
            grid = .init(height: s.shape[1], width: s.shape[2])
            tensors.insert("image_spatial", at: 1)
        }
        // A Grad-CAM tail comes with its input, from the bundle the examples are in.
        var camTail: CAMTailRecord?
        if features.tensors[CAMTailFile.inputTensor] != nil, let source, let record = source.manifest.camTail,
           FileManager.default.fileExists(atPath: source.path(CAMTailFile.name)) {
            camTail = record
            grid = source.manifest.grid
            tensors.insert(CAMTailFile.inputTensor, at: 1)
        }
        let prompts = try CSVTable(path: common.prompts)
        let promptCol = try prompts.requireColumn("prompt")
        guard prompts.rows.count == text.shape[0] else {
            throw InputError(file: common.prompts, "has \(prompts.rows.count) prompts but tensor 'text_prompts' of \(common.features) has \(text.shape[0]) rows")
        }
        let model = common.model ?? features.metadata["model"] ?? "unknown"
        let manifest = BundleManifest(
            model: model, textEncoder: common.textEncoder ?? features.metadata["text_encoder"] ?? model,
            dims: .init(imageDim: pooled.shape[1], textDim: text.shape[1], embeddingDim: wv.shape[0]),
            grid: grid, pooling: common.pooling ?? source?.manifest.pooling ?? .mean, classes: classes, templates: common.templates,
            attributes: attributes, tensors: tensors, groups: groups ?? source?.manifest.groups,
            detections: binaryDetections ? DetectionsFile.defaultName : nil,
            detectionThreshold: source?.manifest.detectionThreshold,
            textCheckpoint: source?.textCheckpoint, camTail: camTail)

        var checkProblems: [InputError] = []
        try BundleWriter.writeDirectory(out, overwrite: common.overwrite) { staging in
            try manifest.write(to: staging + "/" + FeatureBundle.manifestFile)
            try BundleWriter.writeExamples(examples, classes: classes, attributeOrder: attributes,
                                           to: staging + "/" + FeatureBundle.examplesFile)
            try BundleWriter.writeDetections(detections, examples: examples, vocabulary: attributes,
                                             to: staging + "/" + FeatureBundle.attributesFile)
            try CSVTable.write(header: ["prompt"], rows: prompts.rows.indices.map { [prompts.value($0, promptCol)] },
                               to: staging + "/" + FeatureBundle.promptsFile)
            try FileManager.default.copyItem(atPath: common.features, toPath: staging + "/" + FeatureBundle.featuresFile)
            if let name = manifest.detections {
                try DetectionsFile.write(DetectionTable(exampleCount: examples.count, detections: detections), vocabulary: attributes,
                                         to: staging + "/" + name)
            }
            if camTail != nil, let source {
                try FileManager.default.copyItem(atPath: source.path(CAMTailFile.name), toPath: staging + "/" + CAMTailFile.name)
            }
            checkProblems = BundleCheck.run(directory: staging, deep: true).problems
            if let first = checkProblems.first {
                // Name the user's inputs, not the staging directory about to vanish.
                var e = first
                let name = e.file.replacingOccurrences(of: staging + "/", with: "")
                e.file = (sources.merging([FeatureBundle.featuresFile: common.features]) { a, _ in a })[name] ?? name
                if checkProblems.count > 1 { e.problem += " (and \(checkProblems.count - 1) more problems)" }
                throw e
            }
        }
        return try FeatureBundle.open(out)
    }
}

/// The bundle an import's `examples.csv` sits in, if it does: its manifest,
/// whose fields the import carries over unless told otherwise.
public struct BundleSource: Sendable {
    public let directory: String
    public let manifest: BundleManifest

    init?(directory: String) {
        let path = (directory as NSString).appendingPathComponent(FeatureBundle.manifestFile)
        guard FileManager.default.fileExists(atPath: path), let m = try? BundleManifest.read(path: path) else { return nil }
        self.directory = directory
        manifest = m
    }

    func path(_ file: String) -> String { (directory as NSString).appendingPathComponent(file) }

    /// The text checkpoint with its path made absolute: the new bundle is elsewhere.
    var textCheckpoint: TextCheckpointRecord? {
        guard var r = manifest.textCheckpoint else { return nil }
        if !r.path.hasPrefix("/") { r.path = path(r.path) }
        if let v = r.vocabulary, !v.hasPrefix("/") { r.vocabulary = path(v) }
        return r
    }

    /// The source's binary detections, when it keeps them there (rows are
    /// the examples', in the same order as its examples.csv).
    func binaryDetections(exampleCount: Int) throws -> DetectionTable? {
        guard let name = manifest.detections else { return nil }
        return try DetectionsFile.read(path: path(name), exampleCount: exampleCount, vocabulary: manifest.attributes)
    }
}

