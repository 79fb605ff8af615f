/// A bundle's detections grouped by example in compressed rows: example
/// `e`'s detections are `attributes[offsets[e] ..< offsets[e + 1]]`, with
/// their scores at the same positions, in the order the detector wrote them.
///
/// This is the layout of `detections.safetensors`, so an ImageNet-size
/// bundle (12.8 M detections) loads with three copies out of a memory map
/// instead of a parse, and presence is computed without regrouping.
public struct DetectionTable: Equatable, Sendable {
    /// `exampleCount + 1` non-decreasing positions, from 0 to `count`.
    public let offsets: [Int]
    /// Indices into the manifest's attribute vocabulary.
    public let attributes: [Int32]
    public let scores: [Float]

    public var exampleCount: Int { offsets.count - 1 }
    public var count: Int { attributes.count }

    /// Arrays already in compressed-row form (a reader checks them first).
    public init(offsets: [Int], attributes: [Int32], scores: [Float]) {
        precondition(!offsets.isEmpty && offsets.first == 0 && offsets.last == attributes.count
                     && attributes.count == scores.count, "inconsistent compressed rows")
        self.offsets = offsets
        self.attributes = attributes
        self.scores = scores
    }

    /// Groups detections by example, keeping their order within an example
    /// (a stable counting sort).
    public init(exampleCount n: Int, detections: [Detection]) {
        var offsets = [Int](repeating: 0, count: n + 1)
        for d in detections { offsets[d.example + 1] += 1 }
        for e in 0..<n { offsets[e + 1] += offsets[e] }
        var fill = offsets
        var attributes = [Int32](repeating: 0, count: detections.count)
        var scores = [Float](repeating: 0, count: detections.count)
        for d in detections {
            attributes[fill[d.example]] = Int32(d.attribute)
            scores[fill[d.example]] = d.score
            fill[d.example] += 1
        }
        self.init(offsets: offsets, attributes: attributes, scores: scores)
    }

    /// The positions of example `e`'s detections.
    public func range(of example: Int) -> Range<Int> { offsets[example] ..< offsets[example + 1] }

    /// One `Detection` per entry, example by example (materialises the whole
    /// table: for small bundles and tests; large ones read the arrays).
    public var detections: [Detection] {
        var out: [Detection] = []
        out.reserveCapacity(count)
        for e in 0..<exampleCount {
            for i in range(of: e) { out.append(Detection(example: e, attribute: Int(attributes[i]), score: scores[i])) }
        }
        return out
    }
}
