import SpurCore
import Foundation

/// Updates `ProjectionHeads` from their gradients. Weight decay is decoupled
/// (applied to the weights, not added to the gradient, as in AdamW) and
/// applies to `W_v`, `W_t` only: the temperature is not decayed, as in CLIP.
public protocol Optimizer: Sendable {
    mutating func step(_ heads: inout ProjectionHeads, gradients: HeadGradients)
    /// Everything the optimizer carries between steps, by name, for checkpoints.
    var state: [String: [Float]] { get }
    mutating func restore(_ state: [String: [Float]], like heads: ProjectionHeads)
}

/// SGD with momentum (PyTorch's convention, no dampening):
/// `m ← μ·m + g`, `w ← w − lr·wd·w − lr·m`.
public struct SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    var velocity: HeadGradients?

    public var state: [String: [Float]] {
        guard let v = velocity else { return [:] }
        return ["velocity.W_v": v.image.storage, "velocity.W_t": v.text.storage, "velocity.logit_scale": [v.logitScale]]
    }

    public mutating func restore(_ state: [String: [Float]], like heads: ProjectionHeads) {
        velocity = HeadGradients.restore(state, prefix: "velocity", like: heads)
    }

    public init(learningRate: Float, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public mutating func step(_ heads: inout ProjectionHeads, gradients g: HeadGradients) {
        var v = velocity ?? HeadGradients.zeros(like: heads)
        v.image.scale(by: momentum); v.image.add(g.image)
        v.text.scale(by: momentum); v.text.add(g.text)
        v.logitScale = momentum * v.logitScale + g.logitScale
        let lr = learningRate
        heads.image.scale(by: 1 - lr * weightDecay); heads.image.add(v.image, scaledBy: -lr)
        heads.text.scale(by: 1 - lr * weightDecay); heads.text.add(v.text, scaledBy: -lr)
        heads.logitScale -= lr * v.logitScale
        velocity = v
    }
}

/// Adam with decoupled weight decay (AdamW):
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `w ← w − lr·wd·w − lr·m̂/(√v̂ + ε)` with bias-corrected `m̂`, `v̂`.
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    var first: HeadGradients?
    var second: HeadGradients?
    var t = 0

    public var state: [String: [Float]] {
        guard let m = first, let v = second else { return [:] }
        return ["adam.m.W_v": m.image.storage, "adam.m.W_t": m.text.storage, "adam.m.logit_scale": [m.logitScale],
                "adam.v.W_v": v.image.storage, "adam.v.W_t": v.text.storage, "adam.v.logit_scale": [v.logitScale],
                "adam.t": [Float(t)]]
    }

    public mutating func restore(_ state: [String: [Float]], like heads: ProjectionHeads) {
        first = HeadGradients.restore(state, prefix: "adam.m", like: heads)
        second = HeadGradients.restore(state, prefix: "adam.v", like: heads)
        t = Int(state["adam.t"]?.first ?? 0)
    }

    public init(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public mutating func step(_ heads: inout ProjectionHeads, gradients g: HeadGradients) {
        t += 1
        var m = first ?? HeadGradients.zeros(like: heads)
        var v = second ?? HeadGradients.zeros(like: heads)
        let decay = 1 - learningRate * weightDecay
        func update(_ w: inout [Float], _ m: inout [Float], _ v: inout [Float], _ g: [Float], decay: Float) {
            Self.update(&w, first: &m, second: &v, gradient: g, learningRate: learningRate, beta1: beta1, beta2: beta2,
                        epsilon: epsilon, step: t, decay: decay)
        }
        update(&heads.image.storage, &m.image.storage, &v.image.storage, g.image.storage, decay: decay)
        update(&heads.text.storage, &m.text.storage, &v.text.storage, g.text.storage, decay: decay)
        var ls = [heads.logitScale], ml = [m.logitScale], vl = [v.logitScale]
        update(&ls, &ml, &vl, [g.logitScale], decay: 1)
        heads.logitScale = ls[0]; m.logitScale = ml[0]; v.logitScale = vl[0]
        first = m
        second = v
    }
}

extension Adam {
    /// One AdamW update of a flat parameter array and its moments, at step
    /// `t` (from 1): the rule `step` applies to each of the heads' tensors,
    /// for callers whose parameters are not `ProjectionHeads`.
    public static func update(_ w: inout [Float], first m: inout [Float], second v: inout [Float], gradient g: [Float],
                              learningRate lr: Float, beta1 b1: Float = 0.9, beta2 b2: Float = 0.999,
                              epsilon eps: Float = 1e-8, step t: Int, decay: Float = 1) {
        let c1 = 1 - powf(b1, Float(t)), c2 = 1 - powf(b2, Float(t))
        for i in w.indices {
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            w[i] = w[i] * decay - lr * (m[i] / c1) / ((v[i] / c2).squareRoot() + eps)
        }
    }
}

extension HeadGradients {
    /// The gradients-shaped state saved under `prefix`, if all of it is there with the right sizes.
    static func restore(_ state: [String: [Float]], prefix: String, like heads: ProjectionHeads) -> HeadGradients? {
        guard let wv = state["\(prefix).W_v"], wv.count == heads.image.storage.count,
              let wt = state["\(prefix).W_t"], wt.count == heads.text.storage.count,
              let ls = state["\(prefix).logit_scale"]?.first else { return nil }
        return HeadGradients(image: Matrix(rows: heads.image.rows, cols: heads.image.cols, storage: wv),
                             text: Matrix(rows: heads.text.rows, cols: heads.text.cols, storage: wt), logitScale: ls)
    }
}
