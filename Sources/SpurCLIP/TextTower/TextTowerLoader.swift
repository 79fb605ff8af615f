import SpurCore

extension CLIPTextTower {
    /// The text tower of a checkpoint, in whichever layout it is stored.
    /// Every tensor of the tower's namespace must be used: a checkpoint with
    /// parts this code does not compute (layer scale, a class token, …) is
    /// refused by name rather than encoded as a different model.
    public static func load(_ checkpoint: CLIPCheckpoint) throws -> CLIPTextTower {
        switch checkpoint.layout {
        case .huggingFace: return try loadHuggingFace(checkpoint)
        case .openAI: return try loadOpenAI(checkpoint)
        }
    }

    private static let layerNormEps: Float = 1e-5

    private static func loadHuggingFace(_ c: CLIPCheckpoint) throws -> CLIPTextTower {
        let p = "text_model."
        var used: Set<String> = ["\(p)embeddings.position_ids"]
        func w(_ name: String, _ shape: [Int?]) throws -> Weight {
            used.insert(name)
            return try c.weight(name, shape: shape)
        }
        let tokens = try w("\(p)embeddings.token_embedding.weight", [nil, nil])
        let width = tokens.shape[1]
        let positions = try w("\(p)embeddings.position_embedding.weight", [nil, width])
        let layers = countLayers(c, prefix: "\(p)encoder.layers.")
        let config = c.huggingFaceConfig?.textConfig
        let heads = config?.numAttentionHeads ?? max(1, width / 64)
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "text_config.num_attention_heads", "is \(heads), which does not divide the width \(width)")
        }
        let activation: Activation
        switch config?.hiddenAct ?? "quick_gelu" {
        case "quick_gelu": activation = .quickGELU
        case "gelu": activation = .gelu
        case let other:
            throw InputError(file: c.path, field: "text_config.hidden_act", "is '\(other)', expected quick_gelu or gelu")
        }
        let eps = config?.layerNormEps.map(Float.init) ?? layerNormEps
        func norm(_ name: String) throws -> LayerNorm {
            LayerNorm(gamma: try w("\(name).weight", [width]), beta: try w("\(name).bias", [width]), eps: eps)
        }
        func linear(_ name: String, _ out: Int?, _ inFeatures: Int?) throws -> Linear {
            let weight = try w("\(name).weight", [out, inFeatures])
            return Linear(weight: weight, bias: try w("\(name).bias", [weight.shape[0]]))
        }
        var blocks: [TransformerBlock] = []
        for i in 0..<layers {
            let l = "\(p)encoder.layers.\(i)."
            let fc = try linear("\(l)mlp.fc1", nil, width)
            blocks.append(TransformerBlock(
                norm1: try norm("\(l)layer_norm1"),
                qkv: [try linear("\(l)self_attn.q_proj", width, width), try linear("\(l)self_attn.k_proj", width, width),
                      try linear("\(l)self_attn.v_proj", width, width)],
                out: try linear("\(l)self_attn.out_proj", width, width),
                norm2: try norm("\(l)layer_norm2"), fc: fc, proj: try linear("\(l)mlp.fc2", width, fc.outFeatures),
                heads: heads, activation: activation))
        }
        let finalNorm = try norm("\(p)final_layer_norm")
        let projection = try c.weight("text_projection.weight", shape: [nil, width])
        try requireAllUsed(c, namespace: c.names(withPrefix: p), used: used)
        // eos_token_id 2 marks configs from before Hugging Face's fix: they
        // pool at the largest id, as OpenAI does.
        let pooling: TextPooling = config?.eosTokenId.map { $0 == 2 ? .largestTokenID : .firstToken($0) } ?? .largestTokenID
        return CLIPTextTower(
            shape: TextTowerShape(vocabularySize: tokens.shape[0], contextLength: positions.shape[0], width: width,
                                  layers: layers, heads: heads, activation: activation, pooling: pooling),
            source: c.weightsPath, tokenEmbedding: tokens, positionEmbedding: positions, blocks: blocks,
            finalNorm: finalNorm, projection: projection)
    }

    private static func loadOpenAI(_ c: CLIPCheckpoint) throws -> CLIPTextTower {
        var used: Set<String> = []
        func w(_ name: String, _ shape: [Int?]) throws -> Weight {
            used.insert(name)
            return try c.weight(name, shape: shape)
        }
        let text = c.openCLIPConfig?.model?.textConfig
        if let hf = text?.hfModelName {
            throw InputError(file: c.path, field: "model_cfg.text_cfg.hf_model_name",
                             "is '\(hf)': open_clip models with a Hugging Face text tower are not read")
        }
        if text?.noCausalMask == true || text?.embedCls == true {
            throw InputError(file: c.path, field: "model_cfg.text_cfg",
                             "asks for \(text?.noCausalMask == true ? "no_causal_mask" : "embed_cls"), which CLIP's text tower does not have and is not read")
        }
        let tokens = try w("token_embedding.weight", [nil, nil])
        let width = tokens.shape[1]
        let positions = try w("positional_embedding", [nil, width])
        // OpenAI's build_model: heads = width / 64, as the released models have.
        let heads = text?.heads ?? max(1, width / 64)
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "model_cfg.text_cfg.heads", "is \(heads), which does not divide the width \(width)")
        }
        // OpenAI's own model.py always uses quick-GELU; open_clip only when
        // its configuration says so (its `-quickgelu` models).
        let activation: Activation = c.openCLIPConfig == nil || c.openCLIPConfig?.model?.quickGELU == true ? .quickGELU : .gelu
        let pooling: TextPooling
        switch text?.poolType ?? "argmax" {
        case "argmax": pooling = .largestTokenID
        case "last": pooling = .last
        case let other:
            throw InputError(file: c.path, field: "model_cfg.text_cfg.pool_type", "is '\(other)', expected argmax or last")
        }
        func norm(_ name: String) throws -> LayerNorm {
            LayerNorm(gamma: try w("\(name).weight", [width]), beta: try w("\(name).bias", [width]), eps: layerNormEps)
        }
        func linear(_ weightName: String, _ biasName: String, _ out: Int?, _ inFeatures: Int?) throws -> Linear {
            let weight = try w(weightName, [out, inFeatures])
            return Linear(weight: weight, bias: try w(biasName, [weight.shape[0]]))
        }
        let layers = countLayers(c, prefix: "transformer.resblocks.")
        var blocks: [TransformerBlock] = []
        for i in 0..<layers {
            let l = "transformer.resblocks.\(i)."
            let fc = try linear("\(l)mlp.c_fc.weight", "\(l)mlp.c_fc.bias", nil, width)
            blocks.append(TransformerBlock(
                norm1: try norm("\(l)ln_1"),
                qkv: [try linear("\(l)attn.in_proj_weight", "\(l)attn.in_proj_bias", 3 * width, width)],
                out: try linear("\(l)attn.out_proj.weight", "\(l)attn.out_proj.bias", width, width),
                norm2: try norm("\(l)ln_2"), fc: fc,
                proj: try linear("\(l)mlp.c_proj.weight", "\(l)mlp.c_proj.bias", width, fc.outFeatures),
                heads: heads, activation: activation))
        }
        let finalNorm = try norm("ln_final")
        // Stored [W, E] and used as x @ P; a bundle's W_t is its transpose.
        let stored = try c.weight("text_projection", shape: [width, nil])
        let e = stored.shape[1]
        let pv = stored.values
        var transposed = [Float](repeating: 0, count: pv.count)
        for i in 0..<width { for j in 0..<e { transposed[j * width + i] = pv[i * e + j] } }
        try requireAllUsed(c, namespace: c.names(withPrefix: "transformer."), used: used)
        return CLIPTextTower(
            shape: TextTowerShape(vocabularySize: tokens.shape[0], contextLength: positions.shape[0], width: width,
                                  layers: layers, heads: heads, activation: activation, pooling: pooling),
            source: c.weightsPath, tokenEmbedding: tokens, positionEmbedding: positions, blocks: blocks,
            finalNorm: finalNorm, projection: Weight(name: "text_projection", shape: [e, width], values: transposed))
    }

    /// The number of blocks `prefix0.`, `prefix1.`, … the file holds; a gap
    /// in the numbering shows up as an unused tensor.
    private static func countLayers(_ c: CLIPCheckpoint, prefix: String) -> Int {
        var n = 0
        let names = c.names(withPrefix: prefix)
        while names.contains(where: { $0.hasPrefix("\(prefix)\(n).") }) { n += 1 }
        return n
    }

    private static func requireAllUsed(_ c: CLIPCheckpoint, namespace: Set<String>, used: Set<String>) throws {
        let unused = namespace.subtracting(used).sorted()
        guard unused.isEmpty else {
            throw InputError(file: c.weightsPath, field: "tensor '\(unused[0])'",
                             "is not part of CLIP's text tower as spurscope computes it\(unused.count > 1 ? " (nor \(unused.count - 1) more)" : ""): the checkpoint has a variant that is not read")
        }
    }
}
