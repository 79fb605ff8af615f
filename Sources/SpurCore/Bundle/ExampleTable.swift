import Foundation
import Synchronization

/// `examples.csv` by column: what the audit, `info` and training read (label,
/// split, ground truth) as flat arrays, and the strings (id, image, mask) as
/// one byte blob each with offsets. This is the layout of the examples cache
/// (`ExamplesCache`), so an ImageNet-size table (1.28 M rows) loads with a
/// few copies out of a memory map, and `Example` values are made only when a
/// caller asks for them.
public struct ExampleTable: Equatable, Sendable {
    public let count: Int
    /// Index into the manifest's classes.
    public let labels: [Int32]
    /// Index into `Split.allCases` (train 0, val 1, test 2).
    public let splits: [UInt8]
    /// The `attr:NAME` columns, in the header's order.
    public let attributeNames: [String]
    /// Row-major `[count, attributeNames.count]`: 1 present, 0 absent, -1 blank.
    public let attributeValues: [Int8]
    /// Id, image, mask and box: from the cache they are read on first use.
    let strings: ExampleStrings
    var ids: StringColumn { strings.columns.ids }
    var images: StringColumn { strings.columns.images }
    /// An empty mask is no mask.
    var masks: StringColumn { strings.columns.masks }
    /// `[count, 4]`, NaN where the example has no box; nil without a bbox column.
    var boxes: [Float]? { strings.columns.boxes }

    /// Strings back to back in `bytes`; string `i` is `bytes[offsets[i] ..< offsets[i + 1]]`.
    struct StringColumn: Equatable, Sendable {
        var offsets: [Int]
        var bytes: [UInt8]

        init(_ values: [String]) {
            var offsets = [0]
            offsets.reserveCapacity(values.count + 1)
            var bytes: [UInt8] = []
            for v in values {
                bytes.append(contentsOf: v.utf8)
                offsets.append(bytes.count)
            }
            self.offsets = offsets
            self.bytes = bytes
        }

        init(offsets: [Int], bytes: [UInt8]) { self.offsets = offsets; self.bytes = bytes }

        subscript(i: Int) -> String {
            bytes.withUnsafeBufferPointer { String(decoding: UnsafeBufferPointer(rebasing: $0[offsets[i] ..< offsets[i + 1]]), as: UTF8.self) }
        }

        func isEmpty(_ i: Int) -> Bool { offsets[i] == offsets[i + 1] }
    }

    public init(examples: [Example], attributeNames: [String]) {
        count = examples.count
        labels = examples.map { Int32($0.label) }
        let order = Split.allCases
        splits = examples.map { e in UInt8(order.firstIndex(of: e.split)!) }
        self.attributeNames = attributeNames
        var values = [Int8](repeating: -1, count: examples.count * attributeNames.count)
        for (r, e) in examples.enumerated() {
            for (c, name) in attributeNames.enumerated() {
                if let v = e.attributes[name] { values[r * attributeNames.count + c] = Int8(v) }
            }
        }
        attributeValues = values
        var boxes: [Float]?
        if examples.contains(where: { $0.bbox != nil }) {
            boxes = examples.flatMap { e in e.bbox.map { [$0.x0, $0.y0, $0.x1, $0.y1] } ?? [.nan, .nan, .nan, .nan] }
        }
        strings = ExampleStrings(.init(ids: StringColumn(examples.map(\.id)), images: StringColumn(examples.map(\.image)),
                                       masks: StringColumn(examples.map { $0.mask ?? "" }), boxes: boxes))
    }

    init(labels: [Int32], splits: [UInt8], attributeNames: [String], attributeValues: [Int8], strings: ExampleStrings) {
        count = labels.count
        self.labels = labels; self.splits = splits
        self.attributeNames = attributeNames; self.attributeValues = attributeValues
        self.strings = strings
    }

    public static func == (a: ExampleTable, b: ExampleTable) -> Bool {
        a.labels == b.labels && a.splits == b.splits && a.attributeNames == b.attributeNames
            && a.attributeValues == b.attributeValues && a.strings.columns == b.strings.columns
    }

    public func split(_ i: Int) -> Split { Split.allCases[Int(splits[i])] }
    public func id(_ i: Int) -> String { ids[i] }

    /// Ground truth of attribute column `column` for row `i` (nil: blank).
    public func attribute(_ i: Int, column: Int) -> Int? {
        let v = attributeValues[i * attributeNames.count + column]
        return v < 0 ? nil : Int(v)
    }

    public func example(_ i: Int) -> Example { example(i, strings.columns) }

    private func example(_ i: Int, _ s: ExampleStrings.Columns) -> Example {
        var attributes: [String: Int] = [:]
        for (c, name) in attributeNames.enumerated() {
            if let v = attribute(i, column: c) { attributes[name] = v }
        }
        let bbox = s.boxes.flatMap { b -> BoundingBox? in
            b[i * 4].isNaN ? nil : BoundingBox(x0: b[i * 4], y0: b[i * 4 + 1], x1: b[i * 4 + 2], y1: b[i * 4 + 3])
        }
        return Example(id: s.ids[i], image: s.images[i], label: Int(labels[i]), split: split(i),
                       attributes: attributes, mask: s.masks.isEmpty(i) ? nil : s.masks[i], bbox: bbox)
    }

    public var examples: [Example] {
        let s = strings.columns
        return (0..<count).map { example($0, s) }
    }

    public func indices(in split: Split) -> [Int] {
        let s = UInt8(Split.allCases.firstIndex(of: split)!)
        return splits.indices.filter { splits[$0] == s }
    }
}

/// The string columns (and boxes) of an `ExampleTable`, which `info`, the
/// audit's counts and training never read, yet at 1.28 M rows are most of
/// the examples cache. Taken from the cache, they are checked (CRC, offsets,
/// UTF-8) and copied out of its map on first use instead of on open; should
/// that check fail, they are read from `examples.csv`, whose stat matched the
/// cache's when the bundle was opened (`ExamplesCache.read`).
final class ExampleStrings: Sendable {
    struct Columns: Sendable {
        var ids, images, masks: ExampleTable.StringColumn
        var boxes: [Float]?
    }

    private let state: Mutex<Columns?>
    private let load: @Sendable () -> Columns

    init(_ columns: Columns) {
        state = Mutex(columns)
        load = { columns }
    }

    init(loading load: @escaping @Sendable () -> Columns) {
        state = Mutex(nil)
        self.load = load
    }

    var isLoaded: Bool { state.withLock { $0 != nil } }

    var columns: Columns {
        if let known = state.withLock({ $0 }) { return known }
        // Loaded outside the lock: two first readers may both load, and get equal columns.
        let made = load()
        state.withLock { if $0 == nil { $0 = made } }
        return made
    }
}

extension ExampleStrings.Columns: Equatable {
    /// Boxes compare by bits: a NaN (no box) equals a NaN.
    static func == (a: Self, b: Self) -> Bool {
        a.ids == b.ids && a.images == b.images && a.masks == b.masks
            && a.boxes?.map(\.bitPattern) == b.boxes?.map(\.bitPattern)
    }
}
