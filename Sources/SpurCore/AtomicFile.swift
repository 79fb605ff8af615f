import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader, a crash or `kill -9` sees either the old
/// file or the whole new one, never a torn one: temporary file in the same
/// directory, fsync, rename, fsync of the directory.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd < 0 { throw InputError(file: path, "cannot write: \(describe(errno: errno))") }
        var err: Int32 = 0
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { err = n < 0 ? errno : ENOSPC; break }
                off += n
            }
        }
        if err == 0 && fsync(fd) != 0 { err = errno }
        close(fd)
        if err != 0 {
            unlink(tmp)
            throw InputError(file: path, "cannot write: \(describe(errno: err))")
        }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw InputError(file: path, "cannot rename into place: \(String(cString: strerror(e)))")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// `strerror`, with what to do for the failures a user can fix.
    public static func describe(errno e: Int32) -> String {
        let text = String(cString: strerror(e))
        switch e {
        case ENOSPC, EDQUOT: return "the disk is full (\(text)); free some space"
        case EROFS, EACCES, EPERM: return "\(text): the directory is read-only"
        default: return text
        }
    }

    /// Removes the temporary files `write` left next to `path` when a
    /// process was killed mid-write (`.NAME.tmp-PID` of a PID that no longer
    /// runs). Lists the directory, so meant for small ones (a run's).
    public static func removeStaleTemporaries(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let prefix = ".\((path as NSString).lastPathComponent).tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            // kill(pid, 0) fails with ESRCH only when no such process exists.
            if kill(pid, 0) != 0 && errno == ESRCH { unlink((dir.isEmpty ? "." : dir) + "/" + name) }
        }
    }
}
