import Foundation
import Synchronization

public enum Split: String, CaseIterable, Sendable, Codable {
    case train, val, test
}

/// A box in image pixels, `x0 y0 x1 y1` in `examples.csv`.
public struct BoundingBox: Equatable, Sendable {
    public var x0, y0, x1, y1: Float
    public init(x0: Float, y0: Float, x1: Float, y1: Float) {
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
    }
}

/// One row of `examples.csv`; its position is its row in every tensor.
public struct Example: Equatable, Sendable {
    public var id: String
    /// The image path as written: relative to the bundle, or absolute.
    public var image: String
    public var label: Int
    public var split: Split
    /// Ground-truth attribute values from `attr:NAME` columns (1 present,
    /// 0 absent); a blank cell leaves the attribute out.
    public var attributes: [String: Int]
    public var mask: String?
    public var bbox: BoundingBox?

    public init(id: String, image: String, label: Int, split: Split, attributes: [String: Int] = [:],
                mask: String? = nil, bbox: BoundingBox? = nil) {
        self.id = id; self.image = image; self.label = label; self.split = split
        self.attributes = attributes; self.mask = mask; self.bbox = bbox
    }
}

/// One row of `attributes.csv`: a detector's score for an attribute in an example.
public struct Detection: Equatable, Sendable {
    public var example: Int
    public var attribute: Int
    public var score: Float
    public init(example: Int, attribute: Int, score: Float) {
        self.example = example; self.attribute = attribute; self.score = score
    }
}

/// A feature bundle on disk (DESIGN.md "Feature bundle"), opened: the
/// manifest and CSVs parsed and checked, `features.safetensors` mapped with
/// only its header read. Tensors are read when asked for, so opening a
/// bundle with gigabytes of spatial maps costs almost nothing.
public final class FeatureBundle: @unchecked Sendable {
    // @unchecked: every stored property is immutable after `open`.
    public static let manifestFile = "manifest.json"
    public static let examplesFile = "examples.csv"
    public static let attributesFile = "attributes.csv"
    public static let promptsFile = "prompts.csv"
    public static let featuresFile = "features.safetensors"

    public let directory: String
    public let manifest: BundleManifest
    /// `examples.csv` by column (from the examples cache when it is current).
    public let exampleTable: ExampleTable
    /// The rows as values, made from `exampleTable` on first use (an
    /// ImageNet-size table is 1.28 M of them: callers that only need labels
    /// and splits read `exampleTable`).
    public var examples: [Example] {
        if let known = materialised.withLock({ $0 }) { return known }
        let made = exampleTable.examples
        materialised.withLock { $0 = made }
        return made
    }
    private let materialised: Mutex<[Example]?>
    /// From the manifest's binary detections file, else `attributes.csv`
    /// (empty in a bundle opened for a summary: see `detectionCount`).
    public let detectionTable: DetectionTable
    /// How many detections the bundle holds, also when opened for a summary.
    public let detectionCount: Int
    /// False when opened with `openSummary`: detections were counted, not read.
    public let detectionsRead: Bool
    /// The detections one by one (materialised from `detectionTable` on
    /// every call: fine for small bundles, large ones use the table).
    public var detections: [Detection] { detectionTable.detections }
    /// The text of each row of `text_prompts`.
    public let prompts: [String]
    public let features: SafetensorsFile
    /// Names of the ground-truth attributes `examples.csv` carries.
    public var groundTruthAttributes: [String] { exampleTable.attributeNames }

    init(directory: String, manifest: BundleManifest, exampleTable: ExampleTable, examples: [Example]?,
         detections: DetectionTable, detectionCount: Int, detectionsRead: Bool,
         prompts: [String], features: SafetensorsFile) {
        self.directory = directory
        self.manifest = manifest
        self.exampleTable = exampleTable
        materialised = Mutex(examples)
        self.detectionTable = detections
        self.detectionCount = detectionCount
        self.detectionsRead = detectionsRead
        self.prompts = prompts
        self.features = features
    }

    /// Opens a bundle after the structural checks of `BundleCheck`; the
    /// first problem is thrown, with a pointer to `spurscope validate` when
    /// there are more.
    public static func open(_ directory: String) throws -> FeatureBundle {
        try open(directory, summary: false)
    }

    /// Opens a bundle for a summary (`info`): as `open`, but detections are
    /// only counted, so `detectionTable` is empty.
    public static func openSummary(_ directory: String) throws -> FeatureBundle {
        try open(directory, summary: true)
    }

