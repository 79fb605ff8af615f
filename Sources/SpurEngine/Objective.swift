import SpurCore
import Foundation

/// The loss terms of DESIGN.md. `ce` is the classification cross-entropy of
/// ERM and Group DRO; the others are the paper's contrastive terms.
public enum LossTerm: String, CaseIterable, Sendable, Comparable {
    case clip, vc, lc, vs, ls, ce
    /// StarFT's regulariser: KL between the frozen and the current model's
    /// distributions over other classes' spuriosity-injected captions.
    case star

    /// The paper's full objective (`ours`): all five contrastive terms.
    public static let contrastive: [LossTerm] = [.clip, .vc, .lc, .vs, .ls]

    public static func < (a: LossTerm, b: LossTerm) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One mini-batch of cached encoder outputs, everything a loss step reads.
///
/// Text features are grouped the way the terms use them:
/// `classTemplates` row `c·K + k` is template `k` filled with class `c`;
/// `groupTemplates` holds blocks of `K` rows, one block per text group: with
/// one attribute, block `c·2 + a` is "`{class c} {phrase_a}`" (`a = 0`
/// absent, `1` present); with several, block `(c·J + j)·2 + a`.
public struct LossBatch: Sendable {
    public var images: Matrix            // [B, Dv]
    public var labels: [Int]             // [B], in 0..<C
    /// [B]: the example's value of the spurious attribute(s), in
    /// `0..<attributeValues` (one attribute: 1 present, 0 absent; several:
    /// their bits), or −1 when unknown.
    public var attributes: [Int]
    public var attributeValues: Int = 2
    /// StarFT: the text features of each example's spuriosity-injected caption `[B, Dt]`.
    public var spuriousCaptions: Matrix?
    public var captions: Matrix          // [B, Dt]
    public var classTemplates: Matrix    // [C·K, Dt]
    public var groupTemplates: Matrix    // [C·2·K, Dt]
    public var classCount: Int
    public var templateCount: Int

    public init(images: Matrix, labels: [Int], attributes: [Int], captions: Matrix,
                classTemplates: Matrix, groupTemplates: Matrix, classCount: Int, templateCount: Int) {
        self.images = images
        self.labels = labels
        self.attributes = attributes
        self.captions = captions
        self.classTemplates = classTemplates
        self.groupTemplates = groupTemplates
        self.classCount = classCount
        self.templateCount = templateCount
    }

    public var size: Int { images.rows }
}

/// The value of each selected term, the weighted total and its gradients.
public struct ObjectiveResult: Sendable {
    public var values: [LossTerm: Float]
    public var total: Float
    public var gradients: HeadGradients
    /// Per-example classification losses when `ce` was evaluated.
    public var perExampleCrossEntropy: [Float]?
}

/// `L = Σ_term λ_term · L_term` with its analytic gradient with respect to
/// `W_v`, `W_t` and `logitScale`.
public struct Objective: Sendable {
    public var terms: [LossTerm]
    public var weights: [LossTerm: Float]
    /// Per-example weights for `ce` (SFR, Group DRO); nil means unit weights.
    public var exampleWeights: [Float]?
    /// StarFT's frozen original model, the reference of `star`.
    public var originalHeads: ProjectionHeads?

    public init(terms: [LossTerm], weights: [LossTerm: Float] = [:], exampleWeights: [Float]? = nil,
                originalHeads: ProjectionHeads? = nil) {
        self.terms = Array(Set(terms)).sorted()
        self.weights = weights
        self.exampleWeights = exampleWeights
        self.originalHeads = originalHeads
    }

    public func weight(_ term: LossTerm) -> Float { weights[term] ?? 1 }

    /// Group id of example `i` for `L_vs`: `2·y + a`, or −1 when `a` is unknown.
    public static func imageGroups(labels: [Int], attributes: [Int], values: Int = 2) -> [Int] {
        zip(labels, attributes).map { y, a in a < 0 ? -1 : values * y + a }
    }

