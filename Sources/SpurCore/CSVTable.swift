import CSV
import Foundation

/// A whole CSV file with a header row, read through CSV.swift, with errors
/// that name the file, the line and the column.
public struct CSVTable: Sendable {
    public let path: String
    public let header: [String]
    public let rows: [[String]]

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw InputError(file: path, "is missing")
        }
        // Decoding the file first, rather than streaming it, gives a clean
        // UTF-8 check and avoids CSV.swift's stream reader flagging the end
        // of a file on Linux as a read error.
        // RegularFile: a FIFO or a device in the bundle must not block or flood the read.
        guard let data = try RegularFile.read(path, limit: Int.max) else {
            throw InputError(file: path, "cannot be read")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: path, "is not UTF-8 text")
        }
        let reader: CSVReader
        do {
            reader = try CSVReader(string: text, hasHeaderRow: true, trimFields: true)
        } catch {
            throw InputError(file: path, "has no header row")
        }
        header = reader.headerRow ?? []
        // Columns are looked up by name: a second one of the same name would be silently ignored.
        var seen = Set<String>()
        for name in header where !seen.insert(name).inserted {
            throw InputError(file: path, field: "header", "lists column '\(name)' twice")
        }
        var rows: [[String]] = []
        while let row = reader.next() {
            if row.count == 1 && row[0].isEmpty { continue }   // blank line
            rows.append(row)
        }
        if reader.error != nil {
            throw InputError(file: path, field: "line \(rows.count + 2)", "cannot be parsed as CSV")
        }
        self.rows = rows
    }

    /// 1-based line number of data row `index` (the header is line 1).
    public func line(_ index: Int) -> Int { index + 2 }

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
