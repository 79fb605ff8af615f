import Foundation
import Testing
@testable import SpurCore

/// Issue 25, item 4: input that used to pass `validate` with a value lost or
/// made up. Each is refused, naming the file and the line (or the tensor).
struct StrictParsingTests {
    static func problems(_ name: String, _ mutate: BundleCorruptionTests.Mutation) throws -> [String] {
        let dir = try SampleBundle.write(name)
        try mutate(dir)
        return BundleCheck.run(directory: dir, deep: true).problems.map { $0.description.replacingOccurrences(of: dir + "/", with: "") }
    }

    @Test func rowWithMoreFieldsThanTheHeader() throws {
        let p = try Self.problems("strict-wide-row", BundleCorruptionTests.edit("examples.csv") { text in
            var lines = text.components(separatedBy: "\n")
            lines[4] += ",surplus"
            return lines.joined(separator: "\n")
        })
        #expect(p == ["examples.csv: line 5: has 8 fields, but the header names 7 columns (a field with a comma must be quoted)"])
    }

    @Test func repeatedDetectionOfOneExampleAndAttribute() throws {
        let p = try Self.problems("strict-repeat", BundleCorruptionTests.edit("attributes.csv") { $0 + "ex0,water,0.125\n" })
        #expect(p == ["attributes.csv: line 5, column attribute: 'water' of example 'ex0' repeats line 2: one score per example and attribute"])
    }

    /// A million repeated rows: one problem each up to the shown limit, then a count.
    @Test func aMillionRepeatedDetections() throws {
        let p = try Self.problems("strict-million", BundleCorruptionTests.edit("attributes.csv") {
            $0 + String(repeating: "ex0,water,0.5\n", count: 1_000_000) })
        #expect(p.count == 51)
        #expect(p.first == "attributes.csv: line 5, column attribute: 'water' of example 'ex0' repeats line 2: one score per example and attribute")
        #expect(p.last == "attributes.csv: 999950 more problems in this file not shown")
    }

    @Test(arguments: ["0x1p-2", "nan", "NaN", "inf", "-infinity", "1e", ".", "+", "1.5.2", "0.5 0.5", "1e400"])
    func scoreThatIsNotADecimalNumber(_ score: String) throws {
        let p = try Self.problems("strict-score-\(score.hashValue)", BundleCorruptionTests.replace("attributes.csv", "0.875", score))
        #expect(p == ["attributes.csv: line 2, column score: '\(score)' is not a finite decimal number"])
    }

    @Test func decimalNumbers() {
        for (text, value) in [("0.25", Float(0.25)), ("-1", -1), ("+.5", 0.5), ("3.", 3), ("1e-2", 0.01), ("2E+1", 20), ("007", 7)] {
            #expect(CSVTable.decimal(text) == value, "\(text)")
        }
        for text in ["", "0x10", "1_000", "٣", "1,5", "e3", "- 1", "0.5f", "inf", "nan"] {
            #expect(CSVTable.decimal(text) == nil, "\(text)")
        }
    }

    @Test func boxWithHexNumbersIsRefused() throws {
        let p = try Self.problems("strict-bbox", BundleCorruptionTests.replace("examples.csv", "1.0 2.0 30.5 40.0", "0x1p0 2.0 30.5 40.0"))
        #expect(p == ["examples.csv: line 2, column bbox: '0x1p0 2.0 30.5 40.0' is not 'x0 y0 x1 y1' with x0 < x1 and y0 < y1"])
    }

