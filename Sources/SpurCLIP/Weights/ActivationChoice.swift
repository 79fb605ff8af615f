import SpurCore

extension Activation {
    /// The activation a Hugging Face config names (`hidden_act`; absent:
    /// CLIP's default, quick-GELU).
    static func huggingFace(_ name: String?, file: String, field: String) throws -> Activation {
        switch name ?? "quick_gelu" {
        case "quick_gelu": return .quickGELU
        case "gelu": return .gelu
        case let other: throw InputError(file: file, field: field, "is '\(other)', expected quick_gelu or gelu")
        }
    }

    /// The activation of an OpenAI-layout checkpoint: OpenAI's own model.py
    /// always uses quick-GELU; open_clip only when its configuration says so
    /// (its `-quickgelu` models).
    static func openAI(_ c: CLIPCheckpoint) -> Activation {
        c.openCLIPConfig == nil || c.openCLIPConfig?.model?.quickGELU == true ? .quickGELU : .gelu
    }
}
