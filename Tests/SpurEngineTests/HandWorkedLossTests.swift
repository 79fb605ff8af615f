import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// Values worked out by hand on embeddings whose inner products are 0 or 1.
struct HandWorkedLossTests {
    /// log(1 + e⁻¹): the loss of one positive at similarity 1 against one
    /// negative at similarity 0 with s = 1.
    let oneVsOne = Float(log(1 + exp(-1.0)))

    @Test func csSkipsAnchorsWithoutPositives() {
        // e0 = e1 = (1,0) in group 0, e2 = (0,1) alone in group 1.
        // Anchors 0 and 1: −log(e¹/(e¹ + e⁰)); anchor 2 has no positive and is skipped.
        let e = Matrix([[1, 0], [1, 0], [0, 1]])
        let r = ContrastiveTerms.supervisedContrastive(e, groups: [0, 0, 1], scale: 1)
        #expect(abs(r.value - oneVsOne) < 1e-6)
    }

    @Test func csAveragesOverPositives() {
        // Anchor 0 has positives 1 (sim 1) and 2 (sim 0), no negatives:
        // −½[log(e¹/(e¹+e⁰)) + log(e⁰/(e¹+e⁰))] = log(1+e) − ½.
        // Anchors 1 and 2 likewise see {0 at sim 1 or 0, the other at sim 1 or 0}.
        let e = Matrix([[1, 0], [1, 0], [0, 1]])
        let r = ContrastiveTerms.supervisedContrastive(e, groups: [0, 0, 0], scale: 1)
        // Anchor 0: sims to 1, 2 = (1, 0) → log(1+e) − ½. Anchor 1: same.
        // Anchor 2: sims to 0, 1 = (0, 0) → log 2.
        let want = (2 * (Float(log(1 + M_E)) - 0.5) + Float(log(2.0))) / 3
        #expect(abs(r.value - want) < 1e-6)
    }

    @Test func unknownGroupIsNeitherAnchorNorCandidate() {
        // Row 2 (group −1) is identical to the anchors; were it a negative the
        // loss would be log 2 per anchor. Excluded, each anchor's only
        // candidate is its positive: loss 0, gradient 0.
        let e = Matrix([[1, 0], [1, 0], [1, 0]])
        let r = ContrastiveTerms.supervisedContrastive(e, groups: [0, 0, -1], scale: 1)
        #expect(r.value == 0)
        #expect(r.dFirst.maxAbs() < 1e-7)
    }

    @Test func batchWithoutValidAnchorContributesZero() {
        let e = Matrix([[1, 0], [0, 1]])
        let r = ContrastiveTerms.supervisedContrastive(e, groups: [0, 1], scale: 5)
        #expect(r.value == 0 && r.dScale == 0 && r.dFirst.maxAbs() == 0)
    }

    @Test func clipOnOrthonormalPairs() {
        // V = T = I₂, s = 1: each row and column is log(e¹/(e¹ + e⁰)).
        let i2 = Matrix([[1, 0], [0, 1]])
        let r = ContrastiveTerms.clip(images: i2, captions: i2, scale: 1)
        #expect(abs(r.value - oneVsOne) < 1e-6)
        // Symmetric problem: the two gradients mirror each other.
        #expect(r.dFirst == r.dSecond!)
    }

    @Test func crossEntropyWeightsExamples() {
        // Two images, two classes; image 0 is class 0's embedding, image 1 is
        // orthogonal to both classes (loss log 2 whatever its label).
        let v = Matrix([[1, 0, 0], [0, 0, 1]])
        let c = Matrix([[1, 0, 0], [0, 1, 0]])
        let (r, per) = ContrastiveTerms.classification(images: v, classes: c, labels: [0, 1], scale: 1)
        #expect(abs(per[0] - oneVsOne) < 1e-6 && abs(per[1] - Float(log(2.0))) < 1e-6)
        #expect(abs(r.value - (per[0] + per[1]) / 2) < 1e-6)
        let (w, _) = ContrastiveTerms.classification(images: v, classes: c, labels: [0, 1], weights: [3, 1], scale: 1)
        #expect(abs(w.value - (3 * per[0] + per[1]) / 4) < 1e-6)
    }

