import Foundation

/// Every check a feature bundle must pass, collecting all problems instead of
/// stopping at the first (`spurscope validate` lists them all).
///
/// The structural pass reads the manifest, the CSVs and the safetensors
/// header; the deep pass (`deep: true`) also scans every feature value for
/// NaN/Inf and checks that image and mask files exist.
public enum BundleCheck {
    /// The problems of one kind in one file, the first `limit` of them
    /// listed and the rest counted: a file broken on every row, or 100,000
    /// classes without examples, then costs one screen, not megabytes.
    struct Bounded {
        let file: String
        let limit: Int
        let noun: String
        private(set) var count = 0
        private var kept: [InputError] = []

        init(file: String, limit: Int = 50, noun: String = "problems") { self.file = file; self.limit = limit; self.noun = noun }

        mutating func add(_ e: @autoclosure () -> InputError) {
            count += 1
            if count <= limit { kept.append(e()) }
        }

        /// The kept problems, and a count of the others.
        func flush(into problems: inout [InputError]) {
            problems += kept
            if count > limit { problems.append(InputError(file: file, "\(count - limit) more \(noun) in this file not shown")) }
        }
    }

    /// How many class names a message about a label lists.
    static let classesShown = 5

    public struct Report: Sendable {
        public var bundle: FeatureBundle?
        public var problems: [InputError]
        /// Whether the examples came from the cache (nil: it was not asked).
        public var examplesCache: ExamplesCache.Outcome?
    }

    /// `summary`: what `info` needs: detections are counted, not read and
    /// checked (`validate` and every command that uses them read them).
    /// `deep`: the CSV itself, never the examples cache, and every value.
    /// `images`: with `deep`, open each image and mask and read its header
    /// (`validate`); otherwise their existence is checked.
    public static func run(directory: String, deep: Bool, summary: Bool = false, images: Bool = false) -> Report {
        var problems: [InputError] = []
        func path(_ f: String) -> String { (directory as NSString).appendingPathComponent(f) }
        func attempt<T>(_ body: () throws -> T) -> T? {
            do { return try body() } catch let e as InputError { problems.append(e) } catch {
                problems.append(InputError(file: directory, "\(error)"))
            }
            return nil
        }

        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
            return Report(bundle: nil, problems: [InputError(file: directory, "is not a bundle directory (it does not exist or is a file)")])
        }

        let manifest = attempt { try BundleManifest.read(path: path(FeatureBundle.manifestFile)) }
        if let manifest { checkManifest(manifest, path: path(FeatureBundle.manifestFile), into: &problems) }

        // The examples: from the cache when it is of this CSV, else parsed
        // (and the cache written, when the parse and the manifest are sound).
        var table: ExampleTable?
        var parsedList: [Example]?
        var cacheOutcome: ExamplesCache.Outcome?
        if !deep, let manifest, problems.isEmpty {
            let (cached, outcome) = ExamplesCache.read(directory: directory, classes: manifest.classes)
            table = cached
            cacheOutcome = outcome
        }
        if table == nil {
            let csvPath = path(FeatureBundle.examplesFile)
            let stamp = ExamplesCache.Stamp(path: csvPath)
            let before = problems.count
            var sha = ""
            let parsed = attempt { () throws -> ParsedExamples in
                let file = try CSVScanner.map(csvPath)
                return try file.withBytes(0..<file.size) { bytes in
                    let t = try CSVTable(path: csvPath, bytes: bytes)
                    if manifest != nil && !deep { sha = ExamplesCache.sha256(bytes) }
                    return try parseExamples(t, classes: manifest?.classes, into: &problems)
                }
            }
            if let parsed {
                let t = ExampleTable(examples: parsed.examples, attributeNames: parsed.groundTruth)
                table = t
                parsedList = parsed.examples
                if problems.count == before, problems.isEmpty, let manifest, let stamp, !sha.isEmpty {
                    // A cache that cannot be written (read-only bundle) only costs the next open this parse.
                    try? ExamplesCache.write(t, classes: manifest.classes, stamp: stamp, csvSHA256: sha, directory: directory)
                }
            }
        }
        let exampleCount = table?.count

