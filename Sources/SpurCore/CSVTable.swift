import CSV
import Foundation

/// A whole CSV file with a header row, with errors that name the file, the
/// line and the column.
///
/// Read by `CSVScanner` over the file's bytes (RFC 4180 quoting, fields
/// trimmed of spaces and tabs outside quotes): CSV.swift's reader decodes
/// character by character, which made every command spend most of a second
/// on the sample bundle's CSVs. Writing still goes through CSV.swift.
public struct CSVTable: Sendable {
    public let path: String
    public let header: [String]
    public let rows: [[String]]
    /// The line each row starts on (1-based; the header is line 1), which
    /// blank lines and quoted line breaks move away from `index + 2`.
    public let lines: [Int]

    public init(path: String) throws {
        let file = try CSVScanner.map(path)
        self = try file.withBytes(0..<file.size) { try CSVTable(path: path, bytes: $0) }
    }

    /// The table of bytes already read (by a caller that also hashes them).
    public init(path: String, bytes: UnsafeRawBufferPointer) throws {
        self.path = path
        var rows: [[String]] = []
        var lines: [Int] = []
        header = try CSVScanner.scan(bytes: bytes, path: path) { line, fields in
            rows.append(fields)
            lines.append(line)
        }
        self.rows = rows
        self.lines = lines
    }

    /// 1-based line number of data row `index`.
    public func line(_ index: Int) -> Int { index < lines.count ? lines[index] : index + 2 }

    public func columnIndex(_ name: String) -> Int? { header.firstIndex(of: name) }

    public func requireColumn(_ name: String) throws -> Int {
        guard let i = columnIndex(name) else {
            throw InputError(file: path, field: "header", "has no column '\(name)' (found: \(header.joined(separator: ", ")))")
        }
        return i
    }

    /// The field, or "" when the row is short.
    public func value(_ row: Int, _ column: Int) -> String {
        column < rows[row].count ? rows[row][column] : ""
    }

    /// A decimal number as people and spreadsheets write it: `[+-]digits[.digits][e[+-]digits]`.
    /// `Float(_:)` also takes `0x1p-2`, `nan`, `inf` and `infinity`, which no
    /// detector writes and which a file should not smuggle in.
    public static func decimal(_ text: String) -> Float? {
        var digits = 0, exponentDigits = 0
        var state = 0   // 0 sign, 1 integer part, 2 fraction, 3 exponent sign, 4 exponent
        for c in text.utf8 {
            switch (state, c) {
            case (0, UInt8(ascii: "+")), (0, UInt8(ascii: "-")): state = 1
            case (0...2, UInt8(ascii: "0")...UInt8(ascii: "9")): digits += 1; if state == 0 { state = 1 }
            case (0...1, UInt8(ascii: ".")): state = 2
            case (1...2, UInt8(ascii: "e")), (1...2, UInt8(ascii: "E")): guard digits > 0 else { return nil }; state = 3
            case (3, UInt8(ascii: "+")), (3, UInt8(ascii: "-")): state = 4
            case (3...4, UInt8(ascii: "0")...UInt8(ascii: "9")): exponentDigits += 1; state = 4
            default: return nil
            }
        }
        guard digits > 0, state < 3 || exponentDigits > 0, let v = Float(text), v.isFinite else { return nil }
        return v
    }

    /// Encodes rows as CSV (quoting where needed) and writes them atomically.
    public static func write(header: [String], rows: [[String]], to path: String) throws {
        try AtomicFile.write(encode(header: header, rows: rows, for: path), to: path)
    }

    /// The file's bytes, for writers that compare or stage them first.
    public static func encode(header: [String], rows: [[String]], for path: String = "CSV") throws -> Data {
        let stream = OutputStream(toMemory: ())
        let writer = try CSVWriter(stream: stream)
        try writer.write(row: header)
        for r in rows { try writer.write(row: r) }
        writer.stream.close()
        guard let data = stream.property(forKey: .dataWrittenToMemoryStreamKey) as? Data else {
            throw InputError(file: path, "could not encode CSV")
        }
        return data + Data("\n".utf8)
    }
}

/// Reads CSV records straight from a file's mapped bytes.
///
/// Strict where a lenient reader would silently change the data: a row with
/// more fields than the header, a quote left open, text after a closing
/// quote and bytes that are not UTF-8 are errors naming the line. Blank lines
/// are skipped; a row with fewer fields than the header reads the missing
/// ones as blank (`CSVTable.value`).
public enum CSVScanner {
    /// Calls `row` with each record's first line and fields; returns the header.
    @discardableResult
    public static func scan(path: String, row: (_ line: Int, _ fields: [String]) throws -> Void) throws -> [String] {
        let file = try map(path)
        return try file.withBytes(0..<file.size) { try scan(bytes: $0, path: path, row: row) }
    }