    public func evaluate(_ heads: ProjectionHeads, on batch: LossBatch) -> ObjectiveResult {
        let s = heads.scale
        let has = Set(terms)
        var values: [LossTerm: Float] = [:]
        var total: Float = 0
        var dScale: Float = 0
        var grads = HeadGradients.zeros(like: heads)
        var perExample: [Float]?

        // Image side: v = normalize(W_v x).
        let needsImages = !has.isDisjoint(with: [.clip, .vc, .vs, .ce, .star])
        var imageForward: NormalizedRows?
        var dV = Matrix(rows: batch.size, cols: heads.embeddingDim)
        if needsImages {
            imageForward = Matrix.product(batch.images, heads.image, transposeB: true).normalizedRows()
        }

        // Text side, one block per kind of prompt: t = normalize(W_t u).
        func encode(_ u: Matrix) -> NormalizedRows {
            Matrix.product(u, heads.text, transposeB: true).normalizedRows()
        }
        var textBlocks: [(input: Matrix, forward: NormalizedRows, gradient: Matrix)] = []
        func addBlock(_ u: Matrix) -> Int {
            textBlocks.append((u, encode(u), Matrix(rows: u.rows, cols: heads.embeddingDim)))
            return textBlocks.count - 1
        }
        let captionBlock = has.contains(.clip) ? addBlock(batch.captions) : nil
        let classBlock = !has.isDisjoint(with: [.lc, .ce]) ? addBlock(batch.classTemplates) : nil
        let groupBlock = has.contains(.ls) ? addBlock(batch.groupTemplates) : nil
        let starBlock = has.contains(.star) ? addBlock(batch.spuriousCaptions!) : nil
        let k = batch.templateCount

        for term in terms {
            let λ = weight(term)
            switch term {
            case .clip:
                let b = captionBlock!
                let r = ContrastiveTerms.clip(images: imageForward!.output, captions: textBlocks[b].forward.output, scale: s)
                values[term] = r.value
                dV.add(r.dFirst, scaledBy: λ)
                textBlocks[b].gradient.add(r.dSecond!, scaledBy: λ)
                total += λ * r.value; dScale += λ * r.dScale
            case .vc, .vs:
                let groups = term == .vc ? batch.labels
                    : Self.imageGroups(labels: batch.labels, attributes: batch.attributes, values: batch.attributeValues)
                let r = ContrastiveTerms.supervisedContrastive(imageForward!.output, groups: groups, scale: s)
                values[term] = r.value
                dV.add(r.dFirst, scaledBy: λ)
                total += λ * r.value; dScale += λ * r.dScale
            case .lc, .ls:
                let b = term == .lc ? classBlock! : groupBlock!
                let rows = textBlocks[b].forward.output.rows
                let groups = (0..<rows).map { $0 / k }
                let r = ContrastiveTerms.supervisedContrastive(textBlocks[b].forward.output, groups: groups, scale: s)
                values[term] = r.value
                textBlocks[b].gradient.add(r.dFirst, scaledBy: λ)
                total += λ * r.value; dScale += λ * r.dScale
            case .ce:
                // c_y = normalize(mean_k t_{y,k}).
                let b = classBlock!
                let classForward = textBlocks[b].forward.output.meanOfRowBlocks(k).normalizedRows()
                let (r, per) = ContrastiveTerms.classification(
                    images: imageForward!.output, classes: classForward.output,
                    labels: batch.labels, weights: exampleWeights, scale: s)
                values[term] = r.value
                perExample = per
                dV.add(r.dFirst, scaledBy: λ)
                let dMean = Matrix.normalizeRowsBackward(classForward, gradient: r.dSecond!)
                // The mean spreads each class's gradient evenly over its templates.
                for row in 0..<textBlocks[b].gradient.rows {
                    let c = row / k
                    for col in 0..<dMean.cols {
                        textBlocks[b].gradient[row, col] += λ * dMean[c, col] / Float(k)
                    }
                }
                total += λ * r.value; dScale += λ * r.dScale
            case .star:
                let b = starBlock!
                let original = originalHeads!
                let r = ContrastiveTerms.spuriousAlignment(
                    images: imageForward!.output, captions: textBlocks[b].forward.output,
                    originalImages: Matrix.product(batch.images, original.image, transposeB: true).normalizedRows().output,
                    originalCaptions: Matrix.product(batch.spuriousCaptions!, original.text, transposeB: true).normalizedRows().output,
                    labels: batch.labels, scale: original.scale)
                values[term] = r.value
                dV.add(r.dFirst, scaledBy: λ)
                textBlocks[b].gradient.add(r.dSecond!, scaledBy: λ)
                total += λ * r.value   // the scale is the frozen s⁰: no gradient to logitScale
            }
        }

        if let imageForward {
            let dZ = Matrix.normalizeRowsBackward(imageForward, gradient: dV)
            Matrix.gemm(dZ, transposeA: true, batch.images, into: &grads.image)
        }
        for block in textBlocks {
            let dZ = Matrix.normalizeRowsBackward(block.forward, gradient: block.gradient)
            Matrix.gemm(dZ, transposeA: true, block.input, beta: 1, into: &grads.text)
        }
        grads.logitScale = dScale * heads.scaleDerivative
        return ObjectiveResult(values: values, total: total, gradients: grads, perExampleCrossEntropy: perExample)
    }
}