        var detections = DetectionTable(exampleCount: 0, detections: [])
        var detectionCount = 0
        let attributesPath = path(FeatureBundle.attributesFile)
        if let name = manifest?.detections, let manifest, let n = exampleCount {
            // The binary file named by the manifest is the bundle's detections; attributes.csv beside it is not read.
            if summary {
                if let f = attempt({ try SafetensorsFile(path: path(name)) }) {
                    detectionCount = f.tensors["attribute"]?.shape.first ?? 0
                }
            } else if let t = attempt({ try DetectionsFile.read(path: path(name), exampleCount: n,
                                                               vocabulary: manifest.attributes) }) {
                detections = t
                detectionCount = t.count
            }
        } else if FileManager.default.fileExists(atPath: attributesPath), let table {
            if summary {
                detectionCount = attempt { try CSVScanner.countRows(path: attributesPath) } ?? 0
            } else if let csv = attempt({ try CSVTable(path: attributesPath) }) {
                let list = (attempt { try parseDetections(csv, examples: parsedList ?? table.examples,
                                                          vocabulary: manifest?.attributes, into: &problems) }) ?? []
                detections = DetectionTable(exampleCount: table.count, detections: list)
                detectionCount = detections.count
            }
        } else if let n = exampleCount {
            detections = DetectionTable(exampleCount: n, detections: [])
        }

        let prompts = attempt { try CSVTable(path: path(FeatureBundle.promptsFile)) }
            .flatMap { table in attempt { try table.rows.indices.map { table.value($0, try table.requireColumn("prompt")) } } }

        let features = attempt { try SafetensorsFile(path: path(FeatureBundle.featuresFile)) }
        if let features, let manifest {
            checkTensors(features, manifest: manifest, exampleCount: exampleCount,
                         promptCount: prompts?.count, into: &problems)
            if let tail = manifest.camTail {
                checkCAMTail(tail, manifest: manifest, features: features, directory: directory,
                             exampleCount: exampleCount, into: &problems)
            }
            if deep && problems.isEmpty { scanValues(features, examples: parsedList ?? [], into: &problems) }
        }
        if deep, let examples = parsedList {
            checkFiles(examples, directory: directory, headers: images, into: &problems)
        }

