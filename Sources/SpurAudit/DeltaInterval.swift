/// How sure the table is of a δ: a 95 % interval for the difference of the
/// two accuracies, and a ranking score that prefers well-supported rows.
extension DiscrepancyRow {
    /// Newcombe's hybrid score interval for `p_with − p_without` (method 10
    /// of Newcombe 1998), built from the two Wilson intervals: it stays inside
    /// [−1, 1] and is honest for small supports, where a normal interval is not.
    public var delta95: (low: Double, high: Double) {
        let p1 = with.value, p2 = without.value
        let (l1, u1) = with.wilson95, (l2, u2) = without.wilson95
        let low = delta - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).squareRoot()
        let high = delta + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).squareRoot()
        return (low, high)
    }

    /// The distance of the δ interval from zero: the smallest |δ| the data
    /// support. Zero when the interval contains zero (the row may be noise).
    public var evidence: Double {
        let (low, high) = delta95
        return max(0, low, -high)
    }

    /// Too little data to tell the attribute from noise.
    public var hasLittleSupport: Bool { evidence == 0 }
}
