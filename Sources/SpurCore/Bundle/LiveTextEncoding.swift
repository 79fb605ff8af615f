import Synchronization

/// Encodes texts a bundle's prompt table lacks, with the bundle's own text
/// tower.
public protocol LiveTextEncoder: Sendable {
    /// Features `[texts, Dt]`, as `text_prompts` rows.
    func features(for texts: [String]) throws -> Matrix
    /// Those of `texts` that are longer than the tower's context, which it
    /// reads cut (as CLIP does, the end token kept).
    func truncated(_ texts: [String]) -> [String]
}

/// Where bundles find the encoder of their `text_checkpoint`. SpurCore
/// cannot run CLIP (SpurCLIP depends on it, not the other way), so a
/// program that can installs a resolver once at start-up; without one, a
/// missing prompt is reported as before.
public enum LiveTextEncoding {
    public typealias Resolver = @Sendable (_ record: TextCheckpointRecord, _ bundle: FeatureBundle) throws -> any LiveTextEncoder

    private static let installed = Mutex<Resolver?>(nil)

    public static func install(_ resolver: @escaping Resolver) {
        installed.withLock { $0 = resolver }
    }

    static var resolver: Resolver? { installed.withLock { $0 } }
}
