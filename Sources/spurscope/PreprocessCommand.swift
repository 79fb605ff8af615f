import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct PreprocessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preprocess",
        abstract: "Turn pictures into a checkpoint's pixel tensor, as its own pipeline does.",
        discussion: """
        Reads each IMAGE (PNG or JPEG) upright, as Pillow's ImageOps.exif_transpose and \
        convert("RGB") give it, then resizes, centre-crops and normalises it with the \
        checkpoint's recipe (preprocessor_config.json of a Hugging Face folder, \
        open_clip_config.json of an open_clip one, else the layout's own at the tower's \
        image size). Writes --out, a .safetensors file whose tensor pixel_values [N, 3, S, S] \
        is what `encode-images --pixels` reads; with --views, also each S x S view as \
        DIR/NNNNNNN.png, numbered from 0 in argument order, as a bundle's images/ holds them.
        """)

    @Option(name: .long, help: "The checkpoint: a folder or a .safetensors file.") var checkpoint: String
    @Option(name: .long, help: ArgumentHelp("Where the pixels go.", valueName: "FILE.safetensors")) var out: String
    @Option(name: .long, help: ArgumentHelp("Also write the views here as PNG.", valueName: "DIR")) var views: String?
    @Argument(help: "Pictures to preprocess.") var images: [String] = []

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one IMAGE") }
    }

    func run() throws {
        let c = try CLIPCheckpoint(path: checkpoint)
        let size = try Self.imageSize(of: c)
        let recipe = try ImagePreprocessing.forCheckpoint(folder: c.folder, layout: c.layout, imageSize: size)
        if let views { try FileManager.default.createDirectory(atPath: views, withIntermediateDirectories: true) }
        var pixels: [Float] = []
        pixels.reserveCapacity(images.count * 3 * size * size)
        for (row, path) in images.enumerated() {
            let view = recipe.view(of: try ImageFile.read(path: path))
            pixels += recipe.pixels(of: view)
            if let views {
                try ImageFile.writePNG(view, to: (views as NSString).appendingPathComponent(String(format: "%07d.png", row)))
            }
        }
        var writer = SafetensorsWriter()
        writer.metadata = ["preprocessing": recipe.description]
        writer.add("pixel_values", shape: [images.count, 3, size, size], floats: pixels)
        try writer.write(to: out)
    }

    /// S, from the shapes of the image tower's embeddings: patch size times
    /// grid side for a ViT, 32 times the attention pool's grid for a ResNet.
    static func imageSize(of c: CLIPCheckpoint) throws -> Int {
        let t = c.weights.tensors
        let patch: TensorInfo?, positions: TensorInfo?
        switch try CLIPImageTowers.kind(of: c) {
        case .visionTransformer:
            patch = t[c.layout == .huggingFace ? "vision_model.embeddings.patch_embedding.weight" : "visual.conv1.weight"]
            positions = t[c.layout == .huggingFace ? "vision_model.embeddings.position_embedding.weight" : "visual.positional_embedding"]
        case .modifiedResNet:
            patch = nil
            positions = t["visual.attnpool.positional_embedding"]
        }
        guard let positions, positions.shape.count == 2 else {
            throw InputError(file: c.weightsPath, "has no 2-D position embedding to tell the image size from")
        }
        let grid = Int(Double(positions.shape[0] - 1).squareRoot().rounded())
        guard grid > 0, grid * grid + 1 == positions.shape[0] else {
            throw InputError(file: c.weightsPath, field: "tensor '\(positions.name)'",
                             "has \(positions.shape[0]) positions, not 1 + a square grid")
        }
        guard let patch else { return 32 * grid }
        guard patch.shape.count == 4, patch.shape[2] == patch.shape[3], patch.shape[2] > 0 else {
            throw InputError(file: c.weightsPath, field: "tensor '\(patch.name)'", "has shape \(patch.shape), expected [D, 3, P, P]")
        }
        return patch.shape[2] * grid
    }
}
