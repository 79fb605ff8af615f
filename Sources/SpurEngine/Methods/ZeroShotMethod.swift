/// `zeroshot`: the pre-trained projections, evaluated as they are.
public struct ZeroShotMethod: MethodDefinition {
    public var summary: String { "no training: the pre-trained projections" }
    public var training: MethodTraining { .none }
}
