import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct EncodeImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode-images",
        abstract: "Encode pixel tensors with a CLIP checkpoint's image tower, natively.",
        discussion: """
        Reads --pixels, a .safetensors file whose tensor pixel_values holds normalised \
        images [N, 3, S, S] (channel-first, as PyTorch's pixel_values), and writes --out, \
        a .safetensors file with the features a bundle stores: image_pooled [N, Dv], \
        image_spatial [N, H, W, Dv] (unless --no-spatial) and W_v [E, Dv]. For checks \
        against another implementation; `spurscope extract` makes whole bundles from photos.
        """)

    @Option(name: .long, help: "The checkpoint: a folder or a .safetensors file.") var checkpoint: String
    @Option(name: .long, help: ArgumentHelp("Pixels to encode (tensor pixel_values, F32).", valueName: "FILE.safetensors"))
    var pixels: String
    @Option(name: .long, help: ArgumentHelp("Where the features go.", valueName: "FILE.safetensors")) var out: String
    @Flag(name: .customLong("no-spatial"), help: "Write only the pooled features.") var noSpatial = false

    func run() throws {
        let tower = try CLIPImageTowers.load(try CLIPCheckpoint(path: checkpoint))
        let s = tower.shape
        let file = try SafetensorsFile(path: pixels)
        let info = try file.checkedInfo("pixel_values", shape: [nil, 3, s.imageSize, s.imageSize], floating: true)
        let n = info.shape[0]
        let batch = try tower.features(pixels: try file.floats("pixel_values"), count: n, spatial: !noSpatial)
        var writer = SafetensorsWriter()
        writer.metadata = ["architecture": s.architecture, "pooling": s.pooling.rawValue]
        writer.add("image_pooled", shape: [n, s.featureWidth], floats: batch.pooled)
        if let spatial = batch.spatial {
            writer.add("image_spatial", shape: [n, s.gridHeight, s.gridWidth, s.featureWidth], floats: spatial)
        }
        writer.add("W_v", shape: tower.projection.shape, floats: tower.projection.values)
        try writer.write(to: out)
    }
}
