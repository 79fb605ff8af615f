/// The two weight layouts CLIP checkpoints come in on disk. Every loader in
/// this module reads both; the names of the tensors tell them apart.
public enum CLIPLayout: String, Sendable, Codable, CaseIterable {
    /// Hugging Face `CLIPModel` (`text_model.*`, `vision_model.*`,
    /// `text_projection.weight`), as `save_pretrained` writes it.
    case huggingFace = "hf"
    /// OpenAI's `model.py` state dict, which open_clip also publishes
    /// (`token_embedding.weight`, `transformer.resblocks.N.*`, `visual.*`).
    case openAI = "openai"
}
