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

    /// Bilinear upsampling of an `h×w` map to `size×size` (pixel centres
    /// aligned), scaled to [0, 1] by its maximum (all zeros stay zeros).
    public static func upsampled(_ m: [Float], height h: Int, width w: Int, size: Int) -> [Float] {
        precondition(m.count == h * w, "map of \(m.count) cells is not \(h)×\(w)")
        var out = [Float](repeating: 0, count: size * size)
        func coordinate(_ i: Int, _ cells: Int) -> (Int, Int, Float) {
            let s = min(max((Float(i) + 0.5) * Float(cells) / Float(size) - 0.5, 0), Float(cells - 1))
            let i0 = Int(s)
            return (i0, min(i0 + 1, cells - 1), s - Float(i0))
        }
        for y in 0..<size {
            let (y0, y1, fy) = coordinate(y, h)
            for x in 0..<size {
                let (x0, x1, fx) = coordinate(x, w)
                let top = m[y0 * w + x0] * (1 - fx) + m[y0 * w + x1] * fx
                let bottom = m[y1 * w + x0] * (1 - fx) + m[y1 * w + x1] * fx
                out[y * size + x] = top * (1 - fy) + bottom * fy
            }
        }
        let peak = out.max() ?? 0
        return peak > 0 ? out.map { $0 / peak } : out
    }

    /// `IoU(M, B) = Σ min(M, B) / Σ max(M, B)` (0 when both are empty).
    public static func iou(_ m: [Float], _ b: [Float]) -> Float {
        precondition(m.count == b.count, "maps of different sizes")
        var num: Float = 0, den: Float = 0
        for i in m.indices { num += min(m[i], b[i]); den += max(m[i], b[i]) }
        return den > 0 ? num / den : 0
    }

    /// `AIoU = IoU(M_y, B) / (IoU(M_y, B) + max_{y'≠y} IoU(M_y', B))`: how
    /// much better the true class's map covers the object than any other
    /// class's (0 when no map touches it).
    public static func aiou(maps: [[Float]], trueClass y: Int, mask b: [Float]) -> Float {
        let own = iou(maps[y], b)
        let other = maps.indices.filter { $0 != y }.map { iou(maps[$0], b) }.max() ?? 0
        return own + other > 0 ? own / (own + other) : 0
    }
}
