import Foundation
import SpurCore

/// The bundle that the M shard directories of one extraction make together
/// (written by `spurscope extract --shard` or `tools/extract clip --shard`:
/// the same layout). Rows are copied a block at a time, so memory stays
/// flat whatever the dataset's size.
public enum ShardMerge {
    static let rowTensors = ["image_pooled", "image_spatial", CAMTailFile.inputTensor]
    static let sharedTensors = ["W_v", "W_t", "logit_scale"]
    /// Rows are copied in blocks of about 64 MB (f32).
    static let blockElements = 1 << 24

    struct Shard {
        var index, of: Int
        var directory: String
        var rows: Range<Int>, promptRows: Range<Int>
        var totalRows, totalPrompts: Int
        var features: SafetensorsFile
    }

    /// Returns the number of examples merged.
    @discardableResult
    public static func merge(_ directories: [String], into out: String, overwrite: Bool) throws -> Int {
        guard !directories.isEmpty else { throw InputError(file: "merge", "no shard directories given") }
        var shards = try directories.map(readShard)
        let m = shards[0].of
        for s in shards where s.of != m {
            throw InputError(file: s.directory + "/" + ExtractionPlan.shardFile, field: "of",
                             "is shard \(s.index) of \(s.of), but \(directories[0]) is one of \(m)")
        }
        let have = shards.map(\.index).sorted()
        if have != Array(1...m) {
            let missing = Set(1...m).subtracting(have).sorted()
            let repeated = Set(have.filter { i in have.filter { $0 == i }.count > 1 }).sorted()
            var what: [String] = []
            if !missing.isEmpty { what.append("shards \(missing.map(String.init).joined(separator: ", ")) are missing") }
            if !repeated.isEmpty { what.append("shards \(repeated.map(String.init).joined(separator: ", ")) are given twice") }
            throw InputError(file: "merge", "needs all \(m) shards of the extraction: \(what.joined(separator: "; "))")
        }
        shards.sort { $0.index < $1.index }
        let first = shards[0]
        let smallFiles = [FeatureBundle.manifestFile, FeatureBundle.examplesFile, FeatureBundle.promptsFile]
        for name in smallFiles {
            let reference = try contents(first.directory + "/" + name)
            for s in shards.dropFirst() where try contents(s.directory + "/" + name) != reference {
                throw InputError(file: s.directory + "/" + name, "differs from \(first.directory)/\(name): the shards come from different extractions")
            }
        }
        let manifest = try BundleManifest.read(path: first.directory + "/" + FeatureBundle.manifestFile)
        // The tail is the checkpoint's, the same in every shard: kept once.
        let tailFiles = manifest.camTail == nil ? [] : [CAMTailFile.name]
        for name in tailFiles {
            let reference = try contents(first.directory + "/" + name)
            for s in shards.dropFirst() where try contents(s.directory + "/" + name) != reference {
                throw InputError(file: s.directory + "/" + name, "differs from \(first.directory)/\(name): the shards come from different checkpoints")
            }
        }
        for name in sharedTensors {
            let reference = try first.features.floats(name)
            for s in shards.dropFirst() where try s.features.floats(name) != reference {
                throw InputError(file: s.directory + "/" + FeatureBundle.featuresFile, field: "tensor '\(name)'",
                                 "differs from the first shard's: the shards come from different checkpoints")
            }
        }
        for (key, tensor, range, total) in [("rows", "image_pooled", \Shard.rows, \Shard.totalRows),
                                            ("prompt_rows", "text_prompts", \Shard.promptRows, \Shard.totalPrompts)] {
            var expected = 0
            for s in shards {
                let r = s[keyPath: range]
                guard r.lowerBound == expected, (try s.features.info(tensor)).shape.first == r.count else {
                    throw InputError(file: s.directory + "/" + ExtractionPlan.shardFile, field: key,
                                     "rows \(r.lowerBound)..<\(r.upperBound) do not continue the previous shard's (expected to start at \(expected), with \(r.count) rows of '\(tensor)')")
                }
                expected = r.upperBound
            }
            guard expected == first[keyPath: total] else {
                throw InputError(file: shards[shards.count - 1].directory + "/" + ExtractionPlan.shardFile, field: key,
                                 "the shards end at row \(expected), expected \(first[keyPath: total])")
            }
        }

        try BundleWriter.writeDirectory(ExtractionDataset.absolute(out), overwrite: overwrite) { staging in
            for name in smallFiles + tailFiles {
                try AtomicFile.write(try contents(first.directory + "/" + name), to: staging + "/" + name)
            }
            for s in shards {
                for sub in [ExtractionPlan.viewDirectory, ExtractionPlan.maskDirectory] {
                    try copyFiles(from: s.directory + "/" + sub, to: staging + "/" + sub)
                }
            }
            var declarations: [SafetensorsRowFile.Declaration] = []
            for name in manifest.tensors {
                let t = try first.features.info(name)
                var shape = t.shape
                if !sharedTensors.contains(name) { shape[0] = try shards.reduce(0) { $0 + (try $1.features.info(name)).shape[0] } }
                declarations.append(.init(name, t.dtype, shape))
            }
            let file = try SafetensorsRowFile(path: staging + "/" + FeatureBundle.featuresFile, tensors: declarations,
                                              metadata: first.features.metadata)
            for d in declarations {
                if sharedTensors.contains(d.name) {
                    try file.writeRows(d.name, start: 0, try first.features.floats(d.name))
                    continue
                }
                var row = 0
                let perRow = d.shape.dropFirst().reduce(1, *)
                let step = max(1, blockElements / max(perRow, 1))
                for s in shards {
                    let t = try s.features.info(d.name)
                    var a = 0
                    while a < t.shape[0] {
                        let b = min(t.shape[0], a + step)
                        try file.writeRows(d.name, start: row + a, try s.features.floats(t, elements: a * perRow ..< b * perRow))
                        a = b
                    }
                    row += t.shape[0]
                }
            }
            try file.synchronize()
        }
        return first.totalRows
    }

    private static func readShard(_ directory: String) throws -> Shard {
        let path = directory + "/" + ExtractionPlan.shardFile
        let data = try contents(path)
        guard let info = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw InputError(file: path, "is not valid JSON")
        }
        func int(_ key: String) throws -> Int {
            guard let v = info[key] as? Int else { throw InputError(file: path, field: key, "is missing or not an integer") }
            return v
        }
        func range(_ key: String) throws -> Range<Int> {
            guard let v = info[key] as? [Int], v.count == 2, v[0] <= v[1] else {
                throw InputError(file: path, field: key, "is not a pair [begin, end] of rows")
            }
            return v[0] ..< v[1]
        }
        return Shard(index: try int("shard"), of: try int("of"), directory: directory, rows: try range("rows"),
                     promptRows: try range("prompt_rows"), totalRows: try int("total_rows"), totalPrompts: try int("total_prompts"),
                     features: try SafetensorsFile(path: directory + "/" + FeatureBundle.featuresFile))
    }

    private static func contents(_ path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError(file: path, "does not exist") }
        return data
    }

    /// Each shard wrote the views of its own rows: hard links where the
    /// file system allows (no copy of a dataset's pictures), else copies.
    private static func copyFiles(from source: String, to target: String) throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: source) else { return }
        try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in names {
            let a = source + "/" + name, b = target + "/" + name
            if (try? fm.linkItem(atPath: a, toPath: b)) == nil {
                do { try fm.copyItem(atPath: a, toPath: b) } catch {
                    throw InputError(file: a, "cannot be copied into the merged bundle: \(error.localizedDescription)")
                }
            }
        }
    }
}
