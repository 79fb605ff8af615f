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
        var r = TensorReader(c, skipping: ["\(p)embeddings.position_ids"])
        let tokens = try r.weight("\(p)embeddings.token_embedding.weight", [nil, nil])
        let width = tokens.shape[1]
        let positions = try r.weight("\(p)embeddings.position_embedding.weight", [nil, width])
        let layers = c.layerCount(prefix: "\(p)encoder.layers.")
        let config = c.huggingFaceConfig?.textConfig
        let heads = config?.numAttentionHeads ?? max(1, width / 64)
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "text_config.num_attention_heads", "is \(heads), which does not divide the width \(width)")
        }
        let activation = try Activation.huggingFace(config?.hiddenAct, file: c.path, field: "text_config.hidden_act")
        let eps = config?.layerNormEps.map(Float.init) ?? layerNormEps
        var blocks: [TransformerBlock] = []
        for i in 0..<layers {
            let l = "\(p)encoder.layers.\(i)."
            blocks.append(try r.huggingFaceBlock(l, width: width, heads: heads, activation: activation, eps: eps))
        }
        let finalNorm = try r.norm("\(p)final_layer_norm", width: width, eps: eps)
        let projection = try c.weight("text_projection.weight", shape: [nil, width])
        try r.requireAllUsed(prefixes: [p], tower: "text tower")
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
        var r = TensorReader(c)
        let text = c.openCLIPConfig?.model?.textConfig
        if let hf = text?.hfModelName {
            throw InputError(file: c.path, field: "model_cfg.text_cfg.hf_model_name",
                             "is '\(hf)': open_clip models with a Hugging Face text tower are not read")
        }
        if text?.noCausalMask == true || text?.embedCls == true {
            throw InputError(file: c.path, field: "model_cfg.text_cfg",
                             "asks for \(text?.noCausalMask == true ? "no_causal_mask" : "embed_cls"), which CLIP's text tower does not have and is not read")
        }
        let tokens = try r.weight("token_embedding.weight", [nil, nil])
        let width = tokens.shape[1]
        let positions = try r.weight("positional_embedding", [nil, width])
        // OpenAI's build_model: heads = width / 64, as the released models have.
        let heads = text?.heads ?? max(1, width / 64)
        guard heads > 0, width % heads == 0 else {
            throw InputError(file: c.path, field: "model_cfg.text_cfg.heads", "is \(heads), which does not divide the width \(width)")
        }
        let activation = Activation.openAI(c)
        let pooling: TextPooling
        switch text?.poolType ?? "argmax" {
        case "argmax": pooling = .largestTokenID
        case "last": pooling = .last
        case let other:
            throw InputError(file: c.path, field: "model_cfg.text_cfg.pool_type", "is '\(other)', expected argmax or last")
        }
        let layers = c.layerCount(prefix: "transformer.resblocks.")
        var blocks: [TransformerBlock] = []
        for i in 0..<layers {
            let l = "transformer.resblocks.\(i)."
            blocks.append(try r.openAIBlock(l, width: width, heads: heads, activation: activation, eps: layerNormEps))
        }
        let finalNorm = try r.norm("ln_final", width: width, eps: layerNormEps)
        // Stored [W, E] and used as x @ P; a bundle's W_t is its transpose.
        let projection = try c.weight("text_projection", shape: [width, nil]).transposed(as: "text_projection")
        try r.requireAllUsed(prefixes: ["transformer."], tower: "text tower")
        return CLIPTextTower(
            shape: TextTowerShape(vocabularySize: tokens.shape[0], contextLength: positions.shape[0], width: width,
                                  layers: layers, heads: heads, activation: activation, pooling: pooling),
            source: c.weightsPath, tokenEmbedding: tokens, positionEmbedding: positions, blocks: blocks,
            finalNorm: finalNorm, projection: projection)
    }
}