    @Test func csvQuotingErrorsNameTheLine() throws {
        func table(_ text: String) throws -> CSVTable {
            let path = SafetensorsTests.temporaryPath("quoting-\(text.hashValue).csv")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return try CSVTable(path: path)
        }
        let t = try table("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\n  spaced  ,\"two\nlines\"\nlast,row")
        #expect(t.rows == [["x, y", "say \"hi\""], ["spaced", "two\nlines"], ["last", "row"]])
        #expect(t.lines == [2, 4, 6])
        #expect(try CSVScanner.countRows(path: t.path) == 3)
        #expect(try CSVScanner.countRows(path: table("a,b\n,\n\n1,2").path) == 2)
        #expect(try table("\u{FEFF}id,x\n1,2\n").header == ["id", "x"])
        #expect(try table("a,b\r\n1,2\r\n").rows == [["1", "2"]])
        #expect(try table("a,b\n1,\n").rows == [["1", ""]])
        for (text, message) in [("a,b\n1,\"open\n2,3\n", "line 2: opens a quoted field that is never closed"),
                                ("a,b\n1,\"x\"y\n", "line 2: has text after a closing quote (a quote inside a quoted field is written \"\")"),
                                ("a\n1\n2,3\n", "line 3: has 2 fields, but the header names 1 columns (a field with a comma must be quoted)"),
                                ("", "has no header row")] {
            do {
                _ = try table(text)
                Issue.record("accepted \(text.debugDescription)")
            } catch let e as InputError {
                #expect(e.description.hasSuffix(message), "\(text.debugDescription)")
            }
        }
        let bad = SafetensorsTests.temporaryPath("latin1.csv")
        try Data([0x61, 0x0A, 0x63, 0xE9, 0x0A]).write(to: URL(fileURLWithPath: bad))
        #expect(throws: InputError(file: bad, field: "line 2", "is not UTF-8 text")) { try CSVTable(path: bad) }
    }

    /// A header that names tensor `name` twice (JSONSerialization keeps one entry, silently).
    static func duplicateTensor(_ name: String, in path: String, spelling: String? = nil) throws {
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let length = Int(raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = String(decoding: raw[8 ..< 8 + length], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        // The writers sort keys and write no spaces: an entry ends at its first '}'.
        let start = try #require(header.range(of: "\"\(name)\":{"))
        let end = try #require(header[start.upperBound...].firstIndex(of: "}"))
        let value = header[header.index(before: start.upperBound) ... end]
        var text = "{\"\(spelling ?? name)\":\(value)," + header.dropFirst()
        while text.utf8.count % 8 != 0 { text += " " }
        var out = Data()
        withUnsafeBytes(of: UInt64(text.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(Data(text.utf8))
        out.append(raw[(8 + length)...])
        try out.write(to: URL(fileURLWithPath: path))
    }

    @Test func safetensorsHeaderNamingATensorTwice() throws {
        var w = SafetensorsWriter()
        w.add("a", shape: [1], floats: [1])
        w.add("b", shape: [1], floats: [2])
        for (i, spelling) in ["a", "\\u0061"].enumerated() {
            let path = SafetensorsTests.temporaryPath("dup-\(i).safetensors")
            try w.write(to: path)
            #expect(try SafetensorsFile(path: path).names == ["a", "b"])
            try Self.duplicateTensor("a", in: path, spelling: spelling)
            #expect(throws: InputError(file: path, field: "header", "names tensor 'a' twice")) { try SafetensorsFile(path: path) }
        }
        let nested = try SafetensorsTests.rawFile("nested.safetensors", header: #"{"__metadata__":{"k":"{\"a\":1}","k2":"a"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        #expect(try SafetensorsFile(path: nested).names == ["a"])   // keys inside values are not top-level keys
    }

    @Test func bundleFeaturesNamingATensorTwice() throws {
        let p = try Self.problems("strict-dup-features") { try Self.duplicateTensor("W_t", in: $0 + "/features.safetensors") }
        #expect(p == ["features.safetensors: header: names tensor 'W_t' twice"])
    }

    @Test func detectionsFileNamingATensorTwice() throws {
        var c = SampleBundle.contents()
        c.manifest.detections = DetectionsFile.defaultName
        let dir = try SampleBundle.write("strict-dup-detections", c)
        try Self.duplicateTensor("attribute", in: dir + "/" + DetectionsFile.defaultName)
        let p = BundleCheck.run(directory: dir, deep: true).problems.map(\.description)
        #expect(p == [dir + "/detections.safetensors: header: names tensor 'attribute' twice"])
    }
}
