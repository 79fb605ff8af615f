import Foundation
import SpurAudit
import SpurCore
import SpurEngine

/// Everything a frame draws, as plain values: `Views` reads only this (and
/// the immutable bundle and audit in `model`), never the controllers.
public struct UISnapshot {
    public let model: UIModel
    public let theme: Theme
    public let ascii: Bool
    public let screen: Screen
    public let banner: String?
    public let input: TextInput?
    /// The `?` overlay's lines and first line shown, when it is open.
    public let help: (lines: [String], top: Int)?
    /// The hint bar's enabled keys of this screen.
    public let hints: [String]
    public let engineStatus: String
    public let idle: Bool
    /// The current screen's view (the others are nil).
    public let attributes: AttributesView?
    public let preview: PreviewView?
    public let train: TrainView?
    public let groups: GroupsState?
    /// Pictures already resampled for the terminal (a memo, keyed by preview).
    let pictures: PictureCache
}

public struct AttributesView {
    public let classIndex: Int
    public let order: AttributeOrder
    public let filter: String
    public let rows: [DiscrepancyRow]
    public let selected: Int
    public let decisions: [String: Decision]
    /// Verdicts shown while their write is pending.
    public let pending: [String: Verdict]
    public let projection: (key: String, preview: OrthogonalProjection.Preview)?
    /// A preview for the current verdicts and phrases is being computed.
    public let projectionPending: Bool
    public let nameWidth: Int

    public var selectedRow: DiscrepancyRow? { rows.isEmpty ? nil : rows[selected] }

    public func verdict(className: String, attribute: String) -> (verdict: Verdict?, note: String?) {
        let key = Decision.key(className: className, attribute: attribute)
        let d = decisions[key]
        return (pending[key] ?? d?.verdict, d?.note)
    }
}

public struct PreviewView {
    /// The (class, attribute) row the list is for.
    public let row: DiscrepancyRow?
    public let list: PreviewList
    public let selected: Int
    public let overlay: Bool
    public let current: Preview?
}

public struct TrainView {
    public let state: TrainState
    /// The next run's spurious attributes, and where they come from.
    public let attributes: String
    /// Under the official form: each attribute with its absent word.
    public let absentWords: [(attribute: String, word: String)]
    /// The objective of the method under the loss form selected.
    public let summary: String
}
