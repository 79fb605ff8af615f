import Foundation
import Testing
@testable import SpurCore

/// The examples cache (issue 25) is a copy of `examples.csv` and never more:
/// it equals the parse, follows every edit, and a damaged or foreign one is
/// rebuilt, not trusted.
struct ExamplesCacheTests {
    static func open(_ dir: String) throws -> (FeatureBundle, ExamplesCache.Outcome?) {
        let r = BundleCheck.run(directory: dir, deep: false)
        guard let b = r.bundle else { throw r.problems.first! }
        return (b, r.examplesCache)
    }

    static func setModificationDate(_ path: String, _ date: Date) throws {
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: path)
    }

    @Test func theCacheEqualsTheCSVAndIsUsedFromTheSecondOpen() throws {
        let c = SampleBundle.contents()
        let dir = try SampleBundle.write("cache-roundtrip", c)
        let (first, outcome1) = try Self.open(dir)
        #expect(outcome1 == .missing)
        #expect(FileManager.default.fileExists(atPath: ExamplesCache.path(directory: dir)))
        let (second, outcome2) = try Self.open(dir)
        #expect(outcome2 == .used)
        #expect(first.examples == c.examples && second.examples == c.examples)
        #expect(second.exampleTable == first.exampleTable)
        #expect(second.groundTruthAttributes == ["water"])
        #expect(second.detections == c.detections)
        #expect(second.indices(in: .val) == [4, 5])
        // validate reads the CSV itself.
        #expect(BundleCheck.run(directory: dir, deep: true).examplesCache == nil)
    }

    @Test func anEditedCSVIsReadAgain() throws {
        let dir = try SampleBundle.write("cache-edit")
        _ = try Self.open(dir)
        try BundleCorruptionTests.replace("examples.csv", "ex4,images/4.png,landbird,val", "ex4,images/4.png,waterbird,test")(dir)
        let (b, outcome) = try Self.open(dir)
        #expect(outcome == .stale)
        #expect(b.examples[4].label == 1 && b.examples[4].split == .test)
        #expect(try Self.open(dir).1 == .used)
    }

    /// An edit of the same size with the old mtime put back (`touch -r`)
    /// still changes the ctime, and then the bytes are compared by hash.
    @Test func anEditThatKeepsSizeAndMtimeIsReadAgain() throws {
        let dir = try SampleBundle.write("cache-same-size")
        _ = try Self.open(dir)
        let csv = dir + "/examples.csv"
        let mtime = try FileManager.default.attributesOfItem(atPath: csv)[.modificationDate] as! Date
        let handle = try #require(FileHandle(forUpdatingAtPath: csv))
        let text = try String(contentsOfFile: csv, encoding: .utf8)
        let offset = text.utf8.distance(from: text.utf8.startIndex, to: try #require(text.range(of: "ex6,")).lowerBound)
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: Data("ex9,".utf8))
        try handle.close()
        try Self.setModificationDate(csv, mtime)
        let (b, outcome) = try Self.open(dir)
        #expect(outcome == .stale)
        #expect(b.examples[6].id == "ex9")
    }

    @Test func aCopiedBundleUsesTheCacheAfterComparingTheBytes() throws {
        let dir = try SampleBundle.write("cache-copy-source")
        _ = try Self.open(dir)
        let copy = SampleBundle.temporaryDirectory("cache-copy")
        try FileManager.default.copyItem(atPath: dir, toPath: copy)
        let (b, outcome) = try Self.open(copy)
        #expect(outcome == .usedAfterHash)
        #expect(b.examples == SampleBundle.contents().examples)
        #expect(try Self.open(copy).1 == .used)
    }

    /// Where tensor `name`'s bytes start in the cache file.
    static func dataStart(_ d: Data, _ name: String) -> Int {
        let h = Int(d.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let json = try! JSONSerialization.jsonObject(with: d[8 ..< 8 + h]) as! [String: Any]
        return 8 + h + ((json[name] as! [String: Any])["data_offsets"] as! [Int])[0]
    }

    @Test func aDamagedCacheIsRebuiltNotTrusted() throws {
        let dir = try SampleBundle.write("cache-damaged")
        _ = try Self.open(dir)
        let cache = ExamplesCache.path(directory: dir)
        let good = try Data(contentsOf: URL(fileURLWithPath: cache))
        let damages: [(String, (inout Data) -> Void)] = [
            ("a label byte flipped", { d in d[Self.dataStart(d, "label")] = 7 }),
            ("a split byte flipped", { d in d[Self.dataStart(d, "split")] ^= 0x01 }),
            ("a ground-truth byte flipped", { d in d[Self.dataStart(d, "attributes")] ^= 0x01 }),
            ("truncated", { $0 = $0.prefix($0.count / 2) }),
            ("not safetensors", { $0 = Data("examples".utf8) }),
            ("empty", { $0 = Data() }),
        ]
        for (name, damage) in damages {
            var d = good
            damage(&d)
            try d.write(to: URL(fileURLWithPath: cache))
            let (b, outcome) = try Self.open(dir)
            #expect(outcome == .damaged, "\(name)")
            #expect(b.examples == SampleBundle.contents().examples, "\(name)")
            #expect(try Self.open(dir).1 == .used, "\(name): rebuilt")
        }
    }

    /// Ids and paths are checked when first read, not on open: damage there
    /// is found then, the CSV's strings are used instead, and the cache is
    /// dropped so the next open rebuilds it.
    @Test func damagedStringsAreFoundOnFirstUseAndReadFromTheCSV() throws {
        let dir = try SampleBundle.write("cache-damaged-strings")
        _ = try Self.open(dir)
        let cache = ExamplesCache.path(directory: dir)
        let good = try Data(contentsOf: URL(fileURLWithPath: cache))
        for tensor in ["id_bytes", "image_bytes", "id_offsets", "image_offsets"] {
            var d = good
            d[Self.dataStart(d, tensor)] ^= 0x01
            try d.write(to: URL(fileURLWithPath: cache))
            // A summary open (`info`) reads no detections, so nothing asks for ids.
            let r = BundleCheck.run(directory: dir, deep: false, summary: true)
            let b = try #require(r.bundle)
            #expect(r.examplesCache == .used, "\(tensor): the counts' columns are sound")
            #expect(!b.exampleTable.strings.isLoaded, "\(tensor): not read on open")
            #expect(b.examples == SampleBundle.contents().examples, "\(tensor)")
            #expect(!FileManager.default.fileExists(atPath: cache), "\(tensor): the damaged cache is dropped")
            #expect(try Self.open(dir).1 == .missing, "\(tensor)")
            #expect(try Self.open(dir).1 == .used, "\(tensor): rebuilt")
        }
    }

    @Test func reorderedClassesInvalidateTheLabels() throws {
        let dir = try SampleBundle.write("cache-classes")
        _ = try Self.open(dir)
        try BundleCorruptionTests.editManifest { $0.classes.reverse() }(dir)
        let (b, outcome) = try Self.open(dir)
        #expect(outcome == .stale)
        #expect(b.examples.map(\.label) == SampleBundle.contents().examples.map { 1 - $0.label })
    }

    /// Where the cache cannot be written (here: its name is taken by a
    /// directory, which works for root too) the bundle opens from the CSV.
    @Test func aBundleWhoseCacheCannotBeWrittenStillOpens() throws {
        let dir = try SampleBundle.write("cache-unwritable")
        try FileManager.default.createDirectory(atPath: ExamplesCache.path(directory: dir), withIntermediateDirectories: false)
        for _ in 0..<2 {
            let (b, outcome) = try Self.open(dir)
            #expect(outcome == .damaged)
            #expect(b.examples == SampleBundle.contents().examples)
        }
    }

    @Test func aBrokenCSVWritesNoCache() throws {
        let dir = try SampleBundle.write("cache-broken")
        try BundleCorruptionTests.replace("examples.csv", "ex5,images/5.png,waterbird", "ex5,images/5.png,heron")(dir)
        #expect(throws: InputError.self) { try FeatureBundle.open(dir) }
        #expect(!FileManager.default.fileExists(atPath: ExamplesCache.path(directory: dir)))
    }

    @Test func summaryOpenCountsDetectionsWithoutReadingThem() throws {
        let dir = try SampleBundle.write("cache-summary")
        let b = try FeatureBundle.openSummary(dir)
        #expect(b.detectionCount == 3 && !b.detectionsRead && b.detectionTable.count == 0)
        #expect(try FeatureBundle.open(dir).detectionCount == 3)
        #expect(try FeatureBundle.openManifest(dir).classes == SampleBundle.classes)
    }
}