    @Test func starIsZeroWhenTheModelIsTheOriginal() {
        var rng = SeededGenerator(seed: 13)
        let batch = RandomBatch.make(&rng)
        let heads = RandomBatch.heads(&rng)
        let r = Objective(terms: [.star], originalHeads: heads).evaluate(heads, on: batch)
        #expect(abs(r.total) < 1e-6)
        #expect(r.gradients.image.maxAbs() < 1e-6 && r.gradients.text.maxAbs() < 1e-6 && r.gradients.logitScale == 0)
    }

    @Test func starByHand() {
        // Two images of class 0, one caption of class 1 and one of class 2 for
        // image 0 to choose from (its own class masked). s⁰ = 1.
        // Current: image 0 = e₁, captions t₂ = e₁, t₃ = e₂ → p = (e, 1)/(e + 1).
        // Original: both similarities 0 → q = (½, ½).
        // KL(q‖p) = ½ log(½ / (e/(e+1))) + ½ log(½ / (1/(e+1))) = log((e+1)/2) − ½.
        let e1: [Float] = [1, 0], e2: [Float] = [0, 1], zero: [Float] = [0.6, 0.8]
        let v = Matrix([e1, e1, e2, e2]), t = Matrix([e2, e2, e1, e2])
        let v0 = Matrix([zero, zero, zero, zero]), t0 = Matrix([[0.8, -0.6], [0.8, -0.6], [0.8, -0.6], [0.8, -0.6]])
        let r = ContrastiveTerms.spuriousAlignment(images: v, captions: t, originalImages: v0, originalCaptions: t0,
                                                   labels: [0, 0, 1, 2], scale: 1)
        // Rows 0 and 1 (class 0) see captions 2, 3 with sims (1, 0): KL as above each.
        // Row 2 (class 1, v = e₂) sees captions 0, 1, 3, all e₂: p uniform = q, KL 0.
        // Row 3 (class 2, v = e₂) sees captions 0, 1, 2 with sims (1, 1, 0):
        // p = (e, e, 1)/(2e + 1), KL = log((2e + 1)/3) − ⅔.
        let row01 = log((M_E + 1) / 2) - 0.5
        let row3 = log((2 * M_E + 1) / 3) - 2.0 / 3
        #expect(abs(Double(r.value) - (2 * row01 + row3) / 4) < 1e-5)
    }

    @Test func scaleIsClampedAndStopsLearningAtTheClamp() throws {
        var rng = SeededGenerator(seed: 11)
        let batch = RandomBatch.make(&rng)
        var heads = RandomBatch.heads(&rng)
        heads.logitScale = logf(250)
        #expect(heads.scale == 100)
        let clamped = Objective(terms: LossTerm.contrastive).evaluate(heads, on: batch)
        #expect(clamped.gradients.logitScale == 0)
        heads.logitScale = logf(100)
        let atLimit = Objective(terms: LossTerm.contrastive).evaluate(heads, on: batch)
        #expect(abs(clamped.total - atLimit.total) < 1e-3)
    }
}

/// Random but valid batches for property tests.
enum RandomBatch {
    static func make(_ rng: inout SeededGenerator, b: Int = 12, dv: Int = 9, dt: Int = 7, c: Int = 3, k: Int = 4) -> LossBatch {
        var batch = LossBatch(images: rng.gaussianMatrix(rows: b, cols: dv),
                  labels: (0..<b).map { $0 % c },
                  attributes: (0..<b).map { [1, 0, 1, -1, 0][$0 % 5] },
                  captions: rng.gaussianMatrix(rows: b, cols: dt),
                  classTemplates: rng.gaussianMatrix(rows: c * k, cols: dt),
                  groupTemplates: rng.gaussianMatrix(rows: c * 2 * k, cols: dt),
                  classCount: c, templateCount: k)
        batch.spuriousCaptions = rng.gaussianMatrix(rows: b, cols: dt)
        return batch
    }

    static func heads(_ rng: inout SeededGenerator, e: Int = 6, dv: Int = 9, dt: Int = 7) -> ProjectionHeads {
        ProjectionHeads(image: rng.gaussianMatrix(rows: e, cols: dv, std: 0.4),
                        text: rng.gaussianMatrix(rows: e, cols: dt, std: 0.4),
                        logitScale: logf(4))
    }
}

