import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Linear probes on the frozen features: can the model's features tell the classes apart without the attribute?",
        discussion: """
        Fits multinomial logistic regression on image_pooled (features standardised on the \
        fitting rows, L2 \(FeatureProbe.l2) on the mean loss, L-BFGS) and reports test accuracy per \
        group (class × attribute value), worst group and average for: a probe fitted on the \
        natural train split (what a plain linear head learns), the same with every group \
        weighted equally, a probe fitted on the val split with groups weighted equally \
        (DFR-style: the ceiling of a last-layer fix; uses val group labels), a probe \
        predicting the attribute itself (is it in the features?), and the zero-shot word \
        test: "a photo of A." against its complement's prompt (--versus, or the vocabulary \
        attribute present where A is absent in ≥ 80 % of the train split) with the \
        pre-trained projections. Groups come from ground truth (attr:NAME) when the bundle \
        has it, else from detections (score ≥ 0.5). Deterministic.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "The attribute that defines the groups (default: the manifest's groups).") var attribute: String?
    @Option(name: .long, help: "The word test's complement, e.g. land for water (default: found in the vocabulary).") var versus: String?
    @Flag(name: .long, help: "One JSON object.") var json = false

    func run() throws {
        let b = try FeatureBundle.open(bundle)
        let report = try FeatureProbe.run(bundle: b, attribute: attribute, versus: versus)
        if json {
            print(String(decoding: try JSONEncoder.sortedKeys.encode(report), as: UTF8.self))
            return
        }
        print("\(bundle): linear probes on image_pooled (\(report.features) features, standardised, L2 \(report.l2)); "
              + "test split, groups by \(report.attribute) (\(report.groupsFrom))")
        let short: [String: String] = ["erm": "ERM probe", "erm-reweighted": "reweighted", "dfr-ceiling": "DFR ceiling",
                                       "attribute": "\(report.attribute)?", "words": "words"]
        let groups = report.lines.first?.groups ?? []
        let nameWidth = max(24, groups.map(\.name.count).max() ?? 0)
        let columns = report.lines.map { short[$0.key] ?? $0.key }
        let widths = columns.map { max(11, $0.count + 2) }
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        func pct(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }
        print("")
        print("group".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + pad("n", 6)
              + zip(columns, widths).map { pad($0, $1) }.joined())
        for (gi, g) in groups.enumerated() {
            print(g.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + pad("\(g.n)", 6)
                  + zip(report.lines, widths).map { line, w in pad(gi < line.groups.count ? pct(line.groups[gi].accuracy) : "—", w) }.joined())
        }
        print("worst group".padding(toLength: nameWidth + 6, withPad: " ", startingAt: 0)
              + zip(report.lines, widths).map { pad(pct($0.worstGroup), $1) }.joined())
        print("average".padding(toLength: nameWidth + 6, withPad: " ", startingAt: 0)
              + zip(report.lines, widths).map { pad(pct($0.average), $1) }.joined())
        print("")
        for line in report.lines {
            let name = (short[line.key] ?? line.key).padding(toLength: 13, withPad: " ", startingAt: 0)
            print("  \(name)\(line.description)" + (line.fittedOn > 0 ? " (\(line.fittedOn) examples)" : ""))
        }
        print("")
        if let w = report.words {
            if let acc = w.accuracy, let vs = w.versusPrompt {
                print(String(format: "words: \"%@\" vs \"%@\" labels %.1f%% of the test images correctly "
                             + "(with %@ %.1f%%, without %.1f%%), AUC %.3f",
                             w.prompt, vs, 100 * acc, report.attribute, 100 * (w.presentAccuracy ?? 0), 100 * (w.absentAccuracy ?? 0), w.auc))
            } else {
                print(String(format: "words: \"%@\" alone ranks images with %@ above those without with AUC %.3f", w.prompt, report.attribute, w.auc))
            }
            print("  (complement: \(w.versusReason))")
        } else if let why = report.wordsUnavailable {
            print("words: not measured — \(why)")
        }
    }
}
