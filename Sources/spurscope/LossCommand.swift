import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct LossCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loss",
        abstract: "Evaluate the loss terms (and their gradients) on one batch of features.",
        discussion: """
        The batch is a safetensors file with the tensors
          image [B,Dv] f32, label [B] i32, attr [B] i32 (1 present, 0 absent, -1 unknown),
          caption [B,Dt] f32, class_templates [C,K,Dt] f32, group_templates [C,2,K,Dt] f32
          (index 0 = attribute absent, 1 = present), W_v [E,Dv], W_t [E,Dt], logit_scale [] or [1];
          with --loss-form official also attr_prompts [2,Dt] (the absent and the present
          value's word prompt, e.g. "a photo of land." / "a photo of water.").
        Every contrastive term's value is printed; `total` sums the selected ones, and
        --grads writes the gradient of that total as W_v, W_t and logit_scale.
        The term `ce` (classification cross-entropy of ERM / Group DRO) is printed when selected.
        --loss-form official prints the terms as the authors' code defines them (DESIGN.md,
        "Paper vs the authors' code"): clip against the class embeddings of the batch's
        labels, vc and lc as mean cosine similarities, ls as mean |cos| between class
        prompts and the word prompts, vs as cross-entropy over the word prompts.
        """)

    @Option(name: .long, help: "The batch (safetensors).")
    var input: String

    @Option(name: .long, help: "Comma-separated terms summed into total: clip, vc, lc, vs, ls, ce.")
    var terms: String = "clip,vc,lc,vs,ls"

    @Option(name: .long, help: "paper or official (the authors' code).")
    var lossForm: TrainingConfig.LossForm = .paper

    @Option(name: .long, help: "Write the gradients of total to this safetensors file.")
    var grads: String?

    @Flag(name: .long, help: "Print one JSON object instead of a table.")
    var json = false

    func run() throws {
        let selected = try parseTerms(terms)
        let form = lossForm
        let file = try SafetensorsFile(path: input)
        let (batch, heads) = try LossBatchFile.load(file, needsAttributePrompts: form == .official)
        // Unselected contrastive terms are evaluated with weight 0: printed, not summed.
        let evaluated = Array(Set(LossTerm.contrastive + selected))
        var weights: [LossTerm: Float] = [:]
        for t in evaluated { weights[t] = selected.contains(t) ? 1 : 0 }
        let result = Objective(terms: evaluated, weights: weights, form: form).evaluate(heads, on: batch)
        if let grads { try LossBatchFile.writeGradients(result.gradients, to: grads) }

        if json {
            // JSON has no NaN or infinity: such a value is written as null.
            func finite(_ x: Float) -> OrNull<Float> { OrNull(x.isFinite ? x : nil) }
            var object = ["total": finite(result.total)]
            for (t, v) in result.values { object[t.rawValue] = finite(v) }
            print(try JSONOutput.line(object))
        } else {
            for t in result.values.keys.sorted() {
                let mark = selected.contains(t) ? "" : "  (not in total)"
                print("\(t.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(format: "%.6f", result.values[t]!))\(mark)")
            }
            print("total  \(String(format: "%.6f", result.total))")
            if let grads { print("gradients written to \(grads)") }
        }
    }

    private func parseTerms(_ text: String) throws -> [LossTerm] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else {
            throw InputError(file: "--terms", "is empty, expected a comma-separated list of clip, vc, lc, vs, ls, ce")
        }
        return try names.map { name in
            guard let t = LossTerm(rawValue: name), t != .star else {
                throw InputError(file: "--terms", "unknown term '\(name)', expected one of clip, vc, lc, vs, ls, ce")
            }
            return t
        }
    }
}
