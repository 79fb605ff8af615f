import CBLAS
import SpurCore

/// OpenAI's ModifiedResNet image tower (RN50, RN101, RN50x4, …), forward
/// only, in eval mode with every BatchNorm folded into its convolution:
/// a 3-convolution stem (the first strided) and a 2×2 average pool; four
/// layers of bottleneck blocks whose strides are average pools
/// (anti-aliased); an attention pool whose single query is the mean
/// position. Maps are NHWC throughout, so every 1×1 convolution (most of
/// the work) is one sgemm on the map as it lies.
///
/// The pooled feature is the attention pool's output `[E]`, already the
/// model's image embedding, so the bundle's `W_v` is the identity and its
/// zero-shot is the checkpoint's.
///
/// The spatial map is NOT layer4's output: it is each position of layer4's
/// output, with its positional embedding added as the pool sees it, through
/// the pool's value projection and then `c_proj`. The pooled feature is
/// `c_proj` of an attention-weighted mixture of those values (per head, and
/// with the mean token's value among them), so `⟨F(h,w), g⟩` heatmaps live
/// in the same space as the pooled feature. True Grad-CAM at layer4 would
/// need gradients through the attention, which this map does not give.
public final class ModifiedResNetTower: CLIPImageTower {
    public let shape: ImageTowerShape
    public let source: String
    public let projection: Weight
    /// Blocks per layer, as read from the tensor names.
    public let blockCounts: [Int]
    let stem: [Convolution2D]
    let blocks: [Bottleneck]
    let attentionPool: AttentionPool

    /// Images run through the network together: their sgemms share one
    /// call per convolution (layer4's 7×7 maps alone give sgemm an M of 49).
    static let imagesPerPass = 8
    /// Most floats the pass buffers hold (256 MB): RN50x64's 448-pixel stem
    /// maps are 8 times RN50's, so it runs fewer images per pass.
    static let passBudget = 1 << 26

    init(shape: ImageTowerShape, source: String, blockCounts: [Int], stem: [Convolution2D], blocks: [Bottleneck],
         attentionPool: AttentionPool) {
        self.shape = shape; self.source = source; self.blockCounts = blockCounts
        self.stem = stem; self.blocks = blocks; self.attentionPool = attentionPool
        let e = shape.featureWidth
        var identity = [Float](repeating: 0, count: e * e)
        for i in 0..<e { identity[i * e + i] = 1 }
        projection = Weight(name: "W_v", shape: [e, e], values: identity)
    }

    /// OpenAI's names for the released sizes; others are named by width and
    /// blocks per layer (`RN-W64-L2-2-2-2`).
    static func architectureName(blockCounts: [Int], width: Int) -> String {
        switch (blockCounts, width) {
        case ([3, 4, 6, 3], 64): return "RN50"
        case ([3, 4, 23, 3], 64): return "RN101"
        case ([4, 6, 10, 6], 80): return "RN50x4"
        case ([6, 8, 18, 8], 96): return "RN50x16"
        case ([3, 15, 36, 10], 128): return "RN50x64"
        default: return "RN-W\(width)-L" + blockCounts.map(String.init).joined(separator: "-")
        }
    }

    public func features(pixels: [Float], count: Int, spatial: Bool, tailInput: Bool) throws -> ImageFeatureBatch {
        try features(pixels: pixels, count: count, spatial: spatial, tailInput: tailInput, imagesPerPass: Self.imagesPerPass)
    }

    /// The attention pool under `CAMTailFile`'s names; its input, layer4's
    /// map, is the target (the paper's).
    public var camTail: CAMTailExport {
        let a = attentionPool
        func named(_ name: String, _ w: Weight) -> Weight { Weight(name: name, shape: w.shape, values: w.values) }
        func linear(_ name: String, _ l: Linear) -> [Weight] {
            [named("\(name).weight", l.weight),
             l.bias.map { named("\(name).bias", $0) } ?? Weight(name: "\(name).bias", shape: [l.outFeatures],
                                                              values: [Float](repeating: 0, count: l.outFeatures))]
        }
        let weights = [named("positional_embedding", a.positional)] + linear("q_proj", a.query) + linear("k_proj", a.key)
            + linear("v_proj", a.value) + linear("c_proj", a.output)
        return CAMTailExport(record: CAMTailRecord(kind: .attentionPool, layer: "visual.layer4", heads: a.heads),
                             weights: weights, tokens: shape.gridHeight * shape.gridWidth, width: a.width)
    }