    /// How many data rows the file holds (non-blank records after the
    /// header), without making their fields: for summaries, which report a
    /// count and leave checking the rows to the commands that read them.
    public static func countRows(path: String) throws -> Int {
        let file = try map(path)
        return file.withBytes(0..<file.size) { p in
            var records = 0, inQuote = false, content = false
            for c in p {
                switch c {
                case 0x22: inQuote.toggle(); content = true
                case 0x0A, 0x0D:
                    // (A `where` clause would guard only the last pattern of a case.)
                    guard !inQuote else { break }
                    if content { records += 1 }
                    content = false
                case 0x20, 0x09, 0x0A, 0x0D: break
                default: content = true
                }
            }
            if content { records += 1 }
            return max(0, records - 1)
        }
    }

    /// The file mapped, with the errors a CSV reader gives.
    public static func map(_ path: String) throws -> MappedFile {
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: path, "is missing")
        }
        // MappedFile opens without blocking and refuses a FIFO or device by name.
        return try MappedFile(path: path)
    }

    public static func scan(bytes p: UnsafeRawBufferPointer, path: String,
                            row: (_ line: Int, _ fields: [String]) throws -> Void) throws -> [String] {
        let n = p.count
        var i = 0
        if n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF { i = 3 }   // a spreadsheet's byte-order mark
        var line = 1
        var header: [String]?
        var fields: [String] = []
        let comma: UInt8 = 0x2C, quote: UInt8 = 0x22, lf: UInt8 = 0x0A, cr: UInt8 = 0x0D
        @inline(__always) func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }
        func text(_ start: Int, _ end: Int, line: Int) throws -> String {
            let slice = UnsafeRawBufferPointer(rebasing: p[start..<end])
            var ascii = true
            for c in slice where c >= 0x80 { ascii = false; break }
            if ascii { return String(decoding: slice, as: UTF8.self) }
            guard let s = String(validating: slice, as: UTF8.self) else {
                throw InputError(file: path, field: "line \(line)", "is not UTF-8 text")
            }
            return s
        }
        while i < n {
            let recordLine = line
            fields.removeAll(keepingCapacity: true)
            var endOfRecord = false
            while !endOfRecord {
                while i < n && isBlank(p[i]) { i += 1 }
                if i < n && p[i] == quote {
                    i += 1
                    var bytes: [UInt8] = []
                    var closed = false
                    while i < n {
                        let c = p[i]
                        if c == quote {
                            if i + 1 < n && p[i + 1] == quote { bytes.append(quote); i += 2; continue }
                            i += 1
                            closed = true
                            break
                        }
                        if c == lf { line += 1 }
                        bytes.append(c)
                        i += 1
                    }
                    guard closed else {
                        throw InputError(file: path, field: "line \(recordLine)", "opens a quoted field that is never closed")
                    }
                    while i < n && isBlank(p[i]) { i += 1 }
                    fields.append(try bytes.withUnsafeBytes { raw in
                        guard let s = String(validating: raw, as: UTF8.self) else {
                            throw InputError(file: path, field: "line \(recordLine)", "is not UTF-8 text")
                        }
                        return s
                    })
                    if i < n && p[i] != comma && p[i] != lf && p[i] != cr {
                        throw InputError(file: path, field: "line \(line)", "has text after a closing quote (a quote inside a quoted field is written \"\")")
                    }
                } else {
                    let start = i
                    while i < n, p[i] != comma, p[i] != lf, p[i] != cr { i += 1 }
                    var end = i
                    while end > start && isBlank(p[end - 1]) { end -= 1 }
                    fields.append(try text(start, end, line: line))
                }
                if i >= n {
                    endOfRecord = true
                } else if p[i] == comma {
                    i += 1
                } else {
                    if p[i] == cr { i += 1 }
                    if i < n && p[i] == lf { i += 1 }
                    line += 1
                    endOfRecord = true
                }
            }
            if fields.count == 1 && fields[0].isEmpty { continue }   // blank line
            guard let header else {
                var seen = Set<String>()
                // Columns are looked up by name: a second one of the same name would be silently ignored.
                for name in fields where !seen.insert(name).inserted {
                    throw InputError(file: path, field: "header", "lists column '\(name)' twice")
                }
                header = fields
                continue
            }
            if fields.count > header.count {
                throw InputError(file: path, field: "line \(recordLine)",
                                 "has \(fields.count) fields, but the header names \(header.count) columns (a field with a comma must be quoted)")
            }
            try row(recordLine, fields)
        }
        guard let header else { throw InputError(file: path, "has no header row") }
        return header
    }
}
