import SpurCore

/// The classifier a CLIP-style head defines: `argmax_y ⟨v_i, c_y⟩` with
/// `c_y = normalize(mean_k normalize(W_t u_{y,k}))` over the templates.
/// Methods that fit or construct the class side instead (`dfr`,
/// `orth-proj`) give their own `[C, E]` matrix, scale and bias: the logits
/// are `scale·⟨v_i, c_y⟩ + bias_y` either way.
public struct HeadClassifier: Sendable {
    /// `[C, E]`: unit rows when made from the class prompts.
    public let classEmbeddings: Matrix
    public let heads: ProjectionHeads
    /// Multiplies the similarities: the head's `s` for text-derived classes.
    public let scale: Float
    /// Per-class offset, zero for text-derived classes.
    public let bias: [Float]

    /// `classTemplates` row `c·K + k` is template `k` filled with class `c`.
    public init(heads: ProjectionHeads, classTemplates: Matrix, templateCount k: Int) {
        let t = Matrix.product(classTemplates, heads.text, transposeB: true).normalizedRows().output
        self.init(heads: heads, classEmbeddings: t.meanOfRowBlocks(k).normalizedRows().output, scale: heads.scale)
    }

    /// A class side given directly, `[C, E]`, on the image embeddings of `heads`.
    public init(heads: ProjectionHeads, classEmbeddings: Matrix, scale: Float, bias: [Float]? = nil) {
        precondition(classEmbeddings.cols == heads.embeddingDim, "class embeddings of width \(classEmbeddings.cols), embedding \(heads.embeddingDim)")
        precondition(bias == nil || bias!.count == classEmbeddings.rows, "one bias per class")
        self.heads = heads
        self.classEmbeddings = classEmbeddings
        self.scale = scale
        self.bias = bias ?? [Float](repeating: 0, count: classEmbeddings.rows)
    }

    /// `s·⟨v_i, c_y⟩ + b_y` for every image and class, `[N, C]`.
    public func logits(_ images: Matrix) -> Matrix {
        let v = Matrix.product(images, heads.image, transposeB: true).normalizedRows().output
        var z = Matrix.product(v, classEmbeddings, transposeB: true, alpha: scale)
        if bias.contains(where: { $0 != 0 }) {
            for i in 0..<z.rows { for c in 0..<z.cols { z[i, c] += bias[c] } }
        }
        return z
    }

    public func predict(_ images: Matrix) -> [Int] { logits(images).argmaxRows() }
}

/// Accuracy per group `g = (class, attribute value)` and the summaries of
/// DESIGN.md "Metrics": worst group over non-empty groups, plain mean, and
/// the average adjusted to the training set's group shares (Sagawa et al.).
public struct GroupAccuracy: Equatable, Sendable {
    public struct Group: Hashable, Comparable, Sendable {
        public var label: Int
        public var value: Int
        public init(label: Int, value: Int) { self.label = label; self.value = value }
        public static func < (a: Group, b: Group) -> Bool { (a.label, a.value) < (b.label, b.value) }
    }

    public var correct: [Group: Int] = [:]
    public var total: [Group: Int] = [:]

    public init() {}

    /// Examples whose attribute value is unknown (negative) are in no group.
    public init(labels: [Int], predictions: [Int], values: [Int]) {
        for i in labels.indices where values[i] >= 0 {
            let g = Group(label: labels[i], value: values[i])
            total[g, default: 0] += 1
            if predictions[i] == labels[i] { correct[g, default: 0] += 1 }
        }
    }

    public var groups: [Group] { total.keys.filter { total[$0]! > 0 }.sorted() }

    public func accuracy(_ g: Group) -> Double? {
        guard let n = total[g], n > 0 else { return nil }
        return Double(correct[g] ?? 0) / Double(n)
    }

    /// `min_g acc_g` over groups with at least one example.
    public var worstGroup: (group: Group, accuracy: Double)? {
        groups.map { ($0, accuracy($0)!) }.min { $0.1 < $1.1 }
    }

    public var bestGroup: (group: Group, accuracy: Double)? {
        groups.map { ($0, accuracy($0)!) }.max { $0.1 < $1.1 }
    }

    /// Accuracy over all examples in a group.
    public var average: Double {
        let n = total.values.reduce(0, +)
        return n == 0 ? 0 : Double(correct.values.reduce(0, +)) / Double(n)
    }

    /// `Σ_g share_g · acc_g` with `share_g` the group's share of `weights`
    /// (the training counts); groups absent here are skipped and the shares
    /// of the rest renormalised.
    public func adjustedAverage(weights: [Group: Int]) -> Double {
        var num = 0.0, den = 0.0
        for g in groups {
            let w = Double(weights[g] ?? 0)
            num += w * accuracy(g)!
            den += w
        }
        return den == 0 ? 0 : num / den
    }
}
