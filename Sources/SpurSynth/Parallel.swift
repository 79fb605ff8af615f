import Dispatch

enum Parallel {
    /// `body(i)` for every `i` in `0..<count`, spread over every core, the
    /// results in index order. Each result depends only on its index, so the
    /// output does not depend on which thread computed it.
    static func map<T>(_ count: Int, _ body: @Sendable (Int) -> T) -> [T] {
        let slots = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        slots.initialize(repeating: nil)
        defer { slots.deinitialize(); slots.deallocate() }
        // Each iteration writes only its own slot.
        nonisolated(unsafe) let results = slots
        DispatchQueue.concurrentPerform(iterations: count) { i in results[i] = body(i) }
        return results.map { $0! }
    }
}
