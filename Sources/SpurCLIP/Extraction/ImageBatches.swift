import Dispatch
import Foundation
import SpurCore

/// A batch of images ready for the tower: rows `firstRow ..< firstRow + count`.
struct PreparedBatch: Sendable {
    var firstRow: Int
    var count: Int
    /// `[count, 3, S, S]`, normalised.
    var pixels: [Float]
}

/// Decodes, pre-processes and (with views) stores the pictures of each
/// batch, one batch ahead of the tower: the next batch is prepared on other
/// threads while the tower computes this one, so decoding costs little
/// wall time when the tower dominates.
final class ImageBatches: @unchecked Sendable {
    // @unchecked: `pending` is touched only by the caller's thread; a
    // batch's result is written before its group is left and read after.
    private let plan: ExtractionPlan
    private let staging: String
    private let batchSize: Int
    private var nextStart: Int
    private let end: Int
    private var pending: (group: DispatchGroup, result: ResultBox)?
    private let timings: ExtractionTimings

    private final class ResultBox: @unchecked Sendable {
        var value: Result<PreparedBatch, Error> = .failure(CancellationError())
    }

    init(plan: ExtractionPlan, staging: String, rows: Range<Int>, batchSize: Int, timings: ExtractionTimings = ExtractionTimings()) {
        self.plan = plan
        self.timings = timings
        self.staging = staging
        self.batchSize = max(1, batchSize)
        nextStart = rows.lowerBound
        end = rows.upperBound
        startNext()
    }

    func next() throws -> PreparedBatch? {
        guard let (group, box) = pending else { return nil }
        group.wait()
        pending = nil
        let batch = try box.value.get()
        startNext()
        return batch
    }

    private func startNext() {
        guard nextStart < end else { return }
        let rows = nextStart ..< min(end, nextStart + batchSize)
        nextStart = rows.upperBound
        let group = DispatchGroup(), box = ResultBox()
        let plan = self.plan, staging = self.staging, timings = self.timings
        group.enter()
        DispatchQueue.global().async {
            box.value = Result { try Self.prepare(rows, plan: plan, staging: staging, timings: timings) }
            group.leave()
        }
        pending = (group, box)
    }

    private static func prepare(_ rows: Range<Int>, plan: ExtractionPlan, staging: String, timings: ExtractionTimings) throws -> PreparedBatch {
        let side = plan.preprocessing.size
        let perImage = 3 * side * side
        var pixels = [Float](repeating: 0, count: rows.count * perImage)
        var errors = [Error?](repeating: nil, count: rows.count)
        pixels.withUnsafeMutableBufferPointer { out in
            errors.withUnsafeMutableBufferPointer { failed in
                let out = UnsafeSendable(out), failed = UnsafeSendable(failed)
                DispatchQueue.concurrentPerform(iterations: rows.count) { k in
                    do {
                        let values = try prepareOne(rows.lowerBound + k, plan: plan, staging: staging, timings: timings)
                        _ = UnsafeMutableBufferPointer(rebasing: out.value[k * perImage ..< (k + 1) * perImage]).update(from: values)
                    } catch {
                        failed.value[k] = error
                    }
                }
            }
        }
        if let error = errors.compactMap({ $0 }).first { throw error }
        return PreparedBatch(firstRow: rows.lowerBound, count: rows.count, pixels: pixels)
    }

    private static func prepareOne(_ row: Int, plan: ExtractionPlan, staging: String, timings: ExtractionTimings) throws -> [Float] {
        let item = plan.dataset.items[row]
        let picture = try timings.measure(.decode) { try ImageFile.read(path: item.image) }
        let view = timings.measure(.preprocess) { plan.preprocessing.view(of: picture) }
        if plan.options.views {
            let t0 = ExtractionTimings.now()
            defer { timings.add(.views, seconds: ExtractionTimings.now() - t0) }
            try ImageFile.writePNG(view, to: staging + "/" + ExtractionPlan.viewPath(row))
            if let mask = item.extra["mask"], !mask.isEmpty {
                let picture: RGBImage
                do { picture = try ImageFile.read(path: mask) } catch let e as InputError {
                    throw InputError(file: mask, "cannot be read as a mask image: \(e.problem)")
                }
                try ImageFile.writePNG(plan.preprocessing.view(of: picture),
                                       to: staging + "/" + ExtractionPlan.viewPath(row, directory: ExtractionPlan.maskDirectory))
            }
        }
        return timings.measure(.preprocess, count: 0) { plan.preprocessing.pixels(of: view) }
    }
}

/// A buffer handed to `concurrentPerform`'s workers, each writing only its
/// own disjoint part.
private struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
