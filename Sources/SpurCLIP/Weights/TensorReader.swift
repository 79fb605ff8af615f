import SpurCore

/// Takes a tower's tensors from a checkpoint, shape-checked, and remembers
/// each one it took, so a loader can refuse whatever of the tower's
/// namespace it did not use: a variant (layer scale, a patch bias, an
/// attention pool, …) would otherwise be computed as a different model
/// without a word.
struct TensorReader {
    let checkpoint: CLIPCheckpoint
    private(set) var used: Set<String> = []

    init(_ checkpoint: CLIPCheckpoint, skipping skipped: Set<String> = []) {
        self.checkpoint = checkpoint
        used = skipped
    }

    mutating func weight(_ name: String, _ shape: [Int?]) throws -> Weight {
        used.insert(name)
        return try checkpoint.weight(name, shape: shape)
    }

    mutating func norm(_ name: String, width: Int, eps: Float) throws -> LayerNorm {
        LayerNorm(gamma: try weight("\(name).weight", [width]), beta: try weight("\(name).bias", [width]), eps: eps)
    }

    mutating func linear(weight weightName: String, bias biasName: String, out: Int?, in inFeatures: Int?) throws -> Linear {
        let w = try weight(weightName, [out, inFeatures])
        return Linear(weight: w, bias: try weight(biasName, [w.shape[0]]))
    }

    mutating func linear(_ name: String, out: Int?, in inFeatures: Int?) throws -> Linear {
        try linear(weight: "\(name).weight", bias: "\(name).bias", out: out, in: inFeatures)
    }

    /// A block as Hugging Face stores it (`CLIPEncoderLayer`): q, k and v as
    /// three layers.
    mutating func huggingFaceBlock(_ l: String, width: Int, heads: Int, activation: Activation, eps: Float) throws -> TransformerBlock {
        let fc = try linear("\(l)mlp.fc1", out: nil, in: width)
        return TransformerBlock(
            norm1: try norm("\(l)layer_norm1", width: width, eps: eps),
            qkv: [try linear("\(l)self_attn.q_proj", out: width, in: width), try linear("\(l)self_attn.k_proj", out: width, in: width),
                  try linear("\(l)self_attn.v_proj", out: width, in: width)],
            out: try linear("\(l)self_attn.out_proj", out: width, in: width),
            norm2: try norm("\(l)layer_norm2", width: width, eps: eps), fc: fc,
            proj: try linear("\(l)mlp.fc2", out: width, in: fc.outFeatures),
            heads: heads, activation: activation)
    }

    /// A block as OpenAI's `ResidualAttentionBlock` stores it: q, k and v
    /// fused in `in_proj`.
    mutating func openAIBlock(_ l: String, width: Int, heads: Int, activation: Activation, eps: Float) throws -> TransformerBlock {
        let fc = try linear("\(l)mlp.c_fc", out: nil, in: width)
        return TransformerBlock(
            norm1: try norm("\(l)ln_1", width: width, eps: eps),
            qkv: [try linear(weight: "\(l)attn.in_proj_weight", bias: "\(l)attn.in_proj_bias", out: 3 * width, in: width)],
            out: try linear("\(l)attn.out_proj", out: width, in: width),
            norm2: try norm("\(l)ln_2", width: width, eps: eps), fc: fc,
            proj: try linear("\(l)mlp.c_proj", out: width, in: fc.outFeatures),
            heads: heads, activation: activation)
    }

    /// Refuses the checkpoint if a tensor whose name starts with one of
    /// `prefixes` was not taken.
    func requireAllUsed(prefixes: [String], tower: String) throws {
        let namespace = prefixes.reduce(into: Set<String>()) { $0.formUnion(checkpoint.names(withPrefix: $1)) }
        let unused = namespace.subtracting(used).sorted()
        guard unused.isEmpty else {
            throw InputError(file: checkpoint.weightsPath, field: "tensor '\(unused[0])'",
                             "is not part of CLIP's \(tower) as spurscope computes it\(unused.count > 1 ? " (nor \(unused.count - 1) more)" : ""): the checkpoint has a variant that is not read")
        }
    }
}

extension CLIPCheckpoint {
    /// The number of blocks `prefix0.`, `prefix1.`, … the file holds; a gap
    /// in the numbering shows up as an unused tensor.
    func layerCount(prefix: String) -> Int {
        var n = 0
        let names = names(withPrefix: prefix)
        while names.contains(where: { $0.hasPrefix("\(prefix)\(n).") }) { n += 1 }
        return n
    }
}