    /// The manifest of a bundle directory, checked, and nothing else: for
    /// commands that need no example, prompt or feature (`mark`, `decisions`).
    public static func openManifest(_ directory: String) throws -> BundleManifest {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            throw InputError(file: directory, "is not a bundle directory (it does not exist or is a file)")
        }
        let file = (directory as NSString).appendingPathComponent(manifestFile)
        let manifest = try BundleManifest.read(path: file)
        var problems: [InputError] = []
        BundleCheck.checkManifest(manifest, path: file, into: &problems)
        if let first = problems.first { throw first }
        return manifest
    }

    private static func open(_ directory: String, summary: Bool) throws -> FeatureBundle {
        let report = BundleCheck.run(directory: directory, deep: false, summary: summary)
        if var first = report.problems.first {
            if report.problems.count > 1 {
                first.problem += " (and \(report.problems.count - 1) more problems: run `spurscope validate \(directory)`)"
            }
            throw first
        }
        return report.bundle!
    }

    public func path(_ file: String) -> String { (directory as NSString).appendingPathComponent(file) }

    /// An image or mask path from `examples.csv`, resolved against the bundle.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : self.path(path)
    }

    /// The attributes that define the benchmark's groups: the manifest's
    /// `groups`, or else the first ground-truth column.
    public var groupAttributes: [String] {
        if let g = manifest.groups, !g.isEmpty { return g }
        return groundTruthAttributes.first.map { [$0] } ?? []
    }

    public var hasSpatialMaps: Bool { features.tensors["image_spatial"] != nil }

    /// Whether heatmaps can be drawn: from the Grad-CAM tail, or else from
    /// `image_spatial` through the head.
    public var hasHeatmaps: Bool { manifest.camTail != nil || hasSpatialMaps }

    /// One example's input to the Grad-CAM tail, `[T, D]` (checked against
    /// `cam_tail.safetensors` when the bundle opened).
    public func tailInput(example index: Int) throws -> Matrix {
        let t = try features.info(CAMTailFile.inputTensor)
        let rows = t.shape[1], d = t.shape[2]
        let values = try features.floats(t, elements: index * rows * d ..< (index + 1) * rows * d)
        try checkFinite(values, tensor: CAMTailFile.inputTensor, rowLength: values.count, firstRow: index)
        return Matrix(rows: rows, cols: d, storage: values)
    }

    /// `cam_tail.safetensors`, mapped (its shapes were checked on open).
    public func camTailWeights() throws -> SafetensorsFile {
        try SafetensorsFile(path: path(CAMTailFile.name))
    }

    public func indices(in split: Split) -> [Int] { exampleTable.indices(in: split) }

    /// `image_pooled`, `[N, Dv]`.
    public func pooledFeatures() throws -> Matrix { try features.matrix("image_pooled") }

    /// Pooled features of some examples only, read row by row from the map.
    public func pooledFeatures(rows: [Int]) throws -> Matrix {
        let t = try features.info("image_pooled")
        let d = t.shape[1]
        var out = Matrix(rows: rows.count, cols: d)
        for (i, r) in rows.enumerated() {
            let values = try features.floats(t, elements: r * d ..< (r + 1) * d)
            try checkFinite(values, tensor: "image_pooled", rowLength: d, firstRow: r)
            out.storage.replaceSubrange(i * d ..< (i + 1) * d, with: values)
        }
        return out
    }

    /// One example's spatial map as `[H·W, Dv]` (row `h·W + w`), read from
    /// the mapped file without touching other examples.
    public func spatialMap(example index: Int) throws -> Matrix {
        let t = try features.info("image_spatial")
        let cells = manifest.grid.height * manifest.grid.width
        let d = manifest.dims.imageDim
        let values = try features.floats(t, elements: index * cells * d ..< (index + 1) * cells * d)
        try checkFinite(values, tensor: "image_spatial", rowLength: values.count, firstRow: index)
        return Matrix(rows: cells, cols: d, storage: values)
    }

    /// `text_prompts`, `[P, Dt]`, row `i` encoding `prompts[i]`.
    public func promptFeatures() throws -> Matrix { try features.matrix("text_prompts") }

    /// The row of `text_prompts` for a prompt text, if the bundle encoded it.
    public func promptRow(_ text: String) -> Int? {
        // Built on first use: an ImageNet bundle has 80,000 prompts, and `info` looks none up.
        promptIndex.withLock { index in
            if index == nil {
                var made: [String: Int] = [:]
                for (i, p) in prompts.enumerated() where made[p] == nil { made[p] = i }
                index = made
            }
            return index![text]
        }
    }

    private let promptIndex = Mutex<[String: Int]?>(nil)
    private let liveEncoder = Mutex<(any LiveTextEncoder)?>(nil)

    /// Text features of `texts`, from the bundle's prompt table; a prompt it
    /// lacks is encoded by the bundle's built-in text encoder, or by the text
    /// tower of its recorded checkpoint, and otherwise reported by name
    /// (never silently replaced).
    public func textFeatures(for texts: [String]) throws -> Matrix {
        let table = try promptFeatures()
        let builtIn = builtInTextEncoder
        var out = Matrix(rows: texts.count, cols: table.cols)
        var missing: [Int] = []
        for (i, t) in texts.enumerated() {
            if let r = promptRow(t) {
                out.storage.replaceSubrange(i * table.cols ..< (i + 1) * table.cols, with: table.row(r))
            } else if let builtIn {
                out.storage.replaceSubrange(i * table.cols ..< (i + 1) * table.cols, with: builtIn.encode(t))
            } else {
                missing.append(i)
            }
        }
        guard !missing.isEmpty else { return out }
        guard let live = try textCheckpointEncoder() else {
            let shown = missing.prefix(3).map { "'\(texts[$0])'" }.joined(separator: ", ")
            let more = missing.count > 3 ? " and \(missing.count - 3) more" : ""
            throw InputError(file: path(Self.promptsFile),
                             "has no text feature for \(shown)\(more), and the bundle records no text checkpoint to encode them with (manifest.json text_checkpoint; `spurscope import checkpoint` records one)")
        }
        let encoded = try live.features(for: missing.map { texts[$0] })
        guard encoded.rows == missing.count, encoded.cols == table.cols else {
            throw InputError(file: path(Self.manifestFile), field: "text_checkpoint",
                             "encodes \(encoded.cols)-wide text features, but text_prompts is \(table.cols) wide")
        }
        for (k, i) in missing.enumerated() {
            out.storage.replaceSubrange(i * table.cols ..< (i + 1) * table.cols, with: encoded.row(k))
        }
        return out
    }

    /// Those of `texts` that the prompt table lacks and the recorded text
    /// tower reads cut to its context: what a screen or command should say
    /// it did to a long phrase. Empty when nothing is encoded live.
    public func truncatedTexts(_ texts: [String]) -> [String] {
        let live = texts.filter { promptRow($0) == nil }
        guard !live.isEmpty, builtInTextEncoder == nil, let encoder = try? textCheckpointEncoder() else { return [] }
        return encoder.truncated(live)
    }

    /// The synthetic bundles' word-vector encoder, when the bundle names one
    /// of the table's width.
    private var builtInTextEncoder: WordVectorTextEncoder? {
        WordVectorTextEncoder(descriptor: manifest.textEncoder).flatMap { $0.dim == manifest.dims.textDim ? $0 : nil }
    }

    /// The encoder of `text_checkpoint` (nil without one), resolved on first
    /// use and kept.
    public func textCheckpointEncoder() throws -> (any LiveTextEncoder)? {
        guard let record = manifest.textCheckpoint else { return nil }
        if let known = liveEncoder.withLock({ $0 }) { return known }
        guard let resolve = LiveTextEncoding.resolver else {
            throw InputError(file: path(Self.manifestFile), field: "text_checkpoint",
                             "names \(record.path), but this program cannot run a CLIP text tower")
        }
        let encoder = try resolve(record, self)
        liveEncoder.withLock { $0 = encoder }
        return encoder
    }

    /// The class-template prompts `[C·K, Dt]`, row `c·K + k`.
    public func classTemplateFeatures() throws -> Matrix {
        try textFeatures(for: manifest.classes.flatMap { c in manifest.templates.map { Self.fill($0, with: c) } })
    }

    /// The pre-trained projections and temperature.
    public func pretrainedHeads() throws -> ProjectionHeads {
        // `matrix` checks W_v and W_t; the scale is read as a bare value.
        let scale = try features.floats("logit_scale")
        try features.requireFinite(scale, name: "logit_scale")
        return ProjectionHeads(image: try features.matrix("W_v"), text: try features.matrix("W_t"),
                               logitScale: scale[0])
    }

    /// Every command checks the values it reads (only `validate` scans the
    /// whole file): a NaN or an infinity would otherwise flow silently into
    /// every score, map and checkpoint made from them. For reads of some rows
    /// (`matrix` checks whole tensors itself); rows are examples, as
    /// `validate` reports them.
    private func checkFinite(_ values: [Float], tensor: String, rowLength: Int, firstRow: Int) throws {
        guard let i = values.firstIndex(where: { !$0.isFinite }) else { return }
        let row = firstRow + i / max(rowLength, 1)
        let which = row < exampleTable.count ? "row \(row) (example '\(exampleTable.id(row))')" : "row \(row)"
        throw InputError(file: path(Self.featuresFile), field: "tensor '\(tensor)'", "\(which) holds \(values[i]), expected finite numbers")
    }

    /// The prompt of template `template` filled with `label`.
    public static func fill(_ template: String, with label: String) -> String {
        template.replacingOccurrences(of: "{}", with: label)
    }
}
