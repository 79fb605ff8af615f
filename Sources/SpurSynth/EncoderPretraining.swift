import Foundation
import SpurCore
import SpurEngine

/// Pre-trains the encoder's top layers on a broad corpus, then they stay
/// frozen. The corpus is the stand-in for web-scale image–text data: every
/// species appears on both backgrounds equally often, and each image's
/// caption names the species, the background and the objects in it. The
/// encoder learns to predict those caption words from the pooled feature
/// (species: softmax; background and each object: sigmoid) — weakly
/// supervised pre-training on caption words, so its features hold both the
/// bird and the scene, as CLIP's do.
///
/// Gradients run back through the mean pooling, the 1×1 layer and the 3×3
/// layer to the layers' weights; the stem is fixed, so its output is
/// computed once and no gradient into the image is needed.
struct EncoderPretraining {
    /// What a caption says about one corpus image.
    struct Tags {
        var species: Int
        /// Yes/no words: the background ("water"), the class ("waterbird"), then
        /// each object in `SceneObject.allCases` order.
        var words: [Bool]
        init(species: Int, words: [Bool]) {
            self.species = species
            self.words = words
        }

        init(_ s: SceneSpec) {
            self.init(species: s.species,
                      words: [s.background == .water, s.birdClass == .waterbird] + SceneObject.allCases.map { s.objects.contains($0) })
        }
    }

    /// From the recipe (`encoder_steps`, `encoder_batch`, `encoder_learning_rate`),
    /// which holds the only defaults.
    var steps: Int
    var batchSize: Int
    var learningRate: Float
    /// Loss weights of the yes/no words relative to the species word.
    var wordWeights: [Float] = [1, 1] + [Float](repeating: 0.5, count: SceneObject.allCases.count)

    /// One step's loss and the gradients of the top layers and the tag head.
    struct StepResult {
        var loss: Float
        /// Share of the batch whose species the head names first.
        var speciesAccuracy: Float
        /// Share whose top species is of the right class.
        var classAccuracy: Float
        var gradients: [[Float]]   // W4, b4, W5, b5, head W, head b
    }

    static var tagCount: Int { Species.all.count + 2 + SceneObject.allCases.count }

    /// Loss and gradients for one batch whose stem activations are `stemAct`,
    /// each example weighted `weight` (the mean over the batch by default; a
    /// shard of a larger batch passes 1 / that batch's size, so the shards'
    /// results add up to the whole batch's).
    static func step(_ enc: SyntheticImageEncoder, head: Matrix, headBias: [Float], stemAct: Matrix,
                     tags: [Tags], wordWeights: [Float], weight: Float? = nil) -> StepResult {
        let b = tags.count, cells = enc.cells, s = Species.all.count
        let f = enc.topForward(stem: stemAct, images: b)
        let pooled = f.output.meanOfRowBlocks(cells)
        var logits = Matrix.product(pooled, head)
        let t = logits.cols
        for r in 0..<b { for c in 0..<t { logits.storage[r * t + c] += headBias[c] } }

        // Loss and its gradient with respect to the logits, averaged over the batch.
        var dLogits = Matrix(rows: b, cols: t)
        var loss: Float = 0
        var correct = 0, classCorrect = 0
        let invB = weight ?? 1 / Float(b)
        for r in 0..<b {
            // Species: softmax over the first `s` logits only.
            var m = -Float.infinity
            for c in 0..<s { m = max(m, logits.storage[r * t + c]) }
            var sum: Float = 0
            for c in 0..<s { sum += expf(logits.storage[r * t + c] - m) }
            let logZ = m + logf(sum)
            var best = 0
            for c in 1..<s where logits.storage[r * t + c] > logits.storage[r * t + best] { best = c }
            if best == tags[r].species { correct += 1 }
            if Species.all[best].birdClass == Species.all[tags[r].species].birdClass { classCorrect += 1 }
            for c in 0..<s {
                let lp = logits.storage[r * t + c] - logZ
                if c == tags[r].species { loss -= lp * invB }
                dLogits.storage[r * t + c] = (expf(lp) - (c == tags[r].species ? 1 : 0)) * invB
            }
            for (j, word) in tags[r].words.enumerated() {
                let (w, y): (Float, Float) = (wordWeights[j], word ? 1 : 0)
                let z = logits.storage[r * t + s + j]
                // BCE with logits, stable form: max(z,0) − z·y + log(1 + e^−|z|).
                loss += w * invB * (max(z, 0) - z * y + log1pf(expf(-abs(z))))
                dLogits.storage[r * t + s + j] = w * invB * (1 / (1 + expf(-z)) - y)
            }
        }

        let dHead = Matrix.product(pooled, transposeA: true, dLogits)
        let dHeadBias = columnSums(dLogits)
        let dPooled = Matrix.product(dLogits, head, transposeB: true)
        // Mean pooling spreads the pooled gradient evenly over the cells; ReLU gates it.
        var dOut = Matrix(rows: f.output.rows, cols: f.output.cols)
        let d = dOut.cols, invCells = 1 / Float(cells)
        for r in 0..<dOut.rows {
            let src = (r / cells) * d
            for c in 0..<d where f.output.storage[r * d + c] > 0 {
                dOut.storage[r * d + c] = dPooled.storage[src + c] * invCells
            }
        }
        let dW5 = Matrix.product(f.hidden, transposeA: true, dOut)
        var dHidden = Matrix.product(dOut, enc.top[1].weights, transposeB: true)
        for i in dHidden.storage.indices where f.hidden.storage[i] <= 0 { dHidden.storage[i] = 0 }
        let dW4 = Matrix.product(f.patches, transposeA: true, dHidden)
        return StepResult(loss: loss, speciesAccuracy: Float(correct) * invB, classAccuracy: Float(classCorrect) * invB, gradients: [dW4.storage, columnSums(dHidden), dW5.storage, columnSums(dOut),
                                                  dHead.storage, dHeadBias])
    }

