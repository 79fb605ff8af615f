import Foundation
import SpurCore

/// Text features already encoded, kept across runs: the same phrases are
/// encoded for every run, preview and audit of a bundle. One SQLite file per
/// user (`$SPURSCOPE_CACHE`, else `$XDG_CACHE_HOME/spurscope`, else
/// `~/.cache/spurscope`), keyed by the checkpoint's digest and the text, so
/// any bundle made with the same checkpoint shares it. Also remembers file
/// digests by path, size and modification time, so a checkpoint is hashed
/// once, not at every start.
///
/// A cache that cannot be opened or written is not an error: encoding just
/// happens again.
public final class TextFeatureCache: Sendable {
    private let database: SQLiteDatabase?

    public static let fileName = "text-features.sqlite"

    /// The default folder, from the environment.
    public static var defaultFolder: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["SPURSCOPE_CACHE"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return (xdg as NSString).appendingPathComponent("spurscope") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/spurscope")
    }

    public init(folder: String = TextFeatureCache.defaultFolder) {
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let db = try? SQLiteDatabase(path: (folder as NSString).appendingPathComponent(Self.fileName))
        do {
            try db?.execute("""
                CREATE TABLE IF NOT EXISTS text_features (model TEXT NOT NULL, text TEXT NOT NULL, feature TEXT NOT NULL,
                                                          PRIMARY KEY (model, text));
                CREATE TABLE IF NOT EXISTS file_digests (path TEXT PRIMARY KEY, size INTEGER NOT NULL,
                                                         modified REAL NOT NULL, digest TEXT NOT NULL);
                """)
            database = db
        } catch {
            database = nil
        }
    }

    /// Cached features of `texts` under `model`, by position; nil where absent
    /// or not `width` wide.
    public func features(model: String, texts: [String], width: Int) -> [[Float]?] {
        guard let database, let select = try? database.prepare("SELECT feature FROM text_features WHERE model = ? AND text = ?") else {
            return texts.map { _ in nil }
        }
        return texts.map { text in
            guard let encoded = (try? select.rows([.text(model), .text(text)]))?.first?.first?.text,
                  let data = Data(base64Encoded: encoded), data.count == width * MemoryLayout<Float>.size else { return nil }
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    public func store(model: String, texts: [String], features: Matrix) {
        guard let database, !database.readOnly,
              let insert = try? database.prepare("INSERT OR REPLACE INTO text_features (model, text, feature) VALUES (?, ?, ?)") else { return }
        _ = try? database.transaction {
            for (i, text) in texts.enumerated() {
                let data = Array(features.row(i)).withUnsafeBytes { Data($0) }
                try insert.run([.text(model), .text(text), .text(data.base64EncodedString())])
            }
        }
    }

    /// The file's SHA-256, computed only when its size or time changed.
    public func digest(of path: String) throws -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let attributes = try? FileManager.default.attributesOfItem(atPath: absolute)
        let size = Int64((attributes?[.size] as? Int) ?? -1)
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? -1
        if let database, let row = try? database.prepare("SELECT size, modified, digest FROM file_digests WHERE path = ?").rows([.text(absolute)]).first,
           row[0].int == size, row[1].double == modified, let digest = row[2].text {
            return digest
        }
        let digest = try FileDigest.sha256(absolute)
        if let database, !database.readOnly {
            try? database.prepare("INSERT OR REPLACE INTO file_digests (path, size, modified, digest) VALUES (?, ?, ?, ?)")
                .run([.text(absolute), .int(size), .double(modified), .text(digest)])
        }
        return digest
    }
}
