/// The frozen tail of the image tower that true Grad-CAM runs through
/// (manifest key `cam_tail`): the part of the network between the Grad-CAM
/// target layer and the pooled feature, kept in `cam_tail.safetensors`,
/// with each example's input to it in `features.safetensors` as
/// `image_tail_input`. Only the projection heads are fine-tuned, so the
/// tail is the same for every run; forwarding it from the cached input and
/// back-propagating the class score through the current heads gives
/// Grad-CAM at the target layer without the encoder.
public struct CAMTailRecord: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// A ViT's last residual block and `ln_post`, from the tokens
        /// entering the block (`[1 + H·W, D]`); the target is the block's
        /// first LayerNorm (pytorch-grad-cam's CLIP target).
        case visionLastBlock = "vit-last-block"
        /// A ModifiedResNet's attention pool, from `layer4`'s map
        /// (`[H·W, C]`), which is also the target (the paper's).
        case attentionPool = "attention-pool"
    }

    public var kind: Kind
    /// The target layer, in the checkpoint's own module names (for display).
    public var layer: String
    public var heads: Int
    /// `quick_gelu` or `gelu` (vit-last-block only).
    public var activation: String?
    /// The LayerNorms' epsilon (vit-last-block only).
    public var layerNormEps: Float?

    enum CodingKeys: String, CodingKey {
        case kind, layer, heads, activation
        case layerNormEps = "layer_norm_eps"
    }

    public init(kind: Kind, layer: String, heads: Int, activation: String? = nil, layerNormEps: Float? = nil) {
        self.kind = kind; self.layer = layer; self.heads = heads
        self.activation = activation; self.layerNormEps = layerNormEps
    }

    public static let activations = ["quick_gelu", "gelu"]
}

/// `cam_tail.safetensors`: the tail's weights under one set of names
/// whatever the checkpoint's layout (OpenAI's spelling), always F32.
public enum CAMTailFile {
    public static let name = "cam_tail.safetensors"
    /// The row tensor of `features.safetensors` the tail reads.
    public static let inputTensor = "image_tail_input"

    /// Every tensor of the file and its shape, for a tail of input width
    /// `width` (`D` or `C`), pooled width `pooledWidth` (the bundle's `Dv`),
    /// `tokens` positions of input and an MLP of `hidden` (ViT only; nil
    /// accepts any). The file must hold exactly these.
    public static func shapes(_ kind: CAMTailRecord.Kind, width d: Int, pooledWidth: Int, tokens: Int,
                              hidden: Int?) -> [(name: String, shape: [Int?])] {
        switch kind {
        case .visionLastBlock:
            return [("ln_1.weight", [d]), ("ln_1.bias", [d]),
                    ("attn.in_proj_weight", [3 * d, d]), ("attn.in_proj_bias", [3 * d]),
                    ("attn.out_proj.weight", [d, d]), ("attn.out_proj.bias", [d]),
                    ("ln_2.weight", [d]), ("ln_2.bias", [d]),
                    ("mlp.c_fc.weight", [hidden, d]), ("mlp.c_fc.bias", [hidden]),
                    ("mlp.c_proj.weight", [d, hidden]), ("mlp.c_proj.bias", [d]),
                    ("ln_post.weight", [d]), ("ln_post.bias", [d])]
        case .attentionPool:
            return [("positional_embedding", [tokens + 1, d]),
                    ("q_proj.weight", [d, d]), ("q_proj.bias", [d]),
                    ("k_proj.weight", [d, d]), ("k_proj.bias", [d]),
                    ("v_proj.weight", [d, d]), ("v_proj.bias", [d]),
                    ("c_proj.weight", [pooledWidth, d]), ("c_proj.bias", [pooledWidth])]
        }
    }

    /// Positions of `image_tail_input` per example: a ViT's class token and
    /// patches, or layer4's cells.
    public static func tokens(_ kind: CAMTailRecord.Kind, grid: BundleManifest.Grid) -> Int {
        let cells = grid.height * grid.width
        return kind == .visionLastBlock ? cells + 1 : cells
    }
}
