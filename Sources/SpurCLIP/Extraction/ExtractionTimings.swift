import Dispatch
import Foundation

/// Where an extraction's time goes, stage by stage: busy wall time summed
/// over the calls of each stage. The stages of the main thread (prompts,
/// waiting, tower, write) follow one another, so their sum is at most the
/// run's wall time. Those of the prefetch (decode, preprocess, views) run
/// on other threads while the tower computes — several images at once — so
/// their busy time can exceed the wall time they cost; `waiting` is the
/// part of it the tower did not hide.
public final class ExtractionTimings: @unchecked Sendable {
    // @unchecked: every access to `entries` holds `lock`.
    public enum Stage: String, CaseIterable, Sendable {
        /// Tokenizing the prompt table, the text tower, and writing and
        /// syncing its rows (with `W_v`, `W_t`): everything before the images.
        case prompts
        /// Reading and decoding each image file, turned upright by its EXIF orientation.
        case decode
        /// Resize, centre crop and normalisation to the tower's input.
        case preprocess
        /// The PNGs of the model's views (and masks) in the bundle.
        case views
        /// The main thread waiting for the prefetch to hand over the next batch.
        case waiting
        /// The image tower's forward passes.
        case tower
        /// An image batch's feature rows written and synced, `progress.json` saved.
        case write

        /// Whether the stage runs on the prefetch threads, beside the tower.
        public var isPrefetch: Bool { self == .decode || self == .preprocess || self == .views }
    }

    public struct Entry: Sendable, Equatable {
        public var seconds = 0.0
        /// Calls: images for the prefetch stages, batches (or prompt chunks) for the others.
        public var count = 0
    }

    private var entries: [Stage: Entry] = [:]
    private var walls: (images: Double, total: Double) = (0, 0)
    private let lock = NSLock()

    public init() {}

    public subscript(stage: Stage) -> Entry { lock.withLock { entries[stage] ?? Entry() } }

    /// Wall time from the first image batch requested to the last one written.
    public var imagesWallSeconds: Double { lock.withLock { walls.images } }
    /// Wall time of the whole run, from the lock taken to the bundle in place.
    public var totalWallSeconds: Double { lock.withLock { walls.total } }

    public var mainThreadSeconds: Double {
        Stage.allCases.filter { !$0.isPrefetch }.reduce(0) { $0 + self[$1].seconds }
    }

    public func add(_ stage: Stage, seconds: Double, count: Int = 1) {
        lock.withLock {
            var e = entries[stage] ?? Entry()
            e.seconds += seconds
            e.count += count
            entries[stage] = e
        }
    }

    public func setWalls(images: Double? = nil, total: Double? = nil) {
        lock.withLock {
            if let images { walls.images = images }
            if let total { walls.total = total }
        }
    }

    /// Runs `body`, adding its wall time to `stage`.
    public func measure<T>(_ stage: Stage, count: Int = 1, _ body: () throws -> T) rethrows -> T {
        let t0 = Self.now()
        defer { add(stage, seconds: Self.now() - t0, count: count) }
        return try body()
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