    func features(pixels: [Float], count: Int, spatial: Bool, tailInput: Bool = false, imagesPerPass: Int) throws -> ImageFeatureBatch {
        let side = shape.imageSize, perImage = 3 * side * side
        try checkPixels(pixels, count: count)
        let e = shape.featureWidth, cells = shape.gridHeight * shape.gridWidth
        var pooled: [Float] = []
        pooled.reserveCapacity(count * e)
        var map: [Float]? = spatial ? [] : nil
        map?.reserveCapacity(count * cells * e)
        var tail: [Float]? = tailInput ? [] : nil
        tail?.reserveCapacity(count * cells * attentionPool.width)
        let largest = largestMapPerImage()
        let batch = max(1, min(imagesPerPass, count, Self.passBudget / (PassBuffers.maps * largest)))
        let buffers = PassBuffers(floats: batch * largest)
        pixels.withUnsafeBufferPointer { px in
            var start = 0
            while start < count {
                let n = min(batch, count - start)
                let out = forward(px.baseAddress! + start * perImage, count: n, spatial: spatial, buffers: buffers,
                                  layer4: tailInput ? { tail? += UnsafeBufferPointer(start: $0, count: $1) } : nil)
                pooled += out.pooled
                if let s = out.spatial { map? += s }
                start += n
            }
        }
        return ImageFeatureBatch(count: count, pooled: pooled, spatial: map, tailInput: tail)
    }

    /// Multiply-adds ×2 per image: the convolutions and the attention pool's
    /// projections (the attention itself is a rounding error beside them),
    /// with the spatial map's `c_proj` when it is asked for.
    public func flopsPerImage(spatial: Bool) -> Double {
        var total = 0.0
        walkShapes { conv, input in total += conv.flops(input) }
        let c = Double(attentionPool.width), cells = Double(shape.gridHeight * shape.gridWidth)
        let e = Double(shape.featureWidth)
        total += 2 * c * c * (2 * (cells + 1) + 1) + 2 * c * e * (spatial ? cells + 1 : 1)
        return total
    }

    /// Every convolution with the input shape it sees for one image, in order.
    private func walkShapes(_ visit: (Convolution2D, MapShape) -> Void) {
        var s = MapShape(count: 1, height: shape.imageSize, width: shape.imageSize, channels: 3)
        for conv in stem { visit(conv, s); s = conv.outputShape(s) }
        s = pooledShape(s, 2)
        for block in blocks {
            visit(block.conv1, s)
            let s1 = block.conv1.outputShape(s)
            visit(block.conv2, s1)
            let main = pooledShape(block.conv2.outputShape(s1), block.stride)
            visit(block.conv3, main)
            if let d = block.downsample { visit(d, pooledShape(s, block.stride)) }
            s = block.conv3.outputShape(main)
        }
    }

    /// The largest map (in floats) any step of one image writes: each pass
    /// buffer holds this many per image.
    private func largestMapPerImage() -> Int {
        var most = 3 * shape.imageSize * shape.imageSize
        walkShapes { conv, input in most = max(most, input.elements, conv.outputShape(input).elements) }
        return most
    }