        if let groups = manifest?.groups, let table {
            for g in groups where !table.attributeNames.contains(g) {
                problems.append(InputError(file: path(FeatureBundle.manifestFile), field: "groups",
                                           "names '\(g)', which has no ground-truth column attr:\(g) in examples.csv"))
            }
        }
        guard problems.isEmpty, let manifest, let table, let prompts, let features else {
            return Report(bundle: nil, problems: problems, examplesCache: cacheOutcome)
        }
        let bundle = FeatureBundle(directory: directory, manifest: manifest, exampleTable: table, examples: parsedList,
                                   detections: detections, detectionCount: detectionCount, detectionsRead: !summary,
                                   prompts: prompts, features: features)
        return Report(bundle: bundle, problems: [], examplesCache: cacheOutcome)
    }

    // MARK: manifest

    static func checkManifest(_ m: BundleManifest, path: String, into problems: inout [InputError]) {
        if m.formatVersion != BundleManifest.currentFormatVersion {
            problems.append(InputError(file: path, field: "format_version",
                                       "is \(m.formatVersion), expected \(BundleManifest.currentFormatVersion)"))
        }
        for (name, v) in [("dims.Dv", m.dims.imageDim), ("dims.Dt", m.dims.textDim), ("dims.E", m.dims.embeddingDim),
                          ("grid.H", m.grid.height), ("grid.W", m.grid.width)] where v < 1 {
            problems.append(InputError(file: path, field: name, "is \(v), expected a positive integer"))
        }
        if m.classes.count < 2 {
            problems.append(InputError(file: path, field: "classes", "has \(m.classes.count) classes, expected at least 2"))
        }
        for (field, list) in [("classes", m.classes), ("attributes", m.attributes), ("groups", m.groups ?? [])] {
            if let d = firstDuplicate(list) {
                problems.append(InputError(file: path, field: field, "lists '\(InputError.excerpt(d))' twice"))
            }
        }
        if m.templates.isEmpty {
            problems.append(InputError(file: path, field: "templates", "is empty, expected at least one template with {}"))
        }
        var templates = Bounded(file: path, limit: 20, noun: "templates without {}")
        defer { templates.flush(into: &problems) }
        for (i, t) in m.templates.enumerated() where !t.contains("{}") {
            templates.add(InputError(file: path, field: "templates[\(i)]", "'\(InputError.excerpt(t))' has no {} for the class name"))
        }
        if let name = m.detections, name.isEmpty || name.contains("/") || name == "." || name == ".." {
            problems.append(InputError(file: path, field: "detections", "'\(InputError.excerpt(name))' is not a file name in the bundle directory"))
        }
        if let t = m.detectionThreshold, !(t >= 0 && t <= 1) {
            problems.append(InputError(file: path, field: "detection_threshold", "is \(t), expected a detector score in 0...1"))
        }
        for t in BundleManifest.requiredTensors where !m.tensors.contains(t) {
            problems.append(InputError(file: path, field: "tensors", "does not list '\(t)', which every bundle needs"))
        }
    }

    // MARK: examples.csv

    struct ParsedExamples {
        var examples: [Example]
        var groundTruth: [String]
    }

    static func parseExamples(_ t: CSVTable, classes: [String]?, into problems: inout [InputError]) throws -> ParsedExamples {
        let idCol = try t.requireColumn("id"), imageCol = try t.requireColumn("image")
        let labelCol = try t.requireColumn("label"), splitCol = try t.requireColumn("split")
        let maskCol = t.columnIndex("mask"), bboxCol = t.columnIndex("bbox")
        let attrCols = t.header.enumerated().filter { $0.element.hasPrefix("attr:") }
            .map { (index: $0.offset, name: String($0.element.dropFirst(5))) }
        // A class listed twice is checkManifest's problem to report; here the first wins.
        let classIndex = Dictionary((classes ?? []).enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var seen: [String: Int] = [:]
        var examples: [Example] = []
        // A broken file should not bury the other files' problems.
        var bounded = Bounded(file: t.path)
        func report(_ row: Int, _ column: String, _ message: @autoclosure () -> String) {
            bounded.add(InputError(file: t.path, field: "line \(t.line(row)), column \(column)", message()))
        }
        let q = { (v: String) in InputError.excerpt(v) }
        // Named once, not per row: each bad label listing 100,000 classes made 39 MB of errors.
        let expectedClasses = (classes ?? []).prefix(Self.classesShown).map(q).joined(separator: ", ")
            + ((classes?.count ?? 0) > Self.classesShown ? " and \((classes?.count ?? 0) - Self.classesShown) more in manifest.json" : "")
        for r in t.rows.indices {
            let id = t.value(r, idCol)
            if id.isEmpty { report(r, "id", "is empty") }
            else if let first = seen[id] { report(r, "id", "'\(q(id))' repeats the id of line \(t.line(first))") }
            else { seen[id] = r }
            let image = t.value(r, imageCol)
            if image.isEmpty { report(r, "image", "is empty, expected an image path") }
            let labelText = t.value(r, labelCol)
            var label = 0
            if let classes {
                if let i = classIndex[labelText] { label = i }
                else { report(r, "label", "'\(q(labelText))' is not a class (expected one of: \(expectedClasses))") }
            }
            let splitText = t.value(r, splitCol)
            let split = Split(rawValue: splitText)
            if split == nil {
                report(r, "split", splitText.isEmpty ? "is empty: the example is in no split (expected train, val or test)"
                                                     : "'\(q(splitText))' is not a split (expected train, val or test)")
            }
            var attributes: [String: Int] = [:]
            for c in attrCols {
                switch t.value(r, c.index) {
                case "": break
                case "0": attributes[c.name] = 0
                case "1": attributes[c.name] = 1
                case let v: report(r, "attr:\(c.name)", "'\(q(v))' is not 0, 1 or blank")
                }
            }
            var bbox: BoundingBox?
            if let bboxCol, !t.value(r, bboxCol).isEmpty {
                let parts = t.value(r, bboxCol).split(separator: " ").compactMap { CSVTable.decimal(String($0)) }
                if parts.count == 4, parts[0] < parts[2], parts[1] < parts[3] {
                    bbox = BoundingBox(x0: parts[0], y0: parts[1], x1: parts[2], y1: parts[3])
                } else {
                    report(r, "bbox", "'\(q(t.value(r, bboxCol)))' is not 'x0 y0 x1 y1' with x0 < x1 and y0 < y1")
                }
            }
            let mask = maskCol.map { t.value(r, $0) }.flatMap { $0.isEmpty ? nil : $0 }
            examples.append(Example(id: id, image: image, label: label, split: split ?? .train,
                                    attributes: attributes, mask: mask, bbox: bbox))
        }
        let bad = bounded.count
        bounded.flush(into: &problems)
        if t.rows.isEmpty {
            problems.append(InputError(file: t.path, "has no examples"))
        } else if let classes, bad == 0 {
            var counts = [Int](repeating: 0, count: classes.count)
            for e in examples { counts[e.label] += 1 }
            var empty = Bounded(file: t.path, limit: 20, noun: "classes without an example")
            // A repeated class name gets no examples of its own; checkManifest reports the repeat.
            for (c, n) in counts.enumerated() where n == 0 && classIndex[classes[c]] == c {
                empty.add(InputError(file: t.path, field: "label", "class '\(q(classes[c]))' has no example"))
            }
            empty.flush(into: &problems)
        }
        return ParsedExamples(examples: examples, groundTruth: attrCols.map(\.name))
    }

    // MARK: attributes.csv

    public static func parseDetections(_ t: CSVTable, examples: [Example], vocabulary: [String]?,
                                into problems: inout [InputError]) throws -> [Detection] {
        let idCol = try t.requireColumn("id"), attrCol = try t.requireColumn("attribute")
        let scoreCol = try t.requireColumn("score")
        var exampleIndex: [String: Int] = [:]
        for (i, e) in examples.enumerated() where exampleIndex[e.id] == nil { exampleIndex[e.id] = i }
        let vocab = Dictionary((vocabulary ?? []).enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var out: [Detection] = []
        out.reserveCapacity(t.rows.count)
        // (example, attribute) → row: a second score for the same pair would
        // otherwise silently count twice (or win, in a reader that keeps one).
        var pairs: [Int64: Int] = [:]
        pairs.reserveCapacity(t.rows.count)
        var unknownNames: [String: Int] = [:]
        var bounded = Bounded(file: t.path)
        func report(_ row: Int, _ column: String, _ message: @autoclosure () -> String) {
            bounded.add(InputError(file: t.path, field: "line \(t.line(row)), column \(column)", message()))
        }
        let q = { (v: String) in InputError.excerpt(v) }
        for r in t.rows.indices {
            let id = t.value(r, idCol), name = t.value(r, attrCol), scoreText = t.value(r, scoreCol)
            guard let e = exampleIndex[id] else { report(r, "id", "'\(q(id))' is not an example in examples.csv"); continue }
            let a = vocab[name] ?? -1
            if vocabulary != nil && a < 0 {
                report(r, "attribute", "'\(q(name))' is not in the manifest's attribute vocabulary"); continue
            }
            guard let score = CSVTable.decimal(scoreText) else {
                report(r, "score", "'\(q(scoreText))' is not a finite decimal number"); continue
            }
            let nameKey = a >= 0 ? a : vocab.count + (unknownNames[name] ?? {
                unknownNames[name] = unknownNames.count; return unknownNames.count - 1 }())
            let key = Int64(e) << 32 | Int64(nameKey)
            if let first = pairs.updateValue(r, forKey: key) {
                pairs[key] = first
                report(r, "attribute", "'\(q(name))' of example '\(q(id))' repeats line \(t.line(first)): one score per example and attribute")
                continue
            }
            out.append(Detection(example: e, attribute: a, score: score))
        }
        bounded.flush(into: &problems)
        return out
    }

    // MARK: features.safetensors

    static func checkTensors(_ f: SafetensorsFile, manifest m: BundleManifest, exampleCount: Int?, promptCount: Int?,
                             into problems: inout [InputError]) {
        let n = exampleCount, d = m.dims
        let expected: [String: [Int?]] = [
            "image_pooled": [n, d.imageDim],
            "image_spatial": [n, m.grid.height, m.grid.width, d.imageDim],
            "text_prompts": [promptCount, d.textDim],
            "W_v": [d.embeddingDim, d.imageDim],
            "W_t": [d.embeddingDim, d.textDim],
        ]
        // Every tensor the commands read is checked wherever it is: an
        // `image_spatial` the manifest forgot to list is still used for
        // Grad-CAM, so its grid must match too.
        let unlisted = (Array(expected.keys) + ["logit_scale"]).sorted().filter { f.tensors[$0] != nil && !m.tensors.contains($0) }
        for name in m.tensors + unlisted {
            guard let t = f.tensors[name] else {
                problems.append(InputError(file: f.path, field: "tensor '\(name)'", "is listed in manifest.json but missing from the file"))
                continue
            }
            if !t.dtype.isFloatingPoint {
                problems.append(InputError(file: f.path, field: "tensor '\(name)'", "dtype is \(t.dtype.rawValue), expected F32 or F16"))
            }
            if name == "logit_scale" {
                if t.shape != [] && t.shape != [1] {
                    problems.append(InputError(file: f.path, field: "tensor 'logit_scale'", "shape is \(t.shape), expected [] or [1]"))
                }
            } else if let want = expected[name] {
                let ok = want.count == t.shape.count && zip(want, t.shape).allSatisfy { $0 == nil || $0 == $1 }
                if !ok {
                    let text = "[" + want.map { $0.map(String.init) ?? "_" }.joined(separator: ", ") + "]"
                    problems.append(InputError(file: f.path, field: "tensor '\(name)'",
                                               "shape is \(t.shape), expected \(text) from manifest.json and the CSVs"))
                }
            }
        }
    }

    /// NaN/Inf anywhere in the features, read in chunks so a huge spatial
    /// tensor never sits in memory whole.
    static func scanValues(_ f: SafetensorsFile, examples: [Example], into problems: inout [InputError]) {
        for name in f.names {
            guard let t = f.tensors[name], t.dtype.isFloatingPoint, t.elementCount > 0 else { continue }
            let rows = t.shape.first ?? 1
            let perRow = t.shape.isEmpty ? 1 : t.elementCount / max(rows, 1)
            let chunkRows = max(1, 4_000_000 / max(perRow, 1))
            var row = 0
            while row < rows {
                let end = min(rows, row + chunkRows)
                guard let values = try? f.floats(t, elements: row * perRow ..< end * perRow) else { break }
                if let i = values.firstIndex(where: { !$0.isFinite }) {
                    let r = row + i / perRow
                    let which = (name.hasPrefix("image_") && r < examples.count) ? "row \(r) (example '\(examples[r].id)')" : "element \(row * perRow + i)"
                    problems.append(InputError(file: f.path, field: "tensor '\(name)'", "\(which) holds \(values[i]), expected finite numbers"))
                    break
                }
                row = end
            }
        }
    }

    /// Every image and mask opened as `cam` and the Preview would open it,
    /// header only: a regular file of bounded size (a FIFO or /dev/zero is
    /// refused without blocking), a PNG or JPEG header within the pixel
    /// limits, and an end marker. Each distinct file is read once.
    static func checkFiles(_ examples: [Example], directory: String, headers: Bool, into problems: inout [InputError]) {
        let file = (directory as NSString).appendingPathComponent(FeatureBundle.examplesFile)
        var bad = Bounded(file: file, limit: 20, noun: "unreadable images and masks")
        var checked: [String: String?] = [:]   // resolved path: its problem, nil when sound
        for (i, e) in examples.enumerated() {
            for (column, p) in [("image", e.image), ("mask", e.mask ?? "")] where !p.isEmpty {
                let full = p.hasPrefix("/") ? p : (directory as NSString).appendingPathComponent(p)
                let problem: String?
                if let known = checked[full] { problem = known } else {
                    do {
                        // A dangling link does not exist either (fileExists follows links).
                        if !FileManager.default.fileExists(atPath: full) { throw InputError(file: full, "does not exist") }
                        if headers { _ = try ImageFile.checkHeader(path: full) }
                        problem = nil
                    } catch let error as InputError {
                        problem = error.problem
                    } catch { problem = "\(error)" }
                    checked[full] = problem
                }
                if let problem {
                    bad.add(InputError(file: file, field: "line \(i + 2), column \(column)", problem == "does not exist" ? "'\(InputError.excerpt(p))' does not exist" : "'\(InputError.excerpt(p))': \(problem)"))
                }
            }
        }
        bad.flush(into: &problems)
    }

    static func firstDuplicate(_ xs: [String]) -> String? {
        var seen = Set<String>()
        for x in xs { if !seen.insert(x).inserted { return x } }
        return nil
    }
}
