import SpurCore

/// Grad-CAM through the head (DESIGN.md "Metrics"):
/// `g_y = ∂(s⟨v, c_y⟩)/∂x` with `v = normalize(W_v x)` and `x` the pooled
/// feature, `M_y(h,w) = ReLU(⟨F(h,w), g_y⟩)`. With mean pooling this is
/// exactly Grad-CAM on the last feature map.
public enum GradCAM {
    /// `g_y` for every class, `[C, Dv]`, for one pooled feature `x`.
    /// `scale` multiplies the similarities (default: the head's `s`).
    public static func classGradients(pooled x: [Float], heads: ProjectionHeads, classEmbeddings c: Matrix, scale: Float? = nil) -> Matrix {
        let forward = Matrix.product(Matrix(rows: 1, cols: x.count, storage: x), heads.image, transposeB: true).normalizedRows()
        // ∂⟨v, c_y⟩/∂z = (c_y − v⟨v, c_y⟩)/‖z‖ for each class: normalise-backward with c_y as the upstream gradient.
        var dz = Matrix(rows: c.rows, cols: c.cols)
        for y in 0..<c.rows {
            let g = Matrix.normalizeRowsBackward(forward, gradient: Matrix(rows: 1, cols: c.cols, storage: Array(c.row(y))))
            dz.storage.replaceSubrange(y * c.cols ..< (y + 1) * c.cols, with: g.storage)
        }
        // z = W_v x, so ∂/∂x = W_vᵀ ∂/∂z; times the scale s.
        return Matrix.product(dz, heads.image, alpha: scale ?? heads.scale)
    }

    /// `M(h,w) = ReLU(⟨F(h,w), g⟩)` over the `[H·W, Dv]` map.
    public static func map(spatial f: Matrix, gradient g: [Float]) -> [Float] {
        Matrix.product(f, Matrix(rows: g.count, cols: 1, storage: g)).storage.map { max(0, $0) }
    }

    /// The `gridHeight × gridWidth` map upsampled bilinearly to
    /// `width × height` (an image's own size: the axes scale independently)
    /// and scaled to [0, 1] by its maximum (all zeros stay zeros).
    public static func upsampled(_ m: [Float], gridHeight: Int, gridWidth: Int, width: Int, height: Int) -> Heatmap {
        var h = Heatmap.bilinear(m, gridWidth: gridWidth, gridHeight: gridHeight, width: width, height: height)
        h.scaleToPeak()
        return h
    }

    /// `IoU(M, B) = Σ min(M, B) / Σ max(M, B)` (0 when both are empty).
    public static func iou(_ m: Heatmap, _ b: Heatmap) -> Float {
        precondition(m.width == b.width && m.height == b.height,
                     "IoU of a \(m.width)x\(m.height) map and a \(b.width)x\(b.height) mask")
        var num: Float = 0, den: Float = 0
        for (x, y) in zip(m.values, b.values) { num += min(x, y); den += max(x, y) }
        return den > 0 ? num / den : 0
    }

    /// `AIoU = IoU(M_y, B) / (IoU(M_y, B) + max_{y'≠y} IoU(M_y', B))`: how
    /// much better the true class's map covers the object than any other
    /// class's (0 when no map touches it). `grids` are every class's map on
    /// the feature grid; each is upsampled to the mask's own width and height
    /// in turn, so only one full-size map exists at a time (with 1,000 classes
    /// and 500 × 375 masks, all at once would be 750 MB).
    public static func aiou(grids: [[Float]], gridHeight: Int, gridWidth: Int, trueClass y: Int, mask b: Heatmap) -> Float {
        func iouOf(_ c: Int) -> Float {
            iou(upsampled(grids[c], gridHeight: gridHeight, gridWidth: gridWidth, width: b.width, height: b.height), b)
        }
        let own = iouOf(y)
        let other = grids.indices.filter { $0 != y }.map(iouOf).max() ?? 0
        return own + other > 0 ? own / (own + other) : 0
    }
}
