import Foundation
import SpurCore

/// Training-free debiasing of the class prompts (Chuang, Jampani, Li,
/// Torralba & Jegelka 2023, "Debiasing vision-language models via biased
/// prompts"): the spurious attribute's text directions `A` (one column per
/// phrase) are projected out of every class embedding,
/// `c'_y = normalize(P c_y)` with `P = I − A(AᵀA)⁻¹Aᵀ`.
public enum OrthogonalProjection {
    /// `P c` for every row `c` of `vectors` (`[C, E]`), with the rows of
    /// `directions` (`[J, E]`) as the columns of `A`. `(AᵀA)⁻¹Aᵀc` is
    /// solved by Cholesky (LAPACK); throws when the directions are linearly
    /// dependent.
    public static func project(_ vectors: Matrix, removing directions: Matrix) throws -> Matrix {
        precondition(vectors.cols == directions.cols, "vectors and directions of different widths")
        if directions.rows == 0 { return vectors }
        let gram = Matrix.product(directions, directions, transposeB: true)           // AᵀA, [J, J]
        let rhs = Matrix.product(directions, vectors, transposeB: true)               // Aᵀc, [J, C]
        guard let coefficients = Matrix.solvePositiveDefinite(gram, rhs) else {
            throw SettingError("attributes", "the attribute phrases' text embeddings are linearly dependent: give phrases that differ (the present and absent phrases of the verdicts)")
        }
        var out = vectors
        Matrix.gemm(coefficients, transposeA: true, directions, alpha: -1, beta: 1, into: &out)   // c − A·coef
        return out
    }

    /// The phrases whose directions are removed: each attribute's present
    /// and absent phrase for every class (the triage's, or the defaults
    /// "with A" / "without A"), each once, in a fixed order.
    public static func phrases(attributes: [String], classes: [String], decisions: [Decision]) -> [String] {
        phrases(attributes: attributes, classes: classes, phrases: MethodPhrases(decisions: decisions))
    }

    static func phrases(attributes: [String], classes: [String], phrases given: MethodPhrases) -> [String] {
        var out: [String] = []
        for a in attributes {
            for c in classes {
                let (present, absent) = given(c, a)
                for p in [present, absent] where !out.contains(p) { out.append(p) }
            }
        }
        return out
    }

    /// Template-averaged, normalised text embeddings `[J, E]` of phrases
    /// whose template prompts are `texts` (row `j·K + k`), through `W_t`:
    /// the same construction as the class embeddings.
    public static func directions(heads: ProjectionHeads, texts: Matrix, templateCount k: Int) -> Matrix {
        let t = Matrix.product(texts, heads.text, transposeB: true).normalizedRows().output
        return t.meanOfRowBlocks(k).normalizedRows().output
    }

    /// The zero-shot classifier of `heads` with the phrases projected out of its class side.
    public static func classifier(heads: ProjectionHeads, classTemplates: Matrix, templateCount k: Int,
                                  phrasePrompts: Matrix) throws -> HeadClassifier {
        let plain = HeadClassifier(heads: heads, classTemplates: classTemplates, templateCount: k)
        let projected = try project(plain.classEmbeddings, removing: directions(heads: heads, texts: phrasePrompts, templateCount: k))
        return HeadClassifier(heads: heads, classEmbeddings: projected.normalizedRows().output, scale: heads.scale)
    }

    /// The phrases filled into the bundle's templates, encoded: `[J·K, Dt]`.
    public static func phrasePrompts(bundle: FeatureBundle, phrases: [String]) throws -> Matrix {
        try bundle.textFeatures(for: filledPrompts(bundle: bundle, phrases: phrases))
    }

    static func filledPrompts(bundle: FeatureBundle, phrases: [String]) -> [String] {
        phrases.flatMap { p in bundle.manifest.templates.map { FeatureBundle.fill($0, with: p) } }
    }

    /// Zero-shot and projected zero-shot metrics on one split, groups by
    /// `attributes` (ground truth when the bundle has it): what `orth-proj`
    /// would do, in milliseconds, without creating a run. The UI's
    /// "preview before you train".
    public struct Preview: Sendable {
        public var phrases: [String]
        /// Phrases some of whose template prompts the text tower reads cut
        /// to its context (long phrases on a bundle that encodes live).
        public var truncatedPhrases: [String] = []
        public var zeroShot: SplitMetrics
        public var projected: SplitMetrics
    }

    public static func preview(bundle: FeatureBundle, attributes: [String], decisions: [Decision],
                               heads: ProjectionHeads? = nil, split: Split = .test) throws -> Preview {
        var config = TrainingConfig(method: .zeroshot)
        config.attributes = attributes
        let data = try TrainingData.prepare(bundle: bundle, config: config, decisions: decisions)
        let h = heads ?? data.pretrained
        let words = phrases(attributes: attributes, classes: data.classes, decisions: decisions)
        let projected = try classifier(heads: h, classTemplates: data.classTemplates, templateCount: data.templateCount,
                                       phrasePrompts: try phrasePrompts(bundle: bundle, phrases: words))
        let s = split == .train ? data.train : split == .val ? data.val : data.test
        let prompts = words.map { filledPrompts(bundle: bundle, phrases: [$0]) }
        let cut = Set(bundle.truncatedTexts(prompts.flatMap { $0 }))
        return Preview(phrases: words, truncatedPhrases: zip(words, prompts).filter { $0.1.contains(where: cut.contains) }.map(\.0),
                       zeroShot: try Evaluation.metrics(h, data: data, split: s),
                       projected: try Evaluation.metrics(projected, data: data, split: s))
    }
}

/// `orth-proj`: the class prompts with the attribute's text directions
/// projected out; nothing trained, no seed.
public struct OrthogonalProjectionMethod: ClassSideMethod {
    public var summary: String {
        "class prompts with the attribute's text directions projected out (Chuang et al. 2023; no training)"
    }
    public var needsAttribute: Bool { true }
    public var seedMatters: Bool { false }

    /// The phrases as the run is prepared with them (the verdicts when it is created).
    public func prepare(_ data: inout TrainingData, bundle: FeatureBundle, config: TrainingConfig,
                        phrases: MethodPhrases) throws {
        data.projectionPhrases = OrthogonalProjection.phrases(attributes: config.attributes, classes: data.classes, phrases: phrases)
        data.projectionPrompts = try OrthogonalProjection.phrasePrompts(bundle: bundle, phrases: data.projectionPhrases)
    }

    public func classifier(data: TrainingData, config: TrainingConfig) throws -> (HeadClassifier, note: String) {
        let classifier = try OrthogonalProjection.classifier(
            heads: data.pretrained, classTemplates: data.classTemplates, templateCount: data.templateCount,
            phrasePrompts: data.projectionPrompts)
        return (classifier, "projected out of the class prompts: " + data.projectionPhrases.map { "'\($0)'" }.joined(separator: ", "))
    }
}
