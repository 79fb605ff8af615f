import CBLAS
import SpurCore

/// CLIP's Vision Transformer, forward only: patch embedding, class token,
/// position embedding, `ln_pre`, pre-LN blocks without a mask, and
/// `ln_post` at every token — at the class token it is the pooled feature
/// (`pooler_output`), at the patch tokens the spatial map, as
/// tools/extract's clip.py stores them.
public final class VisionTransformer: CLIPImageTower {
    public let shape: ImageTowerShape
    public let source: String
    /// `visual_projection` as `[E, Dv]` (a bundle's `W_v`).
    public let projection: Weight
    /// The patch convolution `[Dv, 3, P, P]`: its rows, read flat, are
    /// `[Dv, 3·P·P]`, the matrix the gathered patches multiply.
    let patchWeight: Weight
    let classEmbedding: Weight
    /// `[1 + H·W, Dv]`: the class token's row, then the patches row-major.
    let positionEmbedding: Weight
    let preNorm: LayerNorm
    let blocks: [TransformerBlock]
    let postNorm: LayerNorm
    let patchSize: Int
    /// The last block's first LayerNorm in the checkpoint's own names:
    /// Grad-CAM's target.
    let targetLayer: String

    init(shape: ImageTowerShape, source: String, projection: Weight, patchWeight: Weight, classEmbedding: Weight,
         positionEmbedding: Weight, preNorm: LayerNorm, blocks: [TransformerBlock], postNorm: LayerNorm, patchSize: Int,
         targetLayer: String) {
        self.shape = shape; self.source = source; self.projection = projection
        self.patchWeight = patchWeight; self.classEmbedding = classEmbedding; self.positionEmbedding = positionEmbedding
        self.preNorm = preNorm; self.blocks = blocks; self.postNorm = postNorm; self.patchSize = patchSize
        self.targetLayer = targetLayer
    }

    /// The last block and `ln_post` under `CAMTailFile`'s (OpenAI's) names,
    /// q, k and v stacked into one input projection whatever the layout.
    public var camTail: CAMTailExport {
        let last = blocks[blocks.count - 1]
        func named(_ name: String, _ w: Weight) -> Weight { Weight(name: name, shape: w.shape, values: w.values) }
        let inProj = Weight(name: "attn.in_proj_weight", shape: [3 * width, width], values: last.qkv.flatMap(\.weight.values))
        let inBias = Weight(name: "attn.in_proj_bias", shape: [3 * width],
                            values: last.qkv.flatMap { $0.bias?.values ?? [Float](repeating: 0, count: $0.outFeatures) })
        func bias(_ name: String, _ l: Linear) -> Weight {
            l.bias.map { named(name, $0) } ?? Weight(name: name, shape: [l.outFeatures], values: [Float](repeating: 0, count: l.outFeatures))
        }
        let weights = [named("ln_1.weight", last.norm1.gamma), named("ln_1.bias", last.norm1.beta), inProj, inBias,
                       named("attn.out_proj.weight", last.out.weight), bias("attn.out_proj.bias", last.out),
                       named("ln_2.weight", last.norm2.gamma), named("ln_2.bias", last.norm2.beta),
                       named("mlp.c_fc.weight", last.fc.weight), bias("mlp.c_fc.bias", last.fc),
                       named("mlp.c_proj.weight", last.proj.weight), bias("mlp.c_proj.bias", last.proj),
                       named("ln_post.weight", postNorm.gamma), named("ln_post.bias", postNorm.beta)]
        return CAMTailExport(record: CAMTailRecord(kind: .visionLastBlock, layer: targetLayer, heads: last.heads,
                                                   activation: last.activation.rawValue, layerNormEps: last.norm1.eps),
                             weights: weights, tokens: tokens, width: width)
    }

    var width: Int { shape.featureWidth }
    var patchCount: Int { shape.gridHeight * shape.gridWidth }
    /// Rows per image: the class token and the patches.
    var tokens: Int { 1 + patchCount }
    var patchFeatures: Int { 3 * patchSize * patchSize }

    /// Most rows (images × tokens) in one pass: bounds the work buffers (the
    /// MLP's `[rows, 4·Dv]` is the largest) whatever the number of images,
    /// while keeping every GEMM thousands of rows tall.
    static let rowsPerPass = 4096

    public func features(pixels: [Float], count: Int, spatial: Bool, tailInput: Bool) throws -> ImageFeatureBatch {
        try features(pixels: pixels, count: count, spatial: spatial, tailInput: tailInput, rowsPerPass: Self.rowsPerPass)
    }

