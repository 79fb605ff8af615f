/// `erm`: cross-entropy over the class prompts, the baseline every
/// mitigation is measured against.
public struct EmpiricalRiskMethod: MethodDefinition {
    public var summary: String { "cross-entropy on s⟨v, c_y⟩" }
    public var terms: [LossTerm] { [.ce] }
}
