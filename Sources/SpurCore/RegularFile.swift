import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening an input file so that nothing in it can stall or flood a
/// command: `open(2)` on a FIFO blocks until a writer comes, and `/dev/zero`
/// never ends. O_NONBLOCK makes the open return at once whatever the file is,
/// and `fstat` then refuses anything that is not a regular file before one
/// byte is read; the size the caller allows is checked the same way.
public enum RegularFile {
    /// The default bound on an image file: far beyond any dataset image.
    public static let maxImageBytes = 64 << 20

    /// An open descriptor (blocking again, close-on-exec) of the regular file
    /// at `path` and its size. The caller closes it.
    public static func open(_ path: String, limit: Int) throws -> (fd: Int32, size: Int) {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw InputError(file: path, String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw InputError(file: path, String(cString: strerror(e)))
        }
        let kind = st.st_mode & S_IFMT
        guard kind == S_IFREG else {
            close(fd)
            throw InputError(file: path, "is \(describe(kind)), not a regular file")
        }
        let size = Int(st.st_size)
        guard size <= limit else {
            close(fd)
            throw InputError(file: path, "is \(size) bytes, over the limit of \(limit) bytes")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return (fd, size)
    }

    /// The whole regular file at `path`, at most `limit` bytes; nil when it
    /// does not exist (callers say "is missing" in their own words).
    public static func read(_ path: String, limit: Int) throws -> Data? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let opened = try open(path, limit: limit)
        defer { close(opened.fd) }
        var data = Data(count: opened.size)
        var done = 0
        while done < opened.size {
            let n = data.withUnsafeMutableBytes { Glibc.read(opened.fd, $0.baseAddress! + done, opened.size - done) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw InputError(file: path, String(cString: strerror(errno))) }
            if n == 0 { break }   // shrank while read: what is there is what is read
            done += n
        }
        return data.prefix(done)
    }

    static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "a special file"
        }
    }
}
