/// The CLIP checkpoint whose text tower made a bundle's `text_prompts`,
/// recorded so that phrases the bundle lacks are encoded by the same
/// weights (manifest key `text_checkpoint`).
public struct TextCheckpointRecord: Codable, Equatable, Sendable {
    /// The checkpoint folder or `.safetensors` file: absolute, or relative
    /// to the bundle directory.
    public var path: String
    /// `sha256:` and the hex digest of the weights file: a checkpoint
    /// replaced at the same path is refused, not silently used.
    public var digest: String
    /// The tensor layout, `hf` or `openai` (`CLIPLayout`'s spelling).
    public var layout: String
    /// The tokenizer's vocabulary when it is not in the checkpoint's folder.
    public var vocabulary: String?

    public init(path: String, digest: String, layout: String, vocabulary: String? = nil) {
        self.path = path; self.digest = digest; self.layout = layout; self.vocabulary = vocabulary
    }
}
