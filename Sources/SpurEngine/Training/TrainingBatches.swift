import Foundation
import SpurCore

extension Trainer {
    /// Training group of each training example: class × attribute value, or
    /// the class alone when the value is unknown.
    func trainGroups() -> [Int] {
        zip(data.train.labels, data.train.values).map { y, v in v < 0 ? -1 : y * data.valueCount + v }
    }

    func groupCounts(_ groups: [Int]) -> [Int] {
        var c = [Int](repeating: 0, count: data.classes.count * data.valueCount)
        for g in groups where g >= 0 { c[g] += 1 }
        return c
    }

    /// The epoch's example order: a shuffle, or group-balanced draws with
    /// replacement (each example weighted 1 / its group's size).
    func batchOrder(epoch: Int, groups: [Int]) -> [Int] {
        var rng = SeededGenerator(seed: config.seed, purpose: "order-epoch-\(epoch)")
        let n = data.train.rows.count
        switch config.sampler {
        case .natural:
            var order = Array(0..<n)
            order.shuffle(using: &rng)
            return order
        case .groupBalanced:
            // Unknown values are grouped by class alone.
            let keys = zip(groups, data.train.labels).map { g, y in g >= 0 ? g : -1 - y }
            var members: [Int: [Int]] = [:]
            for (i, k) in keys.enumerated() { members[k, default: []].append(i) }
            let groupKeys = members.keys.sorted()
            return (0..<n).map { _ in
                let k = groupKeys[Int(rng.next() % UInt64(groupKeys.count))]
                let m = members[k]!
                return m[Int(rng.next() % UInt64(m.count))]
            }
        }
    }

    /// One step's batch. The random stream is drawn in a fixed order (the
    /// method's image perturbation, captions, templates, then the method's
    /// additions), so a resumed run replays the same batches.
    func makeBatch(_ idx: [Int], hooks: any TrainingHooks, rng: inout SeededGenerator) -> LossBatch {
        let k = data.templateCount
        var images = data.train.images.gatherRows(idx)
        hooks.perturbImages(&images, rng: &rng)
        let labels = idx.map { data.train.labels[$0] }
        // Each example's caption: a template drawn uniformly, filled with its class.
        let captionRows = labels.map { $0 * k + Int(rng.next() % UInt64(k)) }
        var batch = LossBatch(images: images, labels: labels, attributes: idx.map { data.train.values[$0] },
                              captions: data.classTemplates.gatherRows(captionRows),
                              classTemplates: data.classTemplates, groupTemplates: data.groupTemplates,
                              classCount: data.classes.count, templateCount: k)
        batch.attributeValues = data.valueCount
        if config.templatesPerStep > 0 && config.templatesPerStep < k {
            var chosen = Array(0..<k)
            chosen.shuffle(using: &rng)
            chosen = Array(chosen.prefix(config.templatesPerStep)).sorted()
            let blocks = data.groupTemplates.rows / k
            batch.classTemplates = data.classTemplates.gatherRows((0..<data.classes.count).flatMap { c in chosen.map { c * k + $0 } })
            batch.groupTemplates = data.groupTemplates.gatherRows((0..<blocks).flatMap { b in chosen.map { b * k + $0 } })
            batch.templateCount = chosen.count
        }
        hooks.completeBatch(&batch, captionRows: captionRows, rng: &rng)
        if data.attributePrompts.rows > 0 { batch.attributePrompts = data.attributePrompts }
        return batch
    }
}
