import Foundation

/// Mean and spread of one metric over seeds.
///
/// `sd` is the sample standard deviation (divisor n − 1), the usual reading
/// of "± sd over seeds"; with a single seed it is 0 (there is no spread to
/// estimate, and printing NaN would hide the mean).
public struct MeanSD: Codable, Equatable, Sendable {
    public var mean: Double
    public var sd: Double
    public var count: Int

    public init(_ values: [Double]) {
        count = values.count
        guard !values.isEmpty else { mean = .nan; sd = .nan; return }
        mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { sd = 0; return }
        let m = mean
        sd = (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }

    /// "61.3 ± 2.1" in percent points, for metrics in [0, 1]; "61.3" for one
    /// seed, whose spread is unknown rather than zero.
    public var percentText: String {
        count > 1 ? String(format: "%.1f ± %.1f", 100 * mean, 100 * sd) : String(format: "%.1f", 100 * mean)
    }
}
