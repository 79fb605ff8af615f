import Foundation
import Testing
@testable import SpurCore

/// The row file an extraction writes into: rows in any order, reopened
/// after a kill, read back by the bundle's own reader.
struct SafetensorsRowFileTests {
    func path(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spurscope-rowfile-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    let declarations: [SafetensorsRowFile.Declaration] = [
        .init("a", .f32, [3, 2]), .init("h", .f16, [2, 2, 2]), .init("s", .f32, []),
    ]

    @Test func rowsWrittenOutOfOrderAndAfterReopeningReadBack() throws {
        let p = path("rows.safetensors")
        do {
            let f = try SafetensorsRowFile(path: p, tensors: declarations, metadata: ["k": "v"])
            try f.writeRows("a", start: 2, [5, 6])
            try f.writeRows("h", start: 0, [0.5, 1, 1.5, 2])
            try f.writeRows("s", start: 0, [7])
        }
        do {
            // A resumed run: the same layout reopened, its missing rows written.
            let f = try SafetensorsRowFile(path: p, tensors: declarations, metadata: ["k": "v"], reuse: true)
            try f.writeRows("a", start: 0, [1, 2, 3, 4])
            try f.writeRows("h", start: 1, [-1, -2, 0.25, 3])
            try f.synchronize()
        }
        let r = try SafetensorsFile(path: p)
        #expect(try r.floats("a") == [1, 2, 3, 4, 5, 6])
        #expect(try r.floats("h") == [0.5, 1, 1.5, 2, -1, -2, 0.25, 3])
        #expect(try r.info("h").dtype == .f16)
        #expect(try r.floats("s") == [7])
        #expect(r.metadata == ["k": "v"])
    }

    @Test func aFileOfAnotherLayoutIsNotResumed() throws {
        let p = path("other.safetensors")
        _ = try SafetensorsRowFile(path: p, tensors: declarations)
        var other = declarations
        other[0] = .init("a", .f32, [4, 2])
        #expect(throws: InputError.self) { _ = try SafetensorsRowFile(path: p, tensors: other, reuse: true) }
    }

    @Test func rowsOutsideTheShapeAreRefusedNamingTheTensor() throws {
        let f = try SafetensorsRowFile(path: path("bounds.safetensors"), tensors: declarations)
        #expect { try f.writeRows("a", start: 2, [1, 2, 3, 4]) } throws: { ($0 as? InputError)?.field == "tensor 'a'" }
        #expect { try f.writeRows("a", start: 0, [1, 2, 3]) } throws: { ($0 as? InputError)?.field == "tensor 'a'" }
        #expect(throws: InputError.self) { try f.writeRows("nope", start: 0, []) }
    }
}
