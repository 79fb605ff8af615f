import Foundation
import SpurCore

/// `starft`: the CLIP loss plus λ·KL to the frozen original model over
/// captions with spurious contexts injected (StarFT). It needs no attribute;
/// the marked ones' present phrases join its pool of contexts.
public struct StarFTMethod: MethodDefinition {
    public var summary: String { "L_clip + λ·KL to the original model over spuriosity-injected captions (StarFT)" }
    public var terms: [LossTerm] { [.clip, .star] }
    public var usesAttribute: Bool { true }

    public func check(_ c: TrainingConfig) throws {
        guard c.starLambda >= 0 && c.starLambda.isFinite else {
            throw SettingError("starLambda", "is \(c.starLambda), expected 0 or more")
        }
        guard c.starContexts.map({ !$0.isEmpty && $0.allSatisfy { !$0.isEmpty } }) ?? true else {
            throw SettingError("starContexts", "has no context, or an empty one")
        }
    }

    /// Each class-template caption with each context of the pool, row
    /// `(c·K + k)·M + m`: the marked attributes' present phrases, then the
    /// generic contexts.
    public func prepare(_ data: inout TrainingData, bundle: FeatureBundle, config: TrainingConfig,
                        phrases: MethodPhrases) throws {
        let m = bundle.manifest
        var contexts: [String] = []
        for a in config.attributes {
            for c in m.classes where !contexts.contains(phrases(c, a).present) { contexts.append(phrases(c, a).present) }
        }
        contexts += (config.starContexts ?? StarContexts.generic).filter { !contexts.contains($0) }
        var texts: [String] = []
        for c in m.classes {
            for t in m.templates {
                let caption = FeatureBundle.fill(t, with: c)
                texts += contexts.map { StarContexts.inject($0, into: caption) }
            }
        }
        data.spuriousCaptions = try bundle.textFeatures(for: texts)
        data.starContextCount = contexts.count
    }

    public func hooks(_ run: TrainingRunContext) -> any TrainingHooks { StarFTHooks(run) }
}

final class StarFTHooks: TrainingHooks {
    private let run: TrainingRunContext
    init(_ run: TrainingRunContext) { self.run = run }

    /// The example's own caption with a context drawn from the pool.
    func completeBatch(_ batch: inout LossBatch, captionRows: [Int], rng: inout SeededGenerator) {
        let m = run.data.starContextCount
        batch.spuriousCaptions = run.data.spuriousCaptions.gatherRows(captionRows.map { $0 * m + Int(rng.next() % UInt64(m)) })
    }

    func weigh(_ objective: inout Objective, batch: LossBatch, indices: [Int], heads: ProjectionHeads, epoch: Int) {
        objective.weights[.star] = run.config.starWeight(epoch: epoch)
    }
}

/// StarFT's spurious contexts (reference/related-methods.md): a context is
/// appended to an example's own caption ("a photo of a landbird." + "near a
/// lake" → "a photo of a landbird near a lake."), so the regulariser sees the
/// class under settings that should not change what the model thinks of it.
///
/// The pool is the marked attributes' present phrases plus this generic list,
/// written for spurscope: backgrounds, then textures and styles, then image
/// quality. A user replaces it with `--star-contexts FILE` (one per line).
public enum StarContexts {
    public static let generic: [String] = [
        // Backgrounds and places.
        "in a forest", "near a lake", "on the beach", "in the desert", "on a mountain", "in a meadow",
        "near the ocean", "in a city street", "on a rooftop", "in a garden", "on a farm", "in a swamp",
        "near a river", "in the snow", "on a rock", "in a park", "in a field of grass", "near a waterfall",
        "in a bamboo grove", "on a wooden fence", "in a cave", "on a sandy shore", "in the jungle",
        "near a pond", "on ice", "in a wheat field", "on a tree branch", "in a parking lot",
        "near a harbor", "on a lawn", "in the mountains at dawn", "under a cloudy sky", "at sunset",
        "at night", "in the rain", "in fog", "indoors", "in a cage", "in a zoo", "on a road",
        // Textures and styles.
        "as a pencil sketch", "as an oil painting", "as a watercolor painting", "as a cartoon",
        "in black and white", "with a grainy texture", "as an embroidery", "as a mosaic",
        "as a plastic toy", "as a sculpture",
        // Resolution and image quality.
        "in low resolution", "out of focus", "with motion blur", "overexposed", "underexposed",
        "as a jpeg with artifacts", "as a tiny thumbnail", "in a cropped close-up", "from far away",
        "with heavy noise",
    ]

    /// Reads a contexts file: one context per line; blank lines and lines
    /// starting with `#` are skipped.
    public static func read(_ path: String) throws -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw InputError(file: path, "cannot be read as UTF-8 text (\(error.localizedDescription))")
        }
        let contexts = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !contexts.isEmpty else { throw InputError(file: path, "has no context: expected one per line") }
        return contexts
    }

    /// The caption with the context appended before its final full stop.
    public static func inject(_ context: String, into caption: String) -> String {
        var base = caption.trimmingCharacters(in: .whitespaces)
        while let last = base.last, ".!?".contains(last) { base.removeLast() }
        return "\(base) \(context)."
    }
}
