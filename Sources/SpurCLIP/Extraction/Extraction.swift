import Foundation
import SpurCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress of an extraction, for a line on a terminal.
public struct ExtractionProgress: Sendable {
    public enum Phase: String, Sendable { case prompts, images }
    public var phase: Phase
    public var done: Int
    public var total: Int
    /// Rows done before this run started (a resumed extraction).
    public var resumedFrom: Int
    public var elapsed: Double
}

/// Writes a plan's bundle. The files go to a hidden sibling of the output,
/// `.NAME.partial`, renamed into place when complete; each batch of images
/// is flushed and then recorded in `progress.json` there, so a run that is
/// killed is resumed by running the same command again (a different plan
/// starts afresh). Memory is one batch, whatever the dataset's size.
public final class Extraction {
    public let plan: ExtractionPlan
    public let out: String
    public var batchSize = 32
    public var textBatchSize = 256
    /// Filled in as the run goes (`spurscope extract --timings`).
    public let timings = ExtractionTimings()

    static let progressFile = "progress.json"
    static let lockFile = ".lock"

    struct Record: Codable, Equatable {
        var promptsDone: Bool
        var imagesDone: Int
        enum CodingKeys: String, CodingKey { case promptsDone = "prompts_done", imagesDone = "images_done" }
    }

    public init(plan: ExtractionPlan, out: String) {
        self.plan = plan
        self.out = ExtractionDataset.absolute(out)
    }

    public var stagingDirectory: String {
        let parent = (out as NSString).deletingLastPathComponent
        return (parent as NSString).appendingPathComponent(".\((out as NSString).lastPathComponent).partial")
    }

    /// Runs to completion; `report` is called after every batch.
    /// Returns the rows that an earlier, interrupted run had already done.
    @discardableResult
    public func run(overwrite: Bool, report: (ExtractionProgress) -> Void = { _ in }) throws -> Int {
        let runStart = ExtractionTimings.now()
        defer { timings.setWalls(total: ExtractionTimings.now() - runStart) }
        let fm = FileManager.default
        if fm.fileExists(atPath: out) && !overwrite {
            throw InputError(file: out, "already exists", remedy: .replaceExisting)
        }
        let staging = stagingDirectory
        let lock = try Self.lock(staging)
        defer { close(lock) }
        var record = try resumableRecord(in: staging)
        let fresh = record == nil
        if fresh {
            try Self.clear(staging, keeping: Self.lockFile)
            for (name, bytes) in plan.files { try AtomicFile.write(bytes, to: staging + "/" + name) }
            if plan.options.views {
                try fm.createDirectory(atPath: staging + "/" + ExtractionPlan.viewDirectory, withIntermediateDirectories: true)
                if plan.dataset.items.contains(where: { !($0.extra["mask"] ?? "").isEmpty }) {
                    try fm.createDirectory(atPath: staging + "/" + ExtractionPlan.maskDirectory, withIntermediateDirectories: true)
                }
            }
            record = Record(promptsDone: false, imagesDone: 0)
        }
        let features = try SafetensorsRowFile(path: staging + "/" + FeatureBundle.featuresFile, tensors: plan.declarations,
                                              metadata: ["written_by": "spurscope extract", "model": plan.options.checkpoint],
                                              reuse: !fresh)
        var state = record!
        let started = Date()
        if !state.promptsDone {
            try timings.measure(.prompts, count: 0) {
                try features.writeRows("W_v", start: 0, plan.imageTower.projection.values)
                try features.writeRows("W_t", start: 0, plan.textTower.projection.values)
                try features.writeRows("logit_scale", start: 0, [plan.logitScale])
            }
            let prompts = Array(plan.prompts[plan.promptRows])
            var a = 0
            while a < prompts.count {
                let chunk = prompts[a ..< min(prompts.count, a + textBatchSize)]
                let encoded = try timings.measure(.prompts) {
                    let tokens = chunk.map { plan.tokenizer.tokenize($0, contextLength: plan.textTower.shape.contextLength).ids }
                    return try plan.textTower.features(tokens: tokens).storage
                }
                try timings.measure(.prompts, count: 0) { try features.writeRows("text_prompts", start: a, encoded) }
                a += chunk.count
                report(ExtractionProgress(phase: .prompts, done: a, total: prompts.count, resumedFrom: 0,
                                          elapsed: Date().timeIntervalSince(started)))
            }
            try timings.measure(.prompts, count: 0) {
                try features.synchronize()
                state.promptsDone = true
                try save(state, in: staging)
            }
        }
        let resumedFrom = state.imagesDone
        let count = plan.rows.count
        let imageStart = Date()
        let imagesStart = ExtractionTimings.now()
        let images = ImageBatches(plan: plan, staging: staging, rows: plan.rows.lowerBound + state.imagesDone ..< plan.rows.upperBound,
                                  batchSize: batchSize, timings: timings)
        while let batch = try timings.measure(.waiting, { try images.next() }) {
            let f = try timings.measure(.tower) {
                try plan.imageTower.features(pixels: batch.pixels, count: batch.count, spatial: false,
                                             tailInput: plan.options.spatial)
            }
            let local = batch.firstRow - plan.rows.lowerBound
            try timings.measure(.write) {
                try features.writeRows("image_pooled", start: local, f.pooled)
                if let tail = f.tailInput { try features.writeRows(CAMTailFile.inputTensor, start: local, tail) }
                try features.synchronize()
                state.imagesDone = local + batch.count
                try save(state, in: staging)
            }
            report(ExtractionProgress(phase: .images, done: state.imagesDone, total: count, resumedFrom: resumedFrom,
                                      elapsed: Date().timeIntervalSince(imageStart)))
        }
        timings.setWalls(images: ExtractionTimings.now() - imagesStart)
        if count == 0 {
            report(ExtractionProgress(phase: .images, done: 0, total: 0, resumedFrom: 0, elapsed: 0))
        }
        try? fm.removeItem(atPath: staging + "/" + Self.progressFile)
        try? fm.removeItem(atPath: staging + "/" + Self.lockFile)
        try Self.moveIntoPlace(staging, out)
        return resumedFrom
    }

