import Foundation
import Testing
@testable import SpurCore

struct SafetensorsTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-tests-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    /// A file with the given header text (length prefix computed unless given) and data bytes.
    static func rawFile(_ name: String, header: String, data: [UInt8] = [], declaredLength: UInt64? = nil) throws -> String {
        var bytes = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(h)
        bytes.append(contentsOf: data)
        let path = temporaryPath(name)
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func readsEveryDtypeWrittenByPython() throws {
        let f = try SafetensorsFile(path: Self.fixtures.appendingPathComponent("dtypes.safetensors").path)
        #expect(f.metadata == ["format": "pt", "made_by": "make_dtype_fixture.py"])
        #expect(try f.matrix("f32") == Matrix([[1.5, -2.0, 3.25]]))
        #expect(try f.floats("f16") == [0.5, -1.0, 65504.0, 0.00006103515625])
        #expect(try f.floats("f64") == [Float(1.0 / 3.0), -7])
        #expect(try f.integers("i32") == [-3, 0, 2147483647])
        #expect(try f.integers("i64") == [-1, 5, 1 << 40, 7])
        #expect(try f.info("i64").shape == [2, 2])
        #expect(try f.integers("u8") == [0, 255])
        #expect(try f.floats("scalar") == [4.5])
        #expect(try f.info("scalar").shape == [])
        #expect(try f.matrix("empty").rows == 0)
    }

    @Test func roundTripPreservesNamesShapesValuesAndMetadata() throws {
        var w = SafetensorsWriter()
        w.metadata = ["model": "synthetic"]
        w.add("W", Matrix([[1, 2, 3], [4, 5, 6]]))
        w.add("half", shape: [3], float16s: [0.25, -8, 1000])
        w.add("ids", shape: [2, 2], int32s: [1, -2, 3, Int32.max])
        w.add("scale", shape: [], floats: [2.5])
        let path = Self.temporaryPath("roundtrip.safetensors")
        try w.write(to: path)
        let f = try SafetensorsFile(path: path)
        #expect(f.names == ["W", "half", "ids", "scale"])
        #expect(f.metadata == ["model": "synthetic"])
        #expect(try f.matrix("W") == Matrix([[1, 2, 3], [4, 5, 6]]))
        #expect(try f.info("half").dtype == .f16)
        #expect(try f.floats("half") == [0.25, -8, 1000])
        #expect(try f.integers("ids") == [1, -2, 3, Int(Int32.max)])
        #expect(try f.floats("scale") == [2.5])
        // The header is padded to 8 bytes, as the format recommends.
        let raw = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
    }

    @Test func partialReadReturnsTheRequestedElementsOnly() throws {
        var w = SafetensorsWriter()
        w.add("x", shape: [3, 2], float16s: [1, 2, 3, 4, 5, 6])
        let path = Self.temporaryPath("partial.safetensors")
        try w.write(to: path)
        let f = try SafetensorsFile(path: path)
        #expect(try f.floats(f.info("x"), elements: 2..<4) == [3, 4])
    }

    static let good = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    /// Each corruption of a good file and the one message it must produce.
    static let corruptions: [(name: String, header: String, data: [UInt8], declared: UInt64?, message: String)] = [
        ("short", "", [], nil, "file is 8 bytes"),  // replaced below by a 3-byte file
        ("huge-header", good, [UInt8](repeating: 0, count: 8), 200_000_000,
         "header: declares 200000000 bytes; at most 100000000 are allowed"),
        ("header-past-end", good, [], 4096, "header: declares 4096 bytes but the file has only 54 after the length"),
        ("not-json", "{nope", [], nil, "header: is not valid JSON"),
        ("not-object", "[1,2]", [], nil, "header: is not a JSON object"),
        ("bad-dtype", #"{"x":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': dtype Q8 is not supported (expected one of F32, F16, BF16, F64, I32, I64, I8, U8, BOOL)"),
        ("no-dtype", #"{"x":{"shape":[2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil, "tensor 'x': has no dtype"),
        ("negative-shape", #"{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': shape must be a list of non-negative integers"),
        ("fractional-shape", #"{"x":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': shape must be a list of non-negative integers"),
        ("boolean-shape", #"{"x":{"dtype":"F32","shape":[true],"data_offsets":[0,4]}}"#, [UInt8](repeating: 0, count: 4), nil,
         "tensor 'x': shape must be a list of non-negative integers"),
        ("offsets-past-data", good, [UInt8](repeating: 0, count: 4), nil,
         "tensor 'x': data_offsets [0, 8] fall outside the 4-byte data section"),
        ("offsets-reversed", #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': data_offsets [8, 0] fall outside the 8-byte data section"),
        ("size-mismatch", #"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': shape [3] of F32 needs 12 bytes but data_offsets span 8"),
        ("overflowing-shape", #"{"x":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': shape [4294967296, 4294967296] is too large"),
        ("one-offset", #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, [UInt8](repeating: 0, count: 8), nil,
         "tensor 'x': data_offsets must be two integers [begin, end]"),
        ("bad-metadata", #"{"__metadata__":{"a":1}}"#, [], nil, "__metadata__.a: is not a string"),
    ]

    @Test(arguments: corruptions.indices)
    func corruptFileGivesItsExactError(_ index: Int) throws {
        let c = Self.corruptions[index]
        let path: String
        if c.name == "short" {
            path = Self.temporaryPath("short.safetensors")
            try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        } else {
            path = try Self.rawFile("\(c.name).safetensors", header: c.header, data: c.data, declaredLength: c.declared)
        }
        let expected = c.name == "short"
            ? InputError(file: path, "file is 3 bytes, shorter than the 8-byte safetensors header length")
            : nil
        do {
            _ = try SafetensorsFile(path: path)
            Issue.record("\(c.name): opened without error")
        } catch let e as InputError {
            if let expected { #expect(e == expected) }
            else { #expect(e.description == "\(path): \(c.message)", "\(c.name)") }
        }
    }

    @Test func missingFileAndMissingTensorAreNamed() throws {
        #expect(throws: InputError(file: "/no/such.safetensors", "No such file or directory")) {
            try SafetensorsFile(path: "/no/such.safetensors")
        }
        let path = try Self.rawFile("one.safetensors", header: Self.good, data: [UInt8](repeating: 0, count: 8))
        let f = try SafetensorsFile(path: path)
        #expect(throws: InputError(file: path, field: "tensor 'y'", "is missing (the file has: x)")) {
            try f.floats("y")
        }
        #expect(throws: InputError(file: path, field: "tensor 'x'", "shape is [2], expected [2, _]")) {
            try f.checkedInfo("x", shape: [2, nil])
        }
        #expect(throws: InputError(file: path, field: "tensor 'x'", "dtype is F32, expected an integer type (I32 or I64)")) {
            try f.integers("x")
        }
    }

    @Test func nonFiniteValuesAreRejectedByName() throws {
        var w = SafetensorsWriter()
        w.add("m", Matrix([[1, .nan]]))
        let path = Self.temporaryPath("nan.safetensors")
        try w.write(to: path)
        #expect(throws: InputError(file: path, field: "tensor 'm'", "element 1 is nan, expected a finite number")) {
            try SafetensorsFile(path: path).matrix("m")
        }
    }
}

/// Issue 12: a write killed between creating its temporary file and the
/// rename left `.last.safetensors.tmp-PID` in the run directory for good.
struct StaleTemporaryFileTests {
    @Test func onlyTemporariesOfDeadProcessesAreRemoved() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("stale-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // A process that has exited: its pid names no process any more.
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let names = [".last.safetensors.tmp-\(gone.processIdentifier)",   // dead: removed
                     ".last.safetensors.tmp-1",                            // init is alive: kept
                     ".last.safetensors.tmp-\(getpid())",                  // our own write: kept
                     ".best.safetensors.tmp-\(gone.processIdentifier)",    // another file's: kept
                     "last.safetensors"]
        for n in names { _ = FileManager.default.createFile(atPath: dir + "/" + n, contents: Data([1])) }
        AtomicFile.removeStaleTemporaries(of: dir + "/last.safetensors")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir)) == Set(names.dropFirst()))
    }
}