    /// `layer4` sees layer4's output, NHWC (`[n, H·W, C]` as rows), and its length.
    private func forward(_ pixels: UnsafePointer<Float>, count n: Int, spatial: Bool, buffers b: PassBuffers,
                         layer4: ((UnsafePointer<Float>, Int) -> Void)? = nil) -> (pooled: [Float], spatial: [Float]?) {
        let side = shape.imageSize, area = side * side
        var x = b.a, y = b.b
        // NCHW pixels to NHWC.
        for i in 0..<n {
            for c in 0..<3 {
                let plane = pixels + (i * 3 + c) * area, dst = x + i * area * 3 + c
                for p in 0..<area { dst[p * 3] = plane[p] }
            }
        }
        var s = MapShape(count: n, height: side, width: side, channels: 3)
        for conv in stem {
            conv.apply(x, shape: s, into: y, relu: true, scratch: b.columns)
            s = conv.outputShape(s)
            swap(&x, &y)
        }
        averagePool(x, shape: s, kernel: 2, into: y)
        s = pooledShape(s, 2)
        swap(&x, &y)
        for block in blocks {
            let (next, inPlace) = block.forward(x, shape: s, into: y, buffers: b)
            s = next
            if !inPlace { swap(&x, &y) }
        }
        precondition(s.height == shape.gridHeight && s.width == shape.gridWidth)
        layer4?(x, s.elements)
        return attentionPool.forward(x, shape: s, spatial: spatial)
    }
}

func pooledShape(_ s: MapShape, _ k: Int) -> MapShape {
    k == 1 ? s : MapShape(count: s.count, height: s.height / k, width: s.width / k, channels: s.channels)
}

/// A bottleneck block: 1×1, 3×3, (average pool by the stride), 1×1, each
/// with its BatchNorm folded, plus the identity or a downsampling branch
/// (average pool, 1×1, BatchNorm); ReLU after the sum.
struct Bottleneck: Sendable {
    let conv1: Convolution2D
    let conv2: Convolution2D
    let conv3: Convolution2D
    let stride: Int
    let downsample: Convolution2D?

    /// The block's output shape, and whether it was written over `x` (a
    /// block without downsampling adds onto its input in place) rather than
    /// into `y`.
    func forward(_ x: UnsafeMutablePointer<Float>, shape s: MapShape, into y: UnsafeMutablePointer<Float>,
                 buffers b: PassBuffers) -> (MapShape, inPlace: Bool) {
        let s1 = conv1.outputShape(s)
        conv1.apply(x, shape: s, into: b.t1, relu: true, scratch: b.columns)
        let s2 = conv2.outputShape(s1)
        conv2.apply(b.t1, shape: s1, into: b.t2, relu: true, scratch: b.columns)
        var main = b.t2, sm = s2
        if stride > 1 {
            averagePool(b.t2, shape: s2, kernel: stride, into: b.t1)
            main = b.t1; sm = pooledShape(s2, stride)
        }
        let out = conv3.outputShape(sm)
        let target: UnsafeMutablePointer<Float>
        if let downsample {
            var identity = UnsafePointer(x), si = s
            if stride > 1 {
                averagePool(x, shape: s, kernel: stride, into: b.t3)
                identity = UnsafePointer(b.t3); si = pooledShape(s, stride)
            }
            precondition(downsample.outputShape(si) == out)
            downsample.apply(identity, shape: si, into: y, scratch: b.columns)
            target = y
        } else {
            precondition(out == s)
            target = x
        }
        conv3.apply(main, shape: sm, into: target, accumulate: true, relu: true, scratch: b.columns)
        return (out, downsample == nil)
    }
}

/// OpenAI's AttentionPool2d: the map flattened to `[HW, C]`, its mean
/// prepended, positional embeddings added, multi-head attention with the
/// mean token as the only query, then `c_proj` to `E`.
struct AttentionPool: Sendable {
    /// `[HW + 1, C]`, the mean token's first.
    let positional: Weight
    let query: Linear
    let key: Linear
    let value: Linear
    let output: Linear
    let heads: Int

    var width: Int { query.inFeatures }

