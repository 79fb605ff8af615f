import SpurCore
import SpurEngine

extension Audit.Result {
    /// Why a class's table has no rows, in words about the data (each front
    /// end adds the setting that changes it): no example of the class, every
    /// attribute in every example or in none (random detector weights score
    /// every word alike), too few examples for the support asked, or the
    /// closest attribute and its counts. Nil when the class has rows.
    public func emptyTableReason(class c: Int, minimumSupport m: Int) -> String? {
        guard table.ranked(class: c).isEmpty, labels.count == rows.count else { return nil }
        let members = rows.indices.filter { labels[$0] == c }
        let n = members.count
        guard n > 0 else { return "no example of \(classes[c]) in the audited split" }
        var with = [Int](repeating: 0, count: attributes.count)
        for i in members { for a in presence.present(in: i) where Int(a) < with.count { with[Int(a)] += 1 } }
        let excluded = AttributePresence.excludedAttributes(vocabulary: attributes, classes: classes)
        let candidates = attributes.indices.filter { !excluded.contains($0) }
        guard !candidates.isEmpty else { return "the vocabulary has no attribute that is not a class name" }
        let everywhere = candidates.filter { with[$0] == n }.count, nowhere = candidates.filter { with[$0] == 0 }.count
        if everywhere == candidates.count { return "every attribute was detected in all \(n) examples of \(classes[c])" }
        if nowhere == candidates.count { return "no attribute was detected in any of the \(n) examples of \(classes[c])" }
        if n < 2 * m { return "\(classes[c]) has \(n) examples; an attribute needs \(m) with it and \(m) without" }
        let best = candidates.max { min(with[$0], n - with[$0]) < min(with[$1], n - with[$1]) }!
        var reason = "the closest, '\(attributes[best])', is in \(with[best]) of \(n) examples and missing from \(n - with[best])"
        if everywhere + nowhere > 0 { reason += " (attributes in every example: \(everywhere); in none: \(nowhere))" }
        return reason
    }
}
