import Foundation
import Testing
import SpurCore
@testable import SpurEngine

struct OrthogonalProjectionTests {
    /// A = [(1, 1, 0), (0, 1, 1)] spans the plane orthogonal to
    /// n = (1, 1, 0) × (0, 1, 1) = (1, −1, 1), so P c = (c·n) n / 3:
    /// c = (1, 0, 0) → (1, −1, 1)/3 and c = (0, 0, 2) → (2, −2, 2)/3.
    /// With A = [(1, 1, 0)] alone, P (1, 0, 0) = (1, 0, 0) − ½(1, 1, 0) = (½, −½, 0).
    @Test func threeDimensionsByHand() throws {
        let two = try OrthogonalProjection.project(Matrix([[1, 0, 0], [0, 0, 2]]), removing: Matrix([[1, 1, 0], [0, 1, 1]]))
        let want: [Float] = [1.0 / 3, -1.0 / 3, 1.0 / 3, 2.0 / 3, -2.0 / 3, 2.0 / 3]
        for (g, w) in zip(two.storage, want) { #expect(abs(g - w) < 1e-6, "\(two.storage)") }
        let one = try OrthogonalProjection.project(Matrix([[1, 0, 0]]), removing: Matrix([[1, 1, 0]]))
        for (g, w) in zip(one.storage, [Float(0.5), -0.5, 0]) { #expect(abs(g - w) < 1e-6) }
        // Dependent directions are reported, not divided by zero.
        #expect(throws: SettingError.self) { try OrthogonalProjection.project(Matrix([[1, 0, 0]]), removing: Matrix([[1, 1, 0], [2, 2, 0]])) }
    }

    /// Random class embeddings and attribute directions (E = 16, J = 4):
    /// the projected classes are orthogonal to every direction, projecting
    /// twice changes nothing, and what was removed lies in the span of A.
    @Test func projectedClassesAreOrthogonalToTheAttribute() throws {
        var rng = SeededGenerator(seed: 21)
        let classes = rng.gaussianMatrix(rows: 5, cols: 16).normalizedRows().output
        let directions = rng.gaussianMatrix(rows: 4, cols: 16).normalizedRows().output
        let p = try OrthogonalProjection.project(classes, removing: directions)
        #expect(Matrix.product(p, directions, transposeB: true).maxAbs() < 1e-5)
        var twice = try OrthogonalProjection.project(p, removing: directions)
        twice.add(p, scaledBy: -1)
        #expect(twice.maxAbs() < 1e-5)
        // c − Pc = A·coef: its least-squares residual on A's rows is zero.
        var removed = classes
        removed.add(p, scaledBy: -1)
        let residual = try OrthogonalProjection.project(removed, removing: directions)
        #expect(residual.maxAbs() < 1e-5)
        #expect(removed.maxAbs() > 0.1)   // something was removed
    }

    /// On the hand-made bundle the class prompts lean on the water axis
    /// (text features (∓1, ∓0.5, 0)); with "with water" / "without water"
    /// projected out, the classes no longer have a water component.
    @Test func previewRemovesTheWaterComponent() throws {
        let b = try ProbeBundle.write("orth", classSignal: 2)
        // The phrases' template prompts are not in this bundle's table and its
        // text encoder is not built in: the preview names the missing prompt.
        #expect(throws: InputError.self) { try OrthogonalProjection.preview(bundle: b, attributes: ["water"], decisions: []) }
        let heads = try b.pretrainedHeads()
        let classTemplates = try b.classTemplateFeatures()
        // Directions given directly: "water" = e₁ in text space (identity W_t).
        let c = try OrthogonalProjection.classifier(heads: heads, classTemplates: classTemplates, templateCount: 2,
                                                    phrasePrompts: Matrix([[0, 1, 0], [0, 1, 0]]))
        for y in 0..<2 {
            #expect(abs(c.classEmbeddings[y, 1]) < 1e-6)
            #expect(abs(Matrix(rows: 1, cols: 3, storage: Array(c.classEmbeddings.row(y))).normalizedRows().norms[0] - 1) < 1e-5)
        }
    }
}

struct DeepFeatureReweightingTests {
    /// The class is in the features but train is 95 % aligned with water:
    /// DFR, fitted on balanced val, classifies every test group.
    @Test func findsTheClassFromBalancedValidation() throws {
        let b = try ProbeBundle.write("dfr", classSignal: 2)
        var config = TrainingConfig(method: .dfr)
        config.attributes = ["water"]
        config.groundTruth = true
        let data = try TrainingData.prepare(bundle: b, config: config, decisions: [])
        let o = try DeepFeatureReweighting.fit(heads: data.pretrained, images: data.val.images, labels: data.val.labels,
                                               values: data.val.values, valueCount: data.valueCount, classCount: 2, seed: 0)
        #expect(o.groups == 4 && o.perGroup == 25 && o.heldOut == 100)
        #expect(DeepFeatureReweighting.l2Grid.contains(o.l2))
        let test = try Evaluation.metrics(o.classifier, data: data, split: data.test)
        #expect(test.worstGroup >= 0.95, "DFR test worst group \(test.worstGroup)")
        // Same seed, same classifier.
        let again = try DeepFeatureReweighting.fit(heads: data.pretrained, images: data.val.images, labels: data.val.labels,
                                                   values: data.val.values, valueCount: data.valueCount, classCount: 2, seed: 0)
        #expect(again.classifier.classEmbeddings == o.classifier.classEmbeddings && again.classifier.bias == o.classifier.bias)
    }

    /// Fewer than two classes with group labels in val: a clear error.
    @Test func needsEveryClassInValidation() throws {
        var rng = SeededGenerator(seed: 1)
        let heads = ProjectionHeads(image: rng.gaussianMatrix(rows: 2, cols: 3), text: rng.gaussianMatrix(rows: 2, cols: 2), logitScale: 1)
        #expect(throws: SettingError.self) {
            try DeepFeatureReweighting.fit(heads: heads, images: rng.gaussianMatrix(rows: 6, cols: 3), labels: [0, 0, 0, 0, 1, 1],
                                           values: [0, 1, 0, 1, -1, -1], valueCount: 2, classCount: 2, seed: 0)
        }
    }
}
