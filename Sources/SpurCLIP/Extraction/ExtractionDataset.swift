import Foundation
import SpurCore

/// The examples an extraction encodes: a labels CSV in the columns of a
/// bundle's `examples.csv`, or the WILDS Waterbirds layout. Everything is
/// checked before a model is loaded, so a typo costs seconds, not an hour of
/// encoding. Same rules as `tools/extract` (its `dataset.py`), so the two
/// extractors accept the same inputs and write the same `examples.csv`.
public struct ExtractionDataset: Sendable {
    public struct Item: Sendable, Equatable {
        public var id: String
        /// Absolute path of the image.
        public var image: String
        public var label: Int
        public var split: Split
        /// `attr:NAME`, `mask` and `bbox` cells as written (a mask's path
        /// made absolute).
        public var extra: [String: String]
    }

    public var items: [Item]
    public var classes: [String]
    /// Column order of `extra` in `examples.csv`.
    public var extraColumns: [String]
    /// The manifest's `groups`, when the layout defines them.
    public var groups: [String]?
    /// The file the examples came from, for messages.
    public var source: String

    public static let waterbirdClasses = ["landbird", "waterbird"]

    /// `id, image, label, split` and optionally `attr:NAME`, `mask`, `bbox`;
    /// image and mask paths relative to `images` (or absolute).
    public static func labels(_ path: String, images: String, classes given: [String]? = nil) throws -> ExtractionDataset {
        let table = try CSVTable(path: path)
        let id = try table.requireColumn("id"), image = try table.requireColumn("image")
        let label = try table.requireColumn("label"), split = try table.requireColumn("split")
        let extraColumns = table.header.filter { $0.hasPrefix("attr:") || $0 == "mask" || $0 == "bbox" }
        let extraIndex = extraColumns.map { ($0, table.columnIndex($0)!) }
        let root = absolute(images)
        var items: [Item] = [], seen: [String: Int] = [:], found: [String] = []
        for r in table.rows.indices {
            let line = table.line(r)
            let exampleID = table.value(r, id)
            guard !exampleID.isEmpty else { throw InputError(file: path, field: "line \(line), column id", "is empty") }
            if let first = seen[exampleID] {
                throw InputError(file: path, field: "line \(line), column id", "'\(exampleID)' repeats the id of line \(first)")
            }
            seen[exampleID] = line
            let splitText = table.value(r, split)
            guard let s = Split(rawValue: splitText) else {
                throw InputError(file: path, field: "line \(line), column split", "'\(splitText)' is not a split (expected train, val or test)")
            }
            let name = table.value(r, label)
            guard !name.isEmpty else { throw InputError(file: path, field: "line \(line), column label", "is empty, expected a class name") }
            if !found.contains(name) { found.append(name) }
            var extra: [String: String] = [:]
            for (column, i) in extraIndex { extra[column] = table.value(r, i) }
            if let mask = extra["mask"], !mask.isEmpty { extra["mask"] = join(root, mask) }
            items.append(Item(id: exampleID, image: join(root, table.value(r, image)), label: -1, split: s, extra: extra))
        }
        guard !items.isEmpty else { throw InputError(file: path, "has no examples") }
        let classes = given ?? found
        for r in items.indices {
            let name = table.value(r, label)
            guard let y = classes.firstIndex(of: name) else {
                throw InputError(file: path, field: "line \(table.line(r)), column label",
                                 "'\(name)' is not a class (expected one of: \(classes.joined(separator: ", ")))")
            }
            items[r].label = y
        }
        guard classes.count >= 2 else {
            throw InputError(file: path, field: "label", "has \(classes.count) class, expected at least 2")
        }
        let d = ExtractionDataset(items: items, classes: classes, extraColumns: extraColumns, groups: nil, source: path)
        try d.checkImagesExist()
        return d
    }

    /// WILDS Waterbirds: `metadata.csv` with `img_id, img_filename, y (1 =
    /// waterbird), split (0 train, 1 val, 2 test), place (0 land, 1 water)`;
    /// the ground truth `water` (= place) defines the groups.
    public static func waterbirds(_ directory: String) throws -> ExtractionDataset {
        let path = (directory as NSString).appendingPathComponent("metadata.csv")
        let table = try CSVTable(path: path)
        let cols = try ["img_id", "img_filename", "y", "split", "place"].map(table.requireColumn)
        let root = absolute(directory)
        var items: [Item] = [], seen: [String: Int] = [:]
        for r in table.rows.indices {
            let line = table.line(r)
            func code(_ column: Int, _ name: String, _ allowed: Int) throws -> Int {
                let text = table.value(r, column)
                guard let v = Int(text), (0...allowed).contains(v), String(v) == text else {
                    throw InputError(file: path, field: "line \(line), column \(name)",
                                     "'\(text)' is not one of \((0...allowed).map(String.init).joined(separator: ", "))")
                }
                return v
            }
            let y = try code(cols[2], "y", 1), s = try code(cols[3], "split", 2), place = try code(cols[4], "place", 1)
            let exampleID = table.value(r, cols[0])
            if let first = seen[exampleID] {
                throw InputError(file: path, field: "line \(line), column img_id", "'\(exampleID)' repeats the id of line \(first)")
            }
            seen[exampleID] = line
            items.append(Item(id: exampleID, image: join(root, table.value(r, cols[1])), label: y,
                              split: Split.allCases[s], extra: ["attr:water": String(place)]))
        }
        guard !items.isEmpty else { throw InputError(file: path, "has no examples") }
        let d = ExtractionDataset(items: items, classes: waterbirdClasses, extraColumns: ["attr:water"], groups: ["water"], source: path)
        try d.checkImagesExist()
        return d
    }

    private func checkImagesExist() throws {
        var isDirectory: ObjCBool = false
        for (r, item) in items.enumerated() {
            guard FileManager.default.fileExists(atPath: item.image, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw InputError(file: source, field: "line \(r + 2), column image", "'\(item.image)' does not exist")
            }
        }
    }

    static func absolute(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        return (p as NSString).standardizingPath
    }

    private static func join(_ root: String, _ path: String) -> String {
        path.hasPrefix("/") ? path : (root as NSString).appendingPathComponent(path)
    }
}