    /// The record of an interrupted run of this same plan, or nil.
    private func resumableRecord(in staging: String) throws -> Record? {
        guard let data = FileManager.default.contents(atPath: staging + "/" + Self.progressFile),
              let record = try? JSONDecoder().decode(Record.self, from: data) else { return nil }
        for (name, bytes) in plan.files where FileManager.default.contents(atPath: staging + "/" + name) != bytes {
            return nil
        }
        guard record.imagesDone >= 0, record.imagesDone <= plan.rows.count else { return nil }
        return record
    }

    private func save(_ record: Record, in staging: String) throws {
        try AtomicFile.write(try JSONEncoder().encode(record), to: staging + "/" + Self.progressFile)
    }

    /// One extraction per output at a time: a second one would write the
    /// same rows. The lock goes with the process, so a killed run leaves none.
    private static func lock(_ staging: String) throws -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        } catch {
            throw InputError(file: staging, "cannot be created: \(error.localizedDescription)")
        }
        let fd = open(staging + "/" + lockFile, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw InputError(file: staging, "cannot hold a lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw InputError(file: staging, "is being written by another extraction (wait for it, or stop it first)")
        }
        return fd
    }

    private static func clear(_ directory: String, keeping kept: String) throws {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where name != kept {
            try fm.removeItem(atPath: directory + "/" + name)
        }
    }

    static func moveIntoPlace(_ staging: String, _ out: String) throws {
        let fm = FileManager.default
        let old = "\(staging).old"
        try? fm.removeItem(atPath: old)
        let replacing = fm.fileExists(atPath: out)
        do {
            if replacing { try fm.moveItem(atPath: out, toPath: old) }
            try fm.moveItem(atPath: staging, toPath: out)
        } catch {
            throw InputError(file: out, "cannot be put in place: \(error.localizedDescription)")
        }
        if replacing { try? fm.removeItem(atPath: old) }
    }
}
