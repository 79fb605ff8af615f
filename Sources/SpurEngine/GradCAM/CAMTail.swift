import SpurCore

/// The Grad-CAM target layer of one example: its activations and the
/// gradients of some scores there.
public struct TargetLayer: Sendable {
    /// What the tail computed from the cached input: the pooled feature the
    /// head reads (for a checked bundle, its `image_pooled` row).
    public var pooled: [Float]
    /// `[T, C]`: the target layer's output.
    public var activations: Matrix
    /// The rows of `activations` that are the map, `h·W + w` in order (a
    /// ViT's class token is not).
    public var mapRows: Range<Int>
    /// `[K, C]`: Grad-CAM's channel weights, the mean over the map's rows
    /// of each score's gradient.
    public var channelWeights: Matrix
    /// Each score's whole gradient `[T, C]`, when asked for (checks, `cam
    /// --json --gradients`); nil otherwise, since 1,000 classes of them would
    /// not fit.
    public var gradients: [Matrix]?

    /// Grad-CAM of score `k`: `ReLU(Σ_c w_c A_c)` at each map position
    /// (Selvaraju et al.), before any normalising or upsampling.
    public func map(_ k: Int) -> [Float] {
        let a = activations.rows(mapRows)
        let w = Matrix(rows: activations.cols, cols: 1, storage: Array(channelWeights.row(k)))
        return Matrix.product(a, w).storage.map { max(0, $0) }
    }
}

/// The frozen part of an image tower between the Grad-CAM target layer and
/// the pooled feature, run from a bundle's cached input to it.
public protocol CAMTail: Sendable {
    /// The target layer, in the checkpoint's module names.
    var layer: String { get }
    /// Forwards `input` (one example's `image_tail_input` or map), asks
    /// `upstream` for the gradients `[K, Dv]` of `K` scores at the pooled
    /// feature it computed, and back-propagates them to the target layer.
    func target(input: Matrix, upstream: (_ pooled: [Float]) -> Matrix, keepGradients: Bool) -> TargetLayer
}

extension CAMTail {
    /// Channel weights of `K` gradients given as `[T, C]` matrices.
    static func channelWeights(_ gradients: [Matrix], mapRows: Range<Int>, width: Int) -> Matrix {
        var w = Matrix(rows: gradients.count, cols: width)
        let inv = 1 / Float(max(mapRows.count, 1))
        for (k, g) in gradients.enumerated() {
            for r in mapRows {
                for c in 0..<width { w.storage[k * width + c] += g.storage[r * width + c] * inv }
            }
        }
        return w
    }

    /// Runs `backward` on the upstream gradients in chunks, so the whole
    /// gradients of at most `chunk` scores exist at a time.
    static func inChunks(_ upstream: Matrix, mapRows: Range<Int>, width: Int, keepGradients: Bool,
                         chunk: Int = 64, _ backward: (Matrix) -> [Matrix]) -> (Matrix, [Matrix]?) {
        var weights = Matrix(rows: upstream.rows, cols: width)
        var kept: [Matrix]? = keepGradients ? [] : nil
        var start = 0
        while start < upstream.rows {
            let end = min(upstream.rows, start + chunk)
            let g = backward(upstream.rows(start..<end))
            let w = channelWeights(g, mapRows: mapRows, width: width)
            weights.storage.replaceSubrange(start * width ..< end * width, with: w.storage)
            kept? += g
            start = end
        }
        return (weights, kept)
    }
}

/// Mean pooling (the synthetic bundles): the pooled feature is the mean of
/// the map, so the map `image_spatial` is itself the target and each
/// position's gradient is the pooled gradient over `H·W`.
public struct MeanPoolTail: CAMTail {
    public var layer: String { "image_spatial" }
    public init() {}

    public func target(input f: Matrix, upstream: ([Float]) -> Matrix, keepGradients: Bool) -> TargetLayer {
        let pooled = f.meanOfRowBlocks(f.rows).storage
        // Every cell's gradient is the pooled one over H·W, so that is also
        // their mean: the weights need no per-cell gradient at all.
        var weights = upstream(pooled)
        weights.scale(by: 1 / Float(f.rows))
        let kept = keepGradients ? (0..<weights.rows).map { k in
            Matrix(rows: f.rows, cols: f.cols, storage: Array((0..<f.rows).map { _ in weights.row(k) }.joined()))
        } : nil
        return TargetLayer(pooled: pooled, activations: f, mapRows: 0..<f.rows, channelWeights: weights, gradients: kept)
    }
}