/// The analytic gradient of every term against central differences along
/// random directions, on batches larger than the numpy fixture (so masks,
/// unknown attributes and several classes all occur).
struct DirectionalDerivativeTests {
    @Test(arguments: [1, 2, 3] as [UInt64], LossTerm.allCases)
    func gradientMatchesDirectionalDifference(seed: UInt64, term: LossTerm) {
        var rng = SeededGenerator(seed: seed)
        let batch = RandomBatch.make(&rng)
        let heads = RandomBatch.heads(&rng)
        // StarFT's reference model: another set of heads, frozen.
        let objective = Objective(terms: [term], originalHeads: RandomBatch.heads(&rng))
        let g = objective.evaluate(heads, on: batch).gradients
        let dWv = rng.gaussianMatrix(rows: heads.image.rows, cols: heads.image.cols)
        let dWt = rng.gaussianMatrix(rows: heads.text.rows, cols: heads.text.cols)
        let dLs = rng.nextGaussian()
        let analytic = Double(g.image.dot(dWv)) + Double(g.text.dot(dWt)) + Double(g.logitScale * dLs)

        func loss(at t: Float) -> Double {
            var h = heads
            h.image.add(dWv, scaledBy: t)
            h.text.add(dWt, scaledBy: t)
            h.logitScale += t * dLs
            return Double(objective.evaluate(h, on: batch).total)
        }
        let step: Float = 1e-2
        // Richardson-extrapolated central difference: O(h⁴) truncation, so the
        // step can stay large enough for Float rounding not to matter.
        let d1 = (loss(at: step) - loss(at: -step)) / Double(2 * step)
        let d2 = (loss(at: 2 * step) - loss(at: -2 * step)) / Double(4 * step)
        let numeric = (4 * d1 - d2) / 3
        #expect(abs(analytic - numeric) <= 2e-3 * max(1, abs(numeric)),
                "\(term) seed \(seed): analytic \(analytic), numeric \(numeric)")
    }
}

/// The authors' form, worked by hand on embeddings whose inner products are 0 or 1.
struct HandWorkedOfficialTests {
    @Test func meanCosineCountsEveryPairOnce() {
        // Rows (1,0), (1,0), (0,1) in groups 0, 0, 1: cos = [[1,1,0],[1,1,0],[0,0,1]].
        // Same group weighs −1, different +1, over all 9 pairs (diagonal included):
        // rows give −2, −2, −1, so the loss is −5/9.
        let e = Matrix([[1, 0], [1, 0], [0, 1]])
        let r = OfficialTerms.meanCosine(e, groups: [0, 0, 1])
        #expect(abs(r.value - (-5.0 / 9)) < 1e-6)
        #expect(r.dScale == 0)
        // d/de_0 = (2/9)·Σ_j m_0j e_j = (2/9)·(−e_0 − e_1 + e_2) = (2/9)·(−2, 1).
        #expect(abs(r.dFirst[0, 0] - (-4.0 / 9)) < 1e-6 && abs(r.dFirst[0, 1] - 2.0 / 9) < 1e-6)
    }

    @Test func clipAgainstClassesTreatsSameClassMatesAsNegatives() {
        // Images e₁, e₂ both labelled class 0 (c₀ = e₁), s = 1: logits [[1,1],[0,0]].
        // Rows: each is log 2 (both columns are c₀). Columns: column 0 is
        // −log(e/(e+1)), column 1 is −log(1/(e+1)).
        let v = Matrix([[1, 0], [0, 1]]), c = Matrix([[1, 0], [0, 1]])
        let r = OfficialTerms.clipAgainstClasses(images: v, classes: c, labels: [0, 0], scale: 1)
        let want = 0.5 * (log(2.0) + 0.5 * (log(1 + exp(-1.0)) + log(1 + M_E)))
        #expect(abs(Double(r.value) - want) < 1e-6)
        // Class 1 is in no caption: it gets no gradient.
        #expect(r.dSecond![1, 0] == 0 && r.dSecond![1, 1] == 0)
        // With distinct labels it is the CLIP loss on orthonormal pairs.
        let distinct = OfficialTerms.clipAgainstClasses(images: v, classes: c, labels: [0, 1], scale: 1)
        #expect(abs(distinct.value - Float(log(1 + exp(-1.0)))) < 1e-6)
    }

    @Test func absoluteCosineIsTheMeanMagnitude() {
        // Class prompts (1,0), (0.6,0.8); words (0,1), (1,0):
        // |cos| = 0, 1, 0.8, 0.6 → mean 0.6. A negative cosine counts as positive.
        let t = Matrix([[1, 0], [0.6, 0.8]])
        let r = OfficialTerms.absoluteCosine(t, Matrix([[0, 1], [1, 0]]))
        #expect(abs(r.value - 0.6) < 1e-6)
        let flipped = OfficialTerms.absoluteCosine(t, Matrix([[0, -1], [-1, 0]]))
        #expect(abs(flipped.value - 0.6) < 1e-6)
        // d/dt_0 = (1/4)·(sign(0)·w_0 + sign(1)·w_1) = (1/4)·(1, 0).
        #expect(abs(r.dFirst[0, 0] - 0.25) < 1e-6 && r.dFirst[0, 1] == 0)
    }