    func forward(_ x: UnsafePointer<Float>, shape s: MapShape, spatial: Bool) -> (pooled: [Float], spatial: [Float]?) {
        let c = width, cells = s.height * s.width, tokens = cells + 1, n = s.count
        let e = output.outFeatures, d = c / heads
        var t = [Float](repeating: 0, count: n * tokens * c)
        var k = t, v = t
        var q = [Float](repeating: 0, count: n * c), mixed = q
        var scores = [Float](repeating: 0, count: tokens)
        var pooled = [Float](repeating: 0, count: n * e)
        var map: [Float]? = spatial ? [Float](repeating: 0, count: n * cells * e) : nil
        t.withUnsafeMutableBufferPointer { tp in
            let t = tp.baseAddress!
            positional.withFloats { pos in
                for i in 0..<n {
                    let image = x + i * cells * c, rows = t + i * tokens * c
                    (rows + c).update(from: image, count: cells * c)
                    for p in 0..<cells { for j in 0..<c { rows[j] += image[p * c + j] } }
                    let inv = 1 / Float(cells)
                    for j in 0..<c { rows[j] *= inv }
                    for j in 0..<tokens * c { rows[j] += pos[j] }
                }
            }
            q.withUnsafeMutableBufferPointer { query.apply(t, rows: n, ldx: tokens * c, into: $0.baseAddress!, ldy: c) }
            k.withUnsafeMutableBufferPointer { key.apply(t, rows: n * tokens, ldx: c, into: $0.baseAddress!, ldy: c) }
            v.withUnsafeMutableBufferPointer { value.apply(t, rows: n * tokens, ldx: c, into: $0.baseAddress!, ldy: c) }
        }
        let scale = 1 / Float(d).squareRoot()
        k.withUnsafeBufferPointer { kp in
            v.withUnsafeBufferPointer { vp in
                q.withUnsafeBufferPointer { qp in
                    mixed.withUnsafeMutableBufferPointer { mp in
                        scores.withUnsafeMutableBufferPointer { sp in
                            let sc = sp.baseAddress!
                            for i in 0..<n {
                                for h in 0..<heads {
                                    let keys = kp.baseAddress! + i * tokens * c + h * d
                                    let values = vp.baseAddress! + i * tokens * c + h * d
                                    cblas_sgemv(CblasRowMajor, CblasNoTrans, blasint(tokens), blasint(d), scale,
                                                keys, blasint(c), qp.baseAddress! + i * c + h * d, 1, 0, sc, 1)
                                    var m = -Float.infinity
                                    for j in 0..<tokens { m = max(m, sc[j]) }
                                    var total: Float = 0
                                    for j in 0..<tokens { sc[j] = expf(sc[j] - m); total += sc[j] }
                                    cblas_sgemv(CblasRowMajor, CblasTrans, blasint(tokens), blasint(d), 1 / total,
                                                values, blasint(c), sc, 1, 0, mp.baseAddress! + i * c + h * d, 1)
                                }
                            }
                        }
                    }
                }
            }
        }
        mixed.withUnsafeBufferPointer { mp in
            pooled.withUnsafeMutableBufferPointer { output.apply(mp.baseAddress!, rows: n, ldx: c, into: $0.baseAddress!, ldy: e) }
        }
        if map != nil {
            v.withUnsafeBufferPointer { vp in
                map!.withUnsafeMutableBufferPointer { mp in
                    for i in 0..<n {
                        output.apply(vp.baseAddress! + (i * tokens + 1) * c, rows: cells, ldx: c,
                                     into: mp.baseAddress! + i * cells * e, ldy: e)
                    }
                }
            }
        }
        return (pooled, map)
    }
}

/// The maps of one pass: two that alternate as block input and output,
/// three for a block's inner steps, and im2col's columns.
final class PassBuffers {
    static let maps = 5
    let a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>
    let t1: UnsafeMutablePointer<Float>
    let t2: UnsafeMutablePointer<Float>
    let t3: UnsafeMutablePointer<Float>
    let columns = ConvolutionScratch()

    init(floats: Int) {
        a = .allocate(capacity: floats); b = .allocate(capacity: floats)
        t1 = .allocate(capacity: floats); t2 = .allocate(capacity: floats); t3 = .allocate(capacity: floats)
    }

    deinit { for p in [a, b, t1, t2, t3] { p.deallocate() } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
