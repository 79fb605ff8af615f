import Foundation
import Testing
import SpurCore
@testable import SpurEngine

/// Bad batch files get one message naming the tensor and what was expected.
struct LossBatchFileTests {
    static func write(_ edit: (inout [String: (shape: [Int], values: [Float], integer: Bool)]) -> Void) throws -> String {
        var t: [String: (shape: [Int], values: [Float], integer: Bool)] = [
            "image": ([2, 3], [1, 2, 3, 4, 5, 6], false),
            "label": ([2], [0, 1], true),
            "attr": ([2], [1, -1], true),
            "caption": ([2, 2], [1, 0, 0, 1], false),
            "class_templates": ([2, 1, 2], [1, 0, 0, 1], false),
            "group_templates": ([2, 2, 1, 2], [1, 0, 0, 1, 1, 1, 1, -1], false),
            "W_v": ([2, 3], [1, 0, 0, 0, 1, 0], false),
            "W_t": ([2, 2], [1, 0, 0, 1], false),
            "logit_scale": ([], [1], false),
        ]
        edit(&t)
        var w = SafetensorsWriter()
        for (name, v) in t {
            if v.integer { w.add(name, shape: v.shape, int32s: v.values.map { Int32($0) }) }
            else { w.add(name, shape: v.shape, floats: v.values) }
        }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("batch-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).safetensors").path
        try w.write(to: path)
        return path
    }

    @Test func goodBatchLoads() throws {
        let (batch, heads) = try LossBatchFile.load(SafetensorsFile(path: Self.write { _ in }))
        #expect(batch.size == 2 && batch.classCount == 2 && batch.templateCount == 1)
        #expect(batch.attributes == [1, -1] && heads.embeddingDim == 2 && heads.logitScale == 1)
    }

    typealias Tensors = [String: (shape: [Int], values: [Float], integer: Bool)]
    static let cases: [(String, @Sendable (inout Tensors) -> Void, String, String)] = [
        ("label out of range", { $0["label"] = ([2], [0, 2], true) }, "tensor 'label'", "element 1 is 2, expected a class index in 0..<2"),
        ("attr not ternary", { $0["attr"] = ([2], [1, 2], true) }, "tensor 'attr'", "element 1 is 2, expected 1 (present), 0 (absent) or -1 (unknown)"),
        ("float labels", { $0["label"] = ([2], [0, 1], false) }, "tensor 'label'", "dtype is F32, expected an integer type (I32 or I64)"),
        ("W_v width", { $0["W_v"] = ([2, 2], [1, 0, 0, 1], false) }, "tensor 'W_v'", "shape is [2, 2], expected [_, 3]"),
        ("W_t rows", { $0["W_t"] = ([1, 2], [1, 0], false) }, "tensor 'W_t'", "shape is [1, 2], expected [2, 2]"),
        ("group templates", { $0["group_templates"] = ([2, 1, 1, 2], [1, 0, 0, 1], false) }, "tensor 'group_templates'", "shape is [2, 1, 1, 2], expected [2, 2, 1, 2]"),
        ("logit scale shape", { $0["logit_scale"] = ([2], [1, 1], false) }, "tensor 'logit_scale'", "shape is [2], expected [] or [1]"),
        ("NaN feature", { $0["image"] = ([2, 3], [1, 2, .nan, 4, 5, 6], false) }, "tensor 'image'", "element 2 is nan, expected a finite number"),
    ]

    @Test(arguments: cases.indices)
    func badBatchIsNamed(_ i: Int) throws {
        let (_, edit, field, problem) = Self.cases[i]
        let path = try Self.write(edit)
        #expect(throws: InputError(file: path, field: field, problem)) {
            try LossBatchFile.load(SafetensorsFile(path: path))
        }
    }

    @Test func missingTensorIsNamed() throws {
        let path = try Self.write { $0["caption"] = nil }
        #expect(throws: InputError(file: path, field: "tensor 'caption'",
                                   "is missing (the file has: W_t, W_v, attr, class_templates, group_templates, image, label, logit_scale)")) {
            try LossBatchFile.load(SafetensorsFile(path: path))
        }
    }
}
