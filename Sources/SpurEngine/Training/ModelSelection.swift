/// Keeps the evaluation with the highest validation worst-group accuracy
/// (ties: higher average), and says when patience has run out.
public struct ModelSelection: Codable, Equatable, Sendable {
    public struct Candidate: Codable, Equatable, Sendable {
        public var epoch: Int
        public var worstGroup: Double
        public var average: Double
    }

    public var best: Candidate?
    public var evaluationsSinceBest = 0
    public var patience: Int

    public init(patience: Int = 0) { self.patience = patience }

    /// Records one evaluation; true when it is the new best.
    @discardableResult
    public mutating func offer(epoch: Int, worstGroup: Double, average: Double) -> Bool {
        let c = Candidate(epoch: epoch, worstGroup: worstGroup, average: average)
        if let b = best, (c.worstGroup, c.average) <= (b.worstGroup, b.average) {
            evaluationsSinceBest += 1
            return false
        }
        best = c
        evaluationsSinceBest = 0
        return true
    }

    public var shouldStop: Bool { patience > 0 && evaluationsSinceBest >= patience }
}
