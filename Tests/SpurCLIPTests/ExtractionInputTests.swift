import Foundation
import Testing
@testable import SpurCLIP
import SpurCore

/// What `spurscope extract` accepts before it loads a model: the shard, the
/// vocabulary and the dataset listing, with errors that name file and field.
struct ExtractionInputTests {
    static func directory(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-extract-input-\(getpid())/\(name)")
        try? FileManager.default.removeItem(at: dir)
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.path
    }

    @Test func shardsTileTheRowsAsTheExtractorDoes() throws {
        // Python's (n - 1) * count // m ..< n * count // m.
        let parts = (1...3).map { ExtractionShard(index: $0, count: 3).rows(of: 10) }
        #expect(parts == [0..<3, 3..<6, 6..<10])
        #expect(ExtractionShard(index: 4, count: 4).rows(of: 2) == 1..<2)
        #expect(try ExtractionShard.parse("2/3") == ExtractionShard(index: 2, count: 3))
        for bad in ["0/3", "4/3", "2", "a/b", "2/3/4", ""] {
            #expect(throws: SettingError.self) { try ExtractionShard.parse(bad, environment: [:]) }
        }
    }

    @Test func autoShardsComeFromSlurmOrTorchrun() throws {
        #expect(try ExtractionShard.parse("auto", environment: ["SLURM_PROCID": "0", "SLURM_NTASKS": "4"]) == ExtractionShard(index: 1, count: 4))
        #expect(try ExtractionShard.parse("auto", environment: ["RANK": "3", "WORLD_SIZE": "4"]) == ExtractionShard(index: 4, count: 4))
        // Slurm wins when both are set (torchrun under Slurm sets both alike).
        #expect(try ExtractionShard.parse("auto", environment: ["SLURM_PROCID": "1", "SLURM_NTASKS": "2", "RANK": "0", "WORLD_SIZE": "8"]) == ExtractionShard(index: 2, count: 2))
        #expect(throws: SettingError.self) { try ExtractionShard.parse("auto", environment: [:]) }
        #expect(throws: SettingError.self) { try ExtractionShard.parse("auto", environment: ["RANK": "4", "WORLD_SIZE": "4"]) }
    }

    @Test func theBuiltInVocabularyIsTheExtractorsFile() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../tools/extract/spurscope_extract/vg-objects.txt").path
        #expect(try AttributeVocabulary.read(file) == AttributeVocabulary.objects)
        #expect(AttributeVocabulary.objects.count > 300)
    }

    @Test func classNamesAndTheirWordsLeaveTheVocabulary() {
        let kept = AttributeVocabulary.withoutClasses(["Bird", "song", "water", "tree", "dog"], classes: ["song_bird", "dog"], exclude: ["TREE"])
        #expect(kept == ["water"])
    }

    @Test func aLabelsFileIsReadWithItsExtraColumns() throws {
        let dir = Self.directory("labels")
        for name in ["a.jpg", "b.jpg", "c.jpg"] { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data([1])) }
        let csv = dir + "/labels.csv"
        try "id,image,label,split,attr:water,mask,bbox,note\n1,a.jpg,duck,train,1,m.png,1 2 3 4,x\n2, b.jpg ,crow,val,,,,\n\n3,c.jpg,duck,test,0,,,\n"
            .write(toFile: csv, atomically: true, encoding: .utf8)
        let d = try ExtractionDataset.labels(csv, images: dir)
        #expect(d.classes == ["duck", "crow"])
        #expect(d.items.map(\.label) == [0, 1, 0])
        #expect(d.items.map(\.split) == [.train, .val, .test])
        #expect(d.extraColumns == ["attr:water", "mask", "bbox"])
        #expect(d.items[0].extra["mask"] == dir + "/m.png")
        #expect(d.items[1].image == dir + "/b.jpg")
        let given = try ExtractionDataset.labels(csv, images: dir, classes: ["crow", "duck"])
        #expect(given.items.map(\.label) == [1, 0, 1])
    }

    @Test func badLabelsNameTheLineAndColumn() throws {
        let dir = Self.directory("bad")
        FileManager.default.createFile(atPath: dir + "/a.jpg", contents: Data([1]))
        func error(_ text: String, classes: [String]? = nil) throws -> InputError? {
            let csv = dir + "/labels.csv"
            try text.write(toFile: csv, atomically: true, encoding: .utf8)
            do { _ = try ExtractionDataset.labels(csv, images: dir, classes: classes); return nil } catch let e as InputError { return e }
        }
        #expect(try error("id,image,label\n1,a.jpg,duck\n")?.problem.contains("no column 'split'") == true)
        #expect(try error("id,image,label,split\n1,a.jpg,duck,training\n2,a.jpg,crow,val\n")?.field == "line 2, column split")
        #expect(try error("id,image,label,split\n1,a.jpg,duck,train\n1,a.jpg,crow,val\n")?.field == "line 3, column id")
        #expect(try error("id,image,label,split\n1,a.jpg,duck,train\n2,missing.jpg,crow,val\n")?.field == "line 3, column image")
        #expect(try error("id,image,label,split\n1,a.jpg,duck,train\n2,a.jpg,duck,val\n")?.problem.contains("expected at least 2") == true)
        #expect(try error("id,image,label,split\n1,a.jpg,duck,train\n2,a.jpg,owl,val\n", classes: ["duck", "crow"])?.field == "line 3, column label")
        #expect(try error("id,image,label,split\n")?.problem == "has no examples")
    }

    @Test func waterbirdsMetadataGivesGroupsAndRefusesBadCodes() throws {
        let dir = Self.directory("waterbirds")
        try FileManager.default.createDirectory(atPath: dir + "/001.Albatross", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/001.Albatross/x.jpg", contents: Data([1]))
        try "img_id,img_filename,y,split,place,place_filename\n1,001.Albatross/x.jpg,1,2,0,/o/ocean/a.jpg\n2,001.Albatross/x.jpg,0,0,1,\n"
            .write(toFile: dir + "/metadata.csv", atomically: true, encoding: .utf8)
        let d = try ExtractionDataset.waterbirds(dir)
        #expect(d.classes == ["landbird", "waterbird"])
        #expect(d.groups == ["water"])
        #expect(d.items.map(\.label) == [1, 0])
        #expect(d.items.map(\.split) == [.test, .train])
        #expect(d.items.map { $0.extra["attr:water"] } == ["0", "1"])
        try "img_id,img_filename,y,split,place\n1,001.Albatross/x.jpg,1,3,0\n".write(toFile: dir + "/metadata.csv", atomically: true, encoding: .utf8)
        #expect { try ExtractionDataset.waterbirds(dir) } throws: { ($0 as? InputError)?.field == "line 2, column split" }
    }
}
