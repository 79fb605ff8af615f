import Foundation
import Testing
import SpurCore
@testable import SpurEngine

struct OptimizerTests {
    func heads(_ w: Float, _ t: Float, _ ls: Float) -> ProjectionHeads {
        ProjectionHeads(image: Matrix([[w]]), text: Matrix([[t]]), logitScale: ls)
    }
    func grads(_ w: Float, _ t: Float, _ ls: Float) -> HeadGradients {
        HeadGradients(image: Matrix([[w]]), text: Matrix([[t]]), logitScale: ls)
    }

    @Test func sgdMomentumAndDecoupledDecayByHand() {
        // lr 0.1, μ 0.9, wd 0.5. Step 1: m = g = 2; w = 1·(1 − 0.05) − 0.1·2 = 0.75.
        // Step 2 (g = 2): m = 0.9·2 + 2 = 3.8; w = 0.75·0.95 − 0.38 = 0.3325.
        // logit scale: no decay. 1 − 0.1·1 = 0.9, then 0.9 − 0.1·1.9 = 0.71.
        var h = heads(1, 1, 1)
        var sgd = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
        sgd.step(&h, gradients: grads(2, 0, 1))
        #expect(abs(h.image[0, 0] - 0.75) < 1e-6)
        #expect(abs(h.text[0, 0] - 0.95) < 1e-6)   // decay only
        #expect(abs(h.logitScale - 0.9) < 1e-6)
        sgd.step(&h, gradients: grads(2, 0, 1))
        #expect(abs(h.image[0, 0] - 0.3325) < 1e-6)
        #expect(abs(h.logitScale - 0.71) < 1e-6)
    }

    @Test func adamFirstStepMovesByLearningRateAgainstTheGradientSign() {
        // With bias correction, m̂/√v̂ = g/|g| on step 1.
        var h = heads(1, -1, 0)
        var adam = Adam(learningRate: 0.01)
        adam.step(&h, gradients: grads(3, -0.002, 5))
        #expect(abs(h.image[0, 0] - 0.99) < 1e-5)
        #expect(abs(h.text[0, 0] - (-0.99)) < 1e-5)
        #expect(abs(h.logitScale - (-0.01)) < 1e-5)
    }

    @Test func adamSecondStepByHand() {
        // g₁ = 1, g₂ = 0.5, β₁ 0.9, β₂ 0.999, wd 0.1, lr 0.1.
        var h = heads(2, 0, 0)
        var adam = Adam(learningRate: 0.1, epsilon: 0, weightDecay: 0.1)
        adam.step(&h, gradients: grads(1, 0, 0))
        let w1: Double = 2 * (1 - 0.01) - 0.1
        #expect(abs(Double(h.image[0, 0]) - w1) < 1e-5)
        adam.step(&h, gradients: grads(0.5, 0, 0))
        let m = 0.9 * 0.1 + 0.1 * 0.5, v = 0.999 * 0.001 + 0.001 * 0.25
        let mHat = m / (1 - 0.81), vHat = v / (1 - 0.999 * 0.999)
        let w2 = w1 * 0.99 - 0.1 * mHat / vHat.squareRoot()
        #expect(abs(Double(h.image[0, 0]) - w2) < 1e-5)
    }

    @Test func sgdReducesTheObjective() {
        var rng = SeededGenerator(seed: 5)
        let batch = RandomBatch.make(&rng)
        var h = RandomBatch.heads(&rng)
        let objective = Objective(terms: LossTerm.contrastive)
        let before = objective.evaluate(h, on: batch).total
        var sgd = SGD(learningRate: 0.05)
        for _ in 0..<30 { sgd.step(&h, gradients: objective.evaluate(h, on: batch).gradients) }
        #expect(objective.evaluate(h, on: batch).total < before - 0.1)
    }
}
