import SpurCore

/// Which attributes are present in which examples, stored sparsely
/// (compressed rows: `attributes[offsets[e] ..< offsets[e+1]]`, sorted and
/// unique), so ImageNet-size data with ~10 attributes per image stays small.
public struct AttributePresence: Equatable, Sendable {
    public let exampleCount: Int
    public let attributeCount: Int
    public let offsets: [Int]
    public let attributes: [Int32]

    public init(exampleCount: Int, attributeCount: Int, offsets: [Int], attributes: [Int32]) {
        precondition(offsets.count == exampleCount + 1, "offsets must have one entry per example plus one")
        self.exampleCount = exampleCount
        self.attributeCount = attributeCount
        self.offsets = offsets
        self.attributes = attributes
    }

    public func present(in example: Int) -> ArraySlice<Int32> {
        attributes[offsets[example] ..< offsets[example + 1]]
    }

    public func contains(example: Int, attribute: Int) -> Bool {
        present(in: example).contains(Int32(attribute))
    }

    /// Attributes whose name is a class name are left out, as in the paper:
    /// "waterbird" present in a waterbird image says nothing spurious.
    public static func excludedAttributes(vocabulary: [String], classes: [String]) -> Set<Int> {
        let names = Set(classes.map { $0.lowercased() })
        return Set(vocabulary.indices.filter { names.contains(vocabulary[$0].lowercased()) })
    }

    /// From detector scores: present when the (best) score of an attribute in
    /// an example reaches its threshold. One counting-sort pass groups the
    /// detections by example; repeated detections of one attribute count once.
    public static func fromDetections(_ detections: [Detection], exampleCount n: Int, attributeCount a: Int,
                                      threshold: Float, perAttribute: [Int: Float] = [:],
                                      excluded: Set<Int> = []) -> AttributePresence {
        var cut = [Float](repeating: threshold, count: a)
        for (i, t) in perAttribute where i >= 0 && i < a { cut[i] = t }
        var keep = [Bool](repeating: true, count: a)
        for i in excluded where i >= 0 && i < a { keep[i] = false }
        var counts = [Int](repeating: 0, count: n + 1)
        for d in detections where keep[d.attribute] && d.score >= cut[d.attribute] { counts[d.example + 1] += 1 }
        for i in 0..<n { counts[i + 1] += counts[i] }
        var fill = counts
        var slots = [Int32](repeating: 0, count: counts[n])
        for d in detections where keep[d.attribute] && d.score >= cut[d.attribute] {
            slots[fill[d.example]] = Int32(d.attribute)
            fill[d.example] += 1
        }
        // Sort and de-duplicate each example's short list in place.
        var offsets = [Int](repeating: 0, count: n + 1)
        var out = [Int32]()
        out.reserveCapacity(slots.count)
        for e in 0..<n {
            var list = slots[counts[e] ..< counts[e + 1]]
            list.sort()
            var last: Int32 = -1
            for x in list where x != last { out.append(x); last = x }
            offsets[e + 1] = out.count
        }
        return AttributePresence(exampleCount: n, attributeCount: a, offsets: offsets, attributes: out)
    }

    /// The same from a bundle's compressed-row detections (already grouped
    /// by example, so no regrouping pass): an ImageNet-size table is one
    /// sequential scan.
    public static func fromDetections(_ table: DetectionTable, attributeCount a: Int,
                                      threshold: Float, perAttribute: [Int: Float] = [:],
                                      excluded: Set<Int> = []) -> AttributePresence {
        let n = table.exampleCount
        // One cut per attribute; an excluded attribute's cut is +∞ so no score reaches it.
        var cut = [Float](repeating: threshold, count: a)
        for (i, t) in perAttribute where i >= 0 && i < a { cut[i] = t }
        for i in excluded where i >= 0 && i < a { cut[i] = .infinity }
        var offsets = [Int](repeating: 0, count: n + 1)
        var out = [Int32]()
        out.reserveCapacity(table.count)
        var list: [Int32] = []
        cut.withUnsafeBufferPointer { cut in
            table.attributes.withUnsafeBufferPointer { attrs in
                table.scores.withUnsafeBufferPointer { scores in
                    table.offsets.withUnsafeBufferPointer { rows in
                        for e in 0..<n {
                            list.removeAll(keepingCapacity: true)
                            for i in rows[e] ..< rows[e + 1] where scores[i] >= cut[Int(attrs[i])] { list.append(attrs[i]) }
                            if list.count > 1 { list.sort() }
                            var last: Int32 = -1
                            for x in list where x != last { out.append(x); last = x }
                            offsets[e + 1] = out.count
                        }
                    }
                }
            }
        }
        return AttributePresence(exampleCount: n, attributeCount: a, offsets: offsets, attributes: out)
    }

    /// Zero-shot with the model itself: each attribute's prompt scored
    /// against every image embedding; present when the score is in the top
    /// `1 − quantile` of that attribute's scores over the examples.
    public static func zeroShot(heads: ProjectionHeads, images: Matrix, attributePrompts: Matrix,
                                quantile: Double, excluded: Set<Int> = []) -> AttributePresence {
        zeroShot(heads: heads, images: images, reference: images, attributePrompts: attributePrompts,
                 quantile: quantile, excluded: excluded)
    }

    /// The same with each attribute's cut taken over `reference` (a fixed
    /// population, the val split say) and applied to `images`: an image's
    /// presence then does not depend on which other images are scored.
    public static func zeroShot(heads: ProjectionHeads, images: Matrix, reference: Matrix, attributePrompts: Matrix,
                                quantile: Double, excluded: Set<Int> = []) -> AttributePresence {
        let t = Matrix.product(attributePrompts, heads.text, transposeB: true).normalizedRows().output
        func scores(_ x: Matrix) -> Matrix {   // [A, rows of x]
            let v = Matrix.product(x, heads.image, transposeB: true).normalizedRows().output
            return Matrix.product(t, v, transposeB: true)
        }
        let s = scores(images), r = scores(reference)
        let n = images.rows, m = reference.rows, a = attributePrompts.rows
        var lists = [[Int32]](repeating: [], count: n)
        for i in 0..<a where !excluded.contains(i) && m > 0 {
            let sorted = r.row(i).sorted()
            let cut = sorted[min(m - 1, max(0, Int((quantile * Double(m)).rounded(.down))))]
            let row = s.row(i)
            for (e, x) in row.enumerated() where x >= cut { lists[e].append(Int32(i)) }
        }
        var offsets = [0]
        var flat: [Int32] = []
        for l in lists { flat += l; offsets.append(flat.count) }
        return AttributePresence(exampleCount: n, attributeCount: a, offsets: offsets, attributes: flat)
    }

    /// The examples' rows only, renumbered `0..<rows.count`.
    public func restricted(to rows: [Int]) -> AttributePresence {
        var offsets = [0]
        var flat: [Int32] = []
        for r in rows { flat += present(in: r); offsets.append(flat.count) }
        return AttributePresence(exampleCount: rows.count, attributeCount: attributeCount, offsets: offsets, attributes: flat)
    }
}
