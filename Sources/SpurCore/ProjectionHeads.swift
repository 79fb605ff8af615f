
import Foundation

/// The only trainable part of the model: the image and text projections and
/// the temperature. Encoders are frozen, so these three are the whole state
/// of a fine-tuning run.
public struct ProjectionHeads: Equatable, Sendable {
    /// `W_v`, `[E, Dv]`.
    public var image: Matrix
    /// `W_t`, `[E, Dt]`.
    public var text: Matrix
    /// `log s`; the similarity scale is `s = exp(logitScale)`, clamped.
    public var logitScale: Float

    /// CLIP clamps the scale at 100 so the logits cannot blow up.
    public static let maxScale: Float = 100

    public init(image: Matrix, text: Matrix, logitScale: Float) {
        precondition(image.rows == text.rows, "W_v has \(image.rows) rows but W_t has \(text.rows)")
        self.image = image
        self.text = text
        self.logitScale = logitScale
    }

    public var embeddingDim: Int { image.rows }
    public var imageDim: Int { image.cols }
    public var textDim: Int { text.cols }

    /// `s = min(exp(logitScale), 100)`.
    public var scale: Float { min(expf(logitScale), Self.maxScale) }

    /// `d s / d logitScale`: `s` itself, or 0 once the clamp is active.
    public var scaleDerivative: Float {
        let s = expf(logitScale)
        return s < Self.maxScale ? s : 0
    }
}

/// Gradients with respect to every parameter of `ProjectionHeads`.
public struct HeadGradients: Equatable, Sendable {
    public var image: Matrix
    public var text: Matrix
    public var logitScale: Float

    public init(image: Matrix, text: Matrix, logitScale: Float) {
        self.image = image
        self.text = text
        self.logitScale = logitScale
    }

    public static func zeros(like heads: ProjectionHeads) -> HeadGradients {
        HeadGradients(image: Matrix(rows: heads.image.rows, cols: heads.image.cols),
                      text: Matrix(rows: heads.text.rows, cols: heads.text.cols),
                      logitScale: 0)
    }
}

extension ProjectionHeads {
    /// The first parameter holding NaN or ±inf, named as in a bundle's or a
    /// checkpoint's safetensors file, with its element index and value.
    public var firstNonFinite: (tensor: String, index: Int, value: Float)? {
        if !logitScale.isFinite { return ("logit_scale", 0, logitScale) }
        for (name, m) in [("W_v", image), ("W_t", text)] {
            if let i = m.storage.firstIndex(where: { !$0.isFinite }) { return (name, i, m.storage[i]) }
        }
        return nil
    }
}