    func features(pixels: [Float], count: Int, spatial: Bool, tailInput: Bool = false, rowsPerPass: Int) throws -> ImageFeatureBatch {
        let s = shape.imageSize, perImage = 3 * s * s
        try checkPixels(pixels, count: count)
        let w = width, n = patchCount, t = tokens
        var pooled = [Float](repeating: 0, count: count * w)
        var map = [Float](repeating: 0, count: spatial ? count * n * w : 0)
        var tail: [Float] = []
        if tailInput { tail.reserveCapacity(count * t * w) }
        let perPass = max(1, rowsPerPass / t)
        var scratch = Scratch()
        pixels.withUnsafeBufferPointer { px in
            pooled.withUnsafeMutableBufferPointer { pp in
                map.withUnsafeMutableBufferPointer { mp in
                    var start = 0
                    while start < count {
                        let k = min(perPass, count - start)
                        let x = hiddenStates(px.baseAddress! + start * perImage, count: k, scratch: &scratch,
                                             beforeLastBlock: tailInput ? { tail += $0 } : nil)
                        x.withUnsafeBufferPointer { xp in
                            for i in 0..<k {
                                let image = xp.baseAddress! + i * t * w
                                postNorm.apply(image, rows: 1, width: w, into: pp.baseAddress! + (start + i) * w)
                                if spatial {
                                    postNorm.apply(image + w, rows: n, width: w, into: mp.baseAddress! + (start + i) * n * w)
                                }
                            }
                        }
                        start += k
                    }
                }
            }
        }
        return ImageFeatureBatch(count: count, pooled: pooled, spatial: spatial ? map : nil, tailInput: tailInput ? tail : nil)
    }

    /// Every token's state after the last block, before `ln_post`:
    /// `[count · tokens, Dv]`, each image's class token then its patches.
    /// `beforeLastBlock` sees the states entering the last block (the Grad-CAM tail's input).
    func hiddenStates(_ pixels: UnsafePointer<Float>, count: Int, scratch: inout Scratch,
                      beforeLastBlock: (([Float]) -> Void)? = nil) -> [Float] {
        let w = width, n = patchCount, t = tokens
        scratch.reserve(patchRows: count * n, patchFeatures: patchFeatures, width: w)
        var x = [Float](repeating: 0, count: count * t * w)
        scratch.withBuffers { patches, embedded in
            embedPatches(pixels, count: count, patches: patches, into: embedded)
            x.withUnsafeMutableBufferPointer { xp in
                let x = xp.baseAddress!
                classEmbedding.withFloats { cls in
                    positionEmbedding.withFloats { pos in
                        for i in 0..<count {
                            let image = x + i * t * w
                            for j in 0..<w { image[j] = cls[j] + pos[j] }
                            let own = embedded + i * n * w
                            for j in 0..<(n * w) { image[w + j] = own[j] + pos[w + j] }
                        }
                    }
                }
                // Row by row, each value read before it is written: in place is safe.
                preNorm.apply(x, rows: count * t, width: w, into: x)
            }
        }
        let sequences = (0..<count).map { PackedSequence(rows: $0 * t ..< ($0 + 1) * t) }
        for (i, block) in blocks.enumerated() {
            if i == blocks.count - 1 { beforeLastBlock?(x) }
            block.forward(&x, sequences: sequences, causal: false, scratch: &scratch.block)
        }
        return x
    }

    /// The patch convolution (stride = kernel, no bias) as one sgemm: the
    /// patches are disjoint, so each is gathered once into a row
    /// `[3·P·P]` in the kernel's (channel, y, x) order — no im2col overlap —
    /// and multiplied by the kernel read as `[Dv, 3·P·P]`. Out: `[count · H·W, Dv]`.
    func embedPatches(_ pixels: UnsafePointer<Float>, count: Int, patches: UnsafeMutablePointer<Float>,
                      into out: UnsafeMutablePointer<Float>) {
        let p = patchSize, s = shape.imageSize, gh = shape.gridHeight, gw = shape.gridWidth
        let f = patchFeatures, rows = count * gh * gw
        guard rows > 0 else { return }
        for i in 0..<count {
            let image = pixels + i * 3 * s * s
            for r in 0..<gh {
                for c in 0..<gw {
                    let row = patches + ((i * gh + r) * gw + c) * f
                    for ch in 0..<3 {
                        for y in 0..<p {
                            (row + (ch * p + y) * p).update(from: image + (ch * s + r * p + y) * s + c * p, count: p)
                        }
                    }
                }
            }
        }
        patchWeight.withFloats { k in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(width), blasint(f),
                        1, patches, blasint(f), k, blasint(f), 0, out, blasint(width))
        }
    }

    /// The multiply-adds ×2 of `features` for `count` images: the patch
    /// embedding, and per token and layer the QKV, output and MLP products
    /// (4·W² + 2·W·hidden) and attention over the image's tokens (4·T·W).
    public func flops(images count: Int) -> Double {
        let w = Double(width), t = Double(tokens)
        let perImage = 2 * Double(patchCount * patchFeatures) * w
            + blocks.reduce(0.0) { $0 + t * (8 * w * w + 4 * w * Double($1.fc.outFeatures) + 4 * t * w) }
        return Double(count) * perImage
    }

    /// Work buffers kept across passes, so a call allocates them once.
    struct Scratch {
        var block = BlockScratch()
        private var patches: [Float] = []
        private var embedded: [Float] = []

        mutating func reserve(patchRows: Int, patchFeatures: Int, width: Int) {
            if patches.count < patchRows * patchFeatures { patches = [Float](repeating: 0, count: patchRows * patchFeatures) }
            if embedded.count < patchRows * width { embedded = [Float](repeating: 0, count: patchRows * width) }
        }

        mutating func withBuffers(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
            patches.withUnsafeMutableBufferPointer { a in
                embedded.withUnsafeMutableBufferPointer { b in body(a.baseAddress!, b.baseAddress!) }
            }
        }
    }
}
