/// `clip-ft`: plain fine-tuning with CLIP's own loss on class captions.
public struct CLIPFineTuningMethod: MethodDefinition {
    public var summary: String { "fine-tune with the CLIP loss on class captions" }
    public var terms: [LossTerm] { [.clip] }
}
