import Foundation
import SpurCore

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