    /// Shards per pre-training batch (see `run`).
    static let shards = 2

    /// The results of a batch's shards, added.
    static func sum(_ parts: [StepResult]) -> StepResult {
        var total = parts[0]
        for p in parts.dropFirst() {
            total.loss += p.loss
            total.speciesAccuracy += p.speciesAccuracy
            total.classAccuracy += p.classAccuracy
            for g in total.gradients.indices {
                total.gradients[g].withUnsafeMutableBufferPointer { t in
                    p.gradients[g].withUnsafeBufferPointer { x in for i in t.indices { t[i] += x[i] } }
                }
            }
        }
        return total
    }

    static func columnSums(_ m: Matrix) -> [Float] {
        var out = [Float](repeating: 0, count: m.cols)
        for r in 0..<m.rows { for c in 0..<m.cols { out[c] += m.storage[r * m.cols + c] } }
        return out
    }

    /// Trains `enc.top` in place with Adam on mini-batches of the corpus,
    /// given the stem's output for it (`stemAll`, from `enc.stemOutput`).
    func run(_ enc: inout SyntheticImageEncoder, stemAll: Matrix, tags: [Tags], seed: UInt64,
             progress: (Int, Float, Float, Float) -> Void) {
        var initRNG = SeededGenerator(seed: seed, purpose: "encoder-head")
        let t = Self.tagCount
        var head = initRNG.gaussianMatrix(rows: enc.dim, cols: t, std: 1 / Float(enc.dim).squareRoot())
        var headBias = [Float](repeating: 0, count: t)
        let images = 0..<tags.count

        var adam = FlatAdam(learningRate: learningRate)
        var rng = SeededGenerator(seed: seed, purpose: "encoder-batches")
        var order = Array(images.indices)
        var cursor = order.count
        let b = min(batchSize, images.count)
        var accuracy: Float = 0, classAccuracy: Float = 0
        BLASInfo.singleThreaded {
            for step in 0..<steps {
                if cursor + b > order.count { order.shuffle(using: &rng); cursor = 0 }
                let idx = Array(order[cursor..<(cursor + b)])
                cursor += b
                let r = Self.shardedStep(enc, head: head, headBias: headBias, stemAll: stemAll,
                                         batch: idx.map { ($0, tags[$0]) }, wordWeights: wordWeights)
                var params = [enc.top[0].weights.storage, enc.top[0].bias, enc.top[1].weights.storage, enc.top[1].bias,
                              head.storage, headBias]
                // Cosine decay to zero: the last steps settle instead of rattling.
                adam.learningRate = learningRate * 0.5 * (1 + cosf(Float.pi * Float(step) / Float(max(steps, 1))))
                adam.step(&params, gradients: r.gradients)
                enc.top[0].weights.storage = params[0]; enc.top[0].bias = params[1]
                enc.top[1].weights.storage = params[2]; enc.top[1].bias = params[3]
                head.storage = params[4]; headBias = params[5]
                accuracy = 0.9 * accuracy + 0.1 * r.speciesAccuracy
                classAccuracy = 0.9 * classAccuracy + 0.1 * r.classAccuracy
                if step % 50 == 0 || step == steps - 1 { progress(step, r.loss, accuracy, classAccuracy) }
            }
        }
    }

    /// One batch's loss and gradients (`batch`: corpus index and tags), as
    /// `shards` parts computed side by side and added. Run with BLAS
    /// single-threaded: this sgemm scales poorly over two BLAS threads
    /// (measured ≈33 GFLOP/s, against ≈44 for two 1-thread products at once),
    /// and the loss and im2col loops run in parallel too. The shard count is
    /// a constant, not the core count, so the summation order, and the
    /// bundle, are the same on every machine.
    static func shardedStep(_ enc: SyntheticImageEncoder, head: Matrix, headBias: [Float], stemAll: Matrix,
                            batch: [(index: Int, tags: Tags)], wordWeights: [Float]) -> StepResult {
        let b = batch.count, cells = enc.cells
        let count = min(shards, b)
        let bounds = (0...count).map { $0 * b / count }
        return sum(Parallel.map(count) { k in
            let part = batch[bounds[k]..<bounds[k + 1]]
            let rows = part.flatMap { ($0.index * cells)..<(($0.index + 1) * cells) }
            return step(enc, head: head, headBias: headBias, stemAct: stemAll.gatherRows(rows),
                        tags: part.map(\.tags), wordWeights: wordWeights, weight: 1 / Float(b))
        })
    }
}

/// Adam over a list of flat parameter arrays (the encoder's layers are not
/// `ProjectionHeads`, which the engine's optimizers update); each array
/// follows the engine's own rule, `Adam.update`.
struct FlatAdam {
    var learningRate: Float
    var first: [[Float]] = [], second: [[Float]] = []
    var t = 0

    mutating func step(_ params: inout [[Float]], gradients: [[Float]]) {
        if first.isEmpty {
            first = params.map { [Float](repeating: 0, count: $0.count) }
            second = first
        }
        t += 1
        for p in params.indices {
            Adam.update(&params[p], first: &first[p], second: &second[p], gradient: gradients[p],
                        learningRate: learningRate, step: t)
        }
    }
}
