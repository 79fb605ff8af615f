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
    /// The official form's attribute prompts `[J·2, Dt]`, row `2j + a`: the
    /// word of attribute `j`'s absent (`a = 0`) and present (`a = 1`) value,
    /// as in "a photo of land." / "a photo of water.".
    public var attributePrompts: Matrix?
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
    /// Which definitions `clip`, `vc`, `lc`, `vs` and `ls` follow: the
    /// paper's (CS construct) or the authors' code (`OfficialTerms`).
    public var form: TrainingConfig.LossForm

    public init(terms: [LossTerm], weights: [LossTerm: Float] = [:], exampleWeights: [Float]? = nil,
                originalHeads: ProjectionHeads? = nil, form: TrainingConfig.LossForm = .paper) {
        self.terms = Array(Set(terms)).sorted()
        self.weights = weights
        self.exampleWeights = exampleWeights
        self.originalHeads = originalHeads
        self.form = form
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
        let official = form == .official
        let captionBlock = has.contains(.clip) && !official ? addBlock(batch.captions) : nil
        // Class-template texts: L_lc, the classifier, and the official L_clip and L_ls.
        let usesClassTexts: Set<LossTerm> = official ? [.lc, .ce, .clip, .ls] : [.lc, .ce]
        let classBlock = !has.isDisjoint(with: usesClassTexts) ? addBlock(batch.classTemplates) : nil
        let groupBlock = has.contains(.ls) && !official ? addBlock(batch.groupTemplates) : nil
        let attributeBlock = official && !has.isDisjoint(with: [.ls, .vs]) ? addBlock(batch.attributePrompts!) : nil
        let starBlock = has.contains(.star) ? addBlock(batch.spuriousCaptions!) : nil
        let k = batch.templateCount
        // c_y = normalize(mean_k t_{y,k}), for the terms that classify against classes;
        // their gradients meet in dClasses and flow back once, after the loop.
        let needsClasses = has.contains(.ce) || (official && has.contains(.clip))
        let classForward = needsClasses ? textBlocks[classBlock!].forward.output.meanOfRowBlocks(k).normalizedRows() : nil
        var dClasses = Matrix(rows: needsClasses ? batch.classCount : 0, cols: heads.embeddingDim)

        func accumulate(_ term: LossTerm, _ r: EmbeddingLoss, scaled λ: Float) {
            values[term] = r.value
            total += λ * r.value; dScale += λ * r.dScale
        }

        for term in terms {
            let λ = weight(term)
            switch (term, official) {
            case (.clip, false):
                let b = captionBlock!
                let r = ContrastiveTerms.clip(images: imageForward!.output, captions: textBlocks[b].forward.output, scale: s)
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
                textBlocks[b].gradient.add(r.dSecond!, scaledBy: λ)
            case (.clip, true):
                let r = OfficialTerms.clipAgainstClasses(images: imageForward!.output, classes: classForward!.output,
                                                         labels: batch.labels, scale: s)
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
                dClasses.add(r.dSecond!, scaledBy: λ)
            case (.vc, false), (.vs, false):
                let groups = term == .vc ? batch.labels
                    : Self.imageGroups(labels: batch.labels, attributes: batch.attributes, values: batch.attributeValues)
                let r = ContrastiveTerms.supervisedContrastive(imageForward!.output, groups: groups, scale: s)
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
            case (.vc, true):
                let r = OfficialTerms.meanCosine(imageForward!.output, groups: batch.labels)
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
            case (.vs, true):
                let b = attributeBlock!
                let r = OfficialTerms.attributeValueCrossEntropy(images: imageForward!.output, prompts: textBlocks[b].forward.output,
                                                                 values: batch.attributes, scale: s)
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
                textBlocks[b].gradient.add(r.dSecond!, scaledBy: λ)
            case (.lc, false), (.ls, false):
                let b = term == .lc ? classBlock! : groupBlock!
                let rows = textBlocks[b].forward.output.rows
                let groups = (0..<rows).map { $0 / k }
                let r = ContrastiveTerms.supervisedContrastive(textBlocks[b].forward.output, groups: groups, scale: s)
                accumulate(term, r, scaled: λ)
                textBlocks[b].gradient.add(r.dFirst, scaledBy: λ)
            case (.lc, true):
                let b = classBlock!
                let groups = (0..<textBlocks[b].forward.output.rows).map { $0 / k }
                let r = OfficialTerms.meanCosine(textBlocks[b].forward.output, groups: groups)
                accumulate(term, r, scaled: λ)
                textBlocks[b].gradient.add(r.dFirst, scaledBy: λ)
            case (.ls, true):
                let (c, a) = (classBlock!, attributeBlock!)
                let r = OfficialTerms.absoluteCosine(textBlocks[c].forward.output, textBlocks[a].forward.output)
                accumulate(term, r, scaled: λ)
                textBlocks[c].gradient.add(r.dFirst, scaledBy: λ)
                textBlocks[a].gradient.add(r.dSecond!, scaledBy: λ)
            case (.ce, _):
                let (r, per) = ContrastiveTerms.classification(
                    images: imageForward!.output, classes: classForward!.output,
                    labels: batch.labels, weights: exampleWeights, scale: s)
                accumulate(term, r, scaled: λ)
                perExample = per
                dV.add(r.dFirst, scaledBy: λ)
                dClasses.add(r.dSecond!, scaledBy: λ)
            case (.star, _):
                let b = starBlock!
                let original = originalHeads!
                let r = ContrastiveTerms.spuriousAlignment(
                    images: imageForward!.output, captions: textBlocks[b].forward.output,
                    originalImages: Matrix.product(batch.images, original.image, transposeB: true).normalizedRows().output,
                    originalCaptions: Matrix.product(batch.spuriousCaptions!, original.text, transposeB: true).normalizedRows().output,
                    labels: batch.labels, scale: original.scale)
                // The scale is the frozen s⁰: r.dScale is 0, no gradient to logitScale.
                accumulate(term, r, scaled: λ)
                dV.add(r.dFirst, scaledBy: λ)
                textBlocks[b].gradient.add(r.dSecond!, scaledBy: λ)
            }
        }

        if let classForward {
            let dMean = Matrix.normalizeRowsBackward(classForward, gradient: dClasses)
            // The mean spreads each class's gradient evenly over its templates.
            let b = classBlock!
            for row in 0..<textBlocks[b].gradient.rows {
                let c = row / k
                for col in 0..<dMean.cols {
                    textBlocks[b].gradient[row, col] += dMean[c, col] / Float(k)
                }
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
