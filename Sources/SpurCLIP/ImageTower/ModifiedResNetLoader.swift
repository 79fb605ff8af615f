import SpurCore

extension ModifiedResNetTower {
    /// `torch.nn.BatchNorm2d`'s default, which OpenAI's model keeps.
    static let batchNormEps: Float = 1e-5

    /// The ModifiedResNet of an OpenAI / open_clip checkpoint (`visual.*`).
    /// Its size is read as OpenAI's `build_model` reads it: blocks per layer
    /// from the tensor names, the width from `layer1.0.conv1`, the grid
    /// (and so the image size, 32 pixels a cell) from the attention pool's
    /// positional embedding, heads = width · 32 / 64 (open_clip divides by its
    /// config's `vision_cfg.head_width` instead). Every tensor of the namespace
    /// must be used (BatchNorm's `num_batches_tracked` is read as present and
    /// ignored), and every shape is checked by name.
    public static func load(_ c: CLIPCheckpoint) throws -> ModifiedResNetTower {
        let p = "visual."
        var used: Set<String> = []
        func w(_ name: String, _ shape: [Int?]) throws -> Weight {
            used.insert(name)
            return try c.weight(name, shape: shape)
        }
        func norm(_ name: String, channels: Int) throws -> BatchNorm {
            if c.weights.tensors["\(name).num_batches_tracked"] != nil { used.insert("\(name).num_batches_tracked") }
            return BatchNorm(gamma: try w("\(name).weight", [channels]).values, beta: try w("\(name).bias", [channels]).values,
                             mean: try w("\(name).running_mean", [channels]).values,
                             variance: try w("\(name).running_var", [channels]).values, eps: batchNormEps)
        }
        func conv(_ name: String, norm bn: String, out: Int, in inChannels: Int, kernel: Int,
                  stride: Int = 1, padding: Int = 0) throws -> Convolution2D {
            let weight = try w("\(name).weight", [out, inChannels, kernel, kernel])
            return Convolution2D(torchWeight: weight.values, outChannels: out, inChannels: inChannels, kernel: kernel,
                                 folding: try norm(bn, channels: out), stride: stride, padding: padding)
        }

        let width = try c.weight("\(p)layer1.0.conv1.weight", shape: [nil, nil, 1, 1]).shape[0]
        guard width >= 2, width % 2 == 0 else {
            throw InputError(file: c.weightsPath, field: "tensor '\(p)layer1.0.conv1.weight'",
                             "has \(width) output channels, expected an even width (the stem's first convolutions have half of it)")
        }
        let stem = [
            try conv("\(p)conv1", norm: "\(p)bn1", out: width / 2, in: 3, kernel: 3, stride: 2, padding: 1),
            try conv("\(p)conv2", norm: "\(p)bn2", out: width / 2, in: width / 2, kernel: 3, padding: 1),
            try conv("\(p)conv3", norm: "\(p)bn3", out: width, in: width / 2, kernel: 3, padding: 1),
        ]
        var blocks: [Bottleneck] = [], counts: [Int] = []
        var inplanes = width
        for layer in 1...4 {
            let prefix = "\(p)layer\(layer)."
            let count = countBlocks(c, prefix: prefix)
            guard count > 0 else {
                throw InputError(file: c.weightsPath, field: "tensor '\(prefix)0.conv1.weight'",
                                 "is missing: a ModifiedResNet has four layers of bottleneck blocks")
            }
            let planes = width << (layer - 1)
            for b in 0..<count {
                let l = "\(prefix)\(b)."
                let stride = layer > 1 && b == 0 ? 2 : 1
                let downsamples = stride > 1 || inplanes != 4 * planes
                blocks.append(Bottleneck(
                    conv1: try conv("\(l)conv1", norm: "\(l)bn1", out: planes, in: inplanes, kernel: 1),
                    conv2: try conv("\(l)conv2", norm: "\(l)bn2", out: planes, in: planes, kernel: 3, padding: 1),
                    conv3: try conv("\(l)conv3", norm: "\(l)bn3", out: 4 * planes, in: planes, kernel: 1),
                    stride: stride,
                    downsample: downsamples
                        ? try conv("\(l)downsample.0", norm: "\(l)downsample.1", out: 4 * planes, in: inplanes, kernel: 1)
                        : nil))
                inplanes = 4 * planes
            }
            counts.append(count)
        }

        let embed = width * 32
        let positionalName = "\(p)attnpool.positional_embedding"
        let positional = try w(positionalName, [nil, embed])
        let cells = positional.shape[0] - 1
        let grid = Int(Double(max(cells, 0)).squareRoot().rounded())
        guard cells > 0, grid * grid == cells else {
            throw InputError(file: c.weightsPath, field: "tensor '\(positionalName)'",
                             "has \(positional.shape[0]) rows, expected a square grid plus the mean token (7 × 7 + 1 = 50 at 224 px)")
        }
        func linear(_ name: String, out: Int?) throws -> Linear {
            let weight = try w("\(p)attnpool.\(name).weight", [out, embed])
            return Linear(weight: weight, bias: try w("\(p)attnpool.\(name).bias", [weight.shape[0]]))
        }
        let query = try linear("q_proj", out: embed), key = try linear("k_proj", out: embed)
        let value = try linear("v_proj", out: embed), output = try linear("c_proj", out: nil)
        // OpenAI's build_model: vision_heads = vision_width * 32 // 64;
        // open_clip: vision_width * 32 // vision_cfg.head_width.
        let configured = c.openCLIPConfig?.model?.visionConfig?.headWidth
        let headWidth = configured ?? 64
        let heads = headWidth > 0 ? embed / headWidth : 0
        guard heads > 0, embed % heads == 0 else {
            if let configured {
                throw InputError(file: c.path, field: "model_cfg.vision_cfg.head_width",
                                 "is \(configured), which gives no whole number of attention heads for the pool's width \(embed)")
            }
            throw InputError(file: c.weightsPath, field: "tensor '\(positionalName)'",
                             "has width \(embed), which \(embed / 64) attention heads of 64 do not divide")
        }
        try requireAllUsed(c, namespace: c.names(withPrefix: p), used: used)
        let e = output.outFeatures
        return ModifiedResNetTower(
            shape: ImageTowerShape(architecture: architectureName(blockCounts: counts, width: width),
                                   imageSize: 32 * grid, gridHeight: grid, gridWidth: grid,
                                   featureWidth: e, embeddingWidth: e, pooling: .attention),
            source: c.weightsPath, blockCounts: counts, stem: stem, blocks: blocks,
            attentionPool: AttentionPool(positional: positional, query: query, key: key, value: value,
                                         output: output, heads: heads))
    }

    /// The number of blocks `prefix0.`, `prefix1.`, …; a gap in the
    /// numbering shows up as an unused tensor.
    private static func countBlocks(_ c: CLIPCheckpoint, prefix: String) -> Int {
        let names = c.names(withPrefix: prefix)
        var n = 0
        while names.contains(where: { $0.hasPrefix("\(prefix)\(n).") }) { n += 1 }
        return n
    }

    private static func requireAllUsed(_ c: CLIPCheckpoint, namespace: Set<String>, used: Set<String>) throws {
        let unused = namespace.subtracting(used).sorted()
        guard unused.isEmpty else {
            throw InputError(file: c.weightsPath, field: "tensor '\(unused[0])'",
                             "is not part of OpenAI's ModifiedResNet as spurscope computes it\(unused.count > 1 ? " (nor \(unused.count - 1) more)" : ""): the checkpoint has a variant that is not read")
        }
    }
}
