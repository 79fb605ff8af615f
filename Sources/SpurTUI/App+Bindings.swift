import SpurEngine

/// Why a key does nothing right now: the hint bar leaves such keys out,
/// the `?` overlay and the banner give the reason.
extension App {
    public func disabledReason(_ action: Action) -> String? {
        let localRun = train.running && !train.external
        switch action {
        case .nextMethod, .previousMethod, .moreEpochs, .fewerEpochs, .nextAttribute, .previousAttribute,
             .nextLearningRate, .previousLearningRate, .nextBatchSize, .previousBatchSize, .nextWeightDecay,
             .previousWeightDecay, .toggleOptimizer, .toggleSampler, .typeSettings:
            return localRun ? "settings apply to the next run; this one is training (x cancels it)" : nil
        case .toggleLossForm:
            if localRun { return "settings apply to the next run; this one is training (x cancels it)" }
            return train.method.hasLossForm ? nil : "only ours-ls and ours-vs have a loss form"
        case .startTraining:
            return localRun ? "a run is already training (x cancels it)" : nil
        case .cancelTraining:
            if train.external { return "the run belongs to another process (Ctrl-C there stops it)" }
            return localRun ? nil : "no run is training"
        case .resumeRun:
            if localRun { return "a run is already training" }
            return train.resumable == nil ? "the run shown is not interrupted or cancelled" : nil
        case .nextRun, .pickRun:
            return groups.runs.isEmpty ? "no finished run to compare with yet: start one on the Train screen (3)" : nil
        case .cycleMapClass, .toggleOverlay:
            return screen == .groups && !groups.browsing ? "open a group first (Enter)" : nil
        case .search:
            return screen == .groups && !groups.browsing ? "open a group first (Enter)" : nil
        case .openGroup:
            return screen == .groups && groups.browsing ? "already browsing (Esc goes back)" : nil
        case .undo, .markSpurious, .markHealthy, .markUndecided, .editNote:
            return attributeRows().isEmpty ? "no attribute row is shown" : nil
        default:
            return nil
        }
    }
}