    @Test func valueCrossEntropySkipsUnknownValues() {
        // Word prompts absent = e₁, present = e₂; s = 1. Image e₁ with value 1:
        // −log(e⁰/(e¹ + e⁰)) = log(1 + e). Image e₂ with value 1: log(1 + e⁻¹).
        // The third image's value is unknown and changes nothing.
        let v = Matrix([[1, 0], [0, 1], [1, 0]]), words = Matrix([[1, 0], [0, 1]])
        let r = OfficialTerms.attributeValueCrossEntropy(images: v, prompts: words, values: [1, 1, -1], scale: 1)
        #expect(abs(Double(r.value) - 0.5 * (log(1 + M_E) + log(1 + exp(-1.0)))) < 1e-6)
        #expect(r.dFirst[2, 0] == 0 && r.dFirst[2, 1] == 0)
        // Two attributes: bit j of the value picks the row pair 2j, 2j+1; the mean over attributes.
        let two = OfficialTerms.attributeValueCrossEntropy(images: Matrix([[1, 0]]), prompts: Matrix([[1, 0], [0, 1], [0, 1], [1, 0]]),
                                                           values: [0b10], scale: 1)
        // Attribute 0: value 0 → row 0 (sim 1): log(1 + e⁻¹). Attribute 1: value 1 → row 3 (sim 1): the same.
        #expect(abs(Double(two.value) - log(1 + exp(-1.0))) < 1e-6)
    }
}

/// The official form's gradients against central differences along random
/// directions, as for the paper's terms.
struct OfficialDirectionalDerivativeTests {
    @Test(arguments: [1, 2, 3] as [UInt64], [LossTerm.clip, .vc, .lc, .vs, .ls])
    func gradientMatchesDirectionalDifference(seed: UInt64, term: LossTerm) {
        var rng = SeededGenerator(seed: seed)
        var batch = RandomBatch.make(&rng)
        let heads = RandomBatch.heads(&rng)
        batch.attributePrompts = rng.gaussianMatrix(rows: 2, cols: batch.captions.cols)
        let objective = Objective(terms: [term], form: .official)
        let g = objective.evaluate(heads, on: batch).gradients
        let dWv = rng.gaussianMatrix(rows: heads.image.rows, cols: heads.image.cols)
        let dWt = rng.gaussianMatrix(rows: heads.text.rows, cols: heads.text.cols)
        let dLs = rng.nextGaussian()
        let analytic = Double(g.image.dot(dWv)) + Double(g.text.dot(dWt)) + Double(g.logitScale * dLs)

        func along(_ t: Float) -> ProjectionHeads {
            var h = heads
            h.image.add(dWv, scaledBy: t)
            h.text.add(dWt, scaledBy: t)
            h.logitScale += t * dLs
            return h
        }
        func loss(at t: Float) -> Double { Double(objective.evaluate(along(t), on: batch).total) }
        // |cos| has a kink at 0: shrink the step until no class-prompt/word
        // cosine changes sign over the stencil, where the loss is smooth.
        func signs(_ t: Float) -> [Bool] {
            let h = along(t)
            let texts = Matrix.product(batch.classTemplates, h.text, transposeB: true).normalizedRows().output
            let words = Matrix.product(batch.attributePrompts!, h.text, transposeB: true).normalizedRows().output
            return Matrix.product(texts, words, transposeB: true).storage.map { $0 > 0 }
        }
        var step: Float = 1e-2
        while term == .ls && signs(-2 * step) != signs(2 * step) { step /= 2 }
        let d1 = (loss(at: step) - loss(at: -step)) / Double(2 * step)
        let d2 = (loss(at: 2 * step) - loss(at: -2 * step)) / Double(4 * step)
        let numeric = (4 * d1 - d2) / 3
        #expect(abs(analytic - numeric) <= 2e-3 * max(1, abs(numeric)),
                "official \(term) seed \(seed): analytic \(analytic), numeric \(numeric), step \(step)")
    }
}
