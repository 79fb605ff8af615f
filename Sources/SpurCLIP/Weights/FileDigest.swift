import CCrypto
import Foundation
import SpurCore

/// SHA-256 of a file, as `sha256:<hex>`, read in 4 MiB pieces.
public enum FileDigest {
    public static func sha256(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw InputError(file: path, "cannot be read") }
        defer { try? handle.close() }
        guard let context = EVP_MD_CTX_new() else { throw InputError(file: path, "cannot be hashed (OpenSSL has no memory)") }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        while true {
            let piece: Data
            do { piece = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
                throw InputError(file: path, "cannot be read (\(error.localizedDescription))")
            }
            if piece.isEmpty { break }
            _ = piece.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return "sha256:" + digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}
