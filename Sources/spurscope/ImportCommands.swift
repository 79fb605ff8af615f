import ArgumentParser
import Foundation
import SpurCore

struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Build a feature bundle from a dataset and exported encoder outputs.",
        subcommands: [ImportWaterbirds.self, ImportTensors.self, ImportDetections.self, ImportCheckpoint.self])
}

/// Options every importer shares: the exported tensors and their prompts.
struct ImportOptions: ParsableArguments {
    @Option(name: .long, help: "safetensors with image_pooled [N,Dv] (rows in the order of the examples), text_prompts [P,Dt], W_v [E,Dv], W_t [E,Dt], logit_scale, and optionally image_spatial [N,H,W,Dv].")
    var features: String

    @Option(name: .long, help: "CSV with a 'prompt' column naming each row of text_prompts.")
    var prompts: String

    @Option(name: .long, help: "Prompt templates, one per line with {} for the class name (default: CLIP's 80 ImageNet templates).")
    var templates: String?

    @Option(name: .long, help: "Model name for the manifest (default: the features file's metadata 'model').")
    var model: String?

    @Option(name: .long, help: "Pooling of the image encoder: mean, token or attention (default: that of the bundle the examples come from, else mean).")
    var pooling: String?

    @Option(name: .long, help: "Where to write the bundle.")
    var out: String

    @Flag(name: .long, help: "Replace an existing bundle at --out.")
    var force = false

    func common() throws -> BundleImport.Common {
        let pool = try pooling.map { name in
            try BundleManifest.Pooling(rawValue: name).orThrow(InputError(file: "--pooling", "'\(name)' is not mean, token or attention"))
        }
        var templateList = CLIPTemplates.imagenet80
        if let templates {
            guard let text = try? String(contentsOfFile: templates, encoding: .utf8) else {
                throw InputError(file: templates, "cannot be read as UTF-8 text")
            }
            templateList = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            if let bad = templateList.firstIndex(where: { !$0.contains("{}") }) {
                throw InputError(file: templates, field: "template \(bad + 1)", "'\(templateList[bad])' has no {} for the class name")
            }
        }
        return .init(features: features, prompts: prompts, templates: templateList, model: model,
                     pooling: pool, overwrite: force)
    }
}

struct ImportWaterbirds: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "waterbirds",
        abstract: "Import the WILDS Waterbirds layout (metadata.csv + images + features).",
        discussion: """
        metadata.csv columns: img_id, img_filename, y (1 = waterbird), split (0 train, 1 val, \
        2 test), place (0 land, 1 water). Ground truth 'water' goes to examples.csv; detections \
        'water' and 'land' carry the ground-truth background. With --masks, each example's mask \
        is MASKS/<img_filename with .png> (the CUB segmentations).
        """)

    @Option(name: .long, help: "WILDS metadata.csv.")
    var metadata: String

    @Option(name: .long, help: "Directory that img_filename is relative to.")
    var images: String

    @Option(name: .long, help: "Directory of CUB segmentation masks.")
    var masks: String?

    @OptionGroup var options: ImportOptions

    func run() throws {
        let b = try BundleImport.waterbirds(metadata: metadata, images: images, masks: masks,
                                            common: options.common(), out: options.out)
        print("wrote \(options.out): \(b.examples.count) examples, \(b.prompts.count) prompts")
    }
}

struct ImportTensors: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tensors",
        abstract: "Import any encoder's exported tensors with an examples.csv.",
        discussion: """
        examples.csv columns: id, image, label (a class name), split (train/val/test), \
        optionally attr:NAME (ground truth 0/1), mask, bbox ('x0 y0 x1 y1'). Relative paths \
        are relative to examples.csv. attributes.csv columns: id, attribute, score.
        """)

    @Option(name: .long, help: "examples.csv in bundle format.")
    var examples: String

    @Option(name: .long, help: "Detections: id, attribute, score.")
    var attributes: String?

    @Option(name: .long, help: "Comma-separated class names in label order (default: order of first appearance).")
    var classes: String?

    @OptionGroup var options: ImportOptions

    func run() throws {
        let classList = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let list = classList {
            var seen = Set<String>()
            for c in list where !seen.insert(c).inserted { throw InputError(file: "--classes", "lists '\(c)' twice") }
        }
        let b = try BundleImport.tensors(examples: examples, attributes: attributes, classes: classList,
                                         common: options.common(), out: options.out)
        print("wrote \(options.out): \(b.examples.count) examples, \(b.manifest.classes.count) classes, \(b.prompts.count) prompts")
    }
}

/// attributes.csv → detections.safetensors in place, for bundles made
/// before the binary file or by a CSV-writing detector.
struct ImportDetections: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detections",
        abstract: "Convert a bundle's attributes.csv into the binary detections.safetensors.",
        discussion: """
        Writes the detections of attributes.csv as compressed rows (offsets I64 [N+1], \
        attribute I32, score F32; the vocabulary in the metadata) and names the file in \
        manifest.json's 'detections', after which spurscope reads it instead of the CSV \
        (kept for people and other tools). The same audit table results either way; \
        loading an ImageNet-size bundle's detections becomes a copy out of a memory map.
        """)

    @Argument(help: "The bundle directory (with attributes.csv).")
    var bundle: String

    @Option(name: .long, help: "File name of the binary file inside the bundle.")
    var name: String = DetectionsFile.defaultName

    @Flag(name: .long, help: "Convert again when the manifest already names a binary file.")
    var force = false

    func run() throws {
        let b = try FeatureBundle.open(bundle)
        if let existing = b.manifest.detections, !force {
            throw InputError(file: b.path(FeatureBundle.manifestFile), field: "detections",
                             "already names '\(existing)', so attributes.csv is not read (pass --force to convert it again)")
        }
        guard !name.isEmpty, !name.contains("/"), name != FeatureBundle.attributesFile, name != FeatureBundle.featuresFile else {
            throw InputError(file: "--name", "'\(name)' is not a new file name inside the bundle")
        }
        let csv = b.path(FeatureBundle.attributesFile)
        guard FileManager.default.fileExists(atPath: csv) else { throw InputError(file: csv, "is missing: nothing to convert") }
        var table = b.detectionTable
        if b.manifest.detections != nil {   // --force: the manifest's binary was loaded; convert the CSV itself
            var problems: [InputError] = []
            let list = try BundleCheck.parseDetections(CSVTable(path: csv), examples: b.examples,
                                                       vocabulary: b.manifest.attributes, into: &problems)
            if let first = problems.first { throw first }
            table = DetectionTable(exampleCount: b.examples.count, detections: list)
        }
        try DetectionsFile.write(table, vocabulary: b.manifest.attributes, to: b.path(name))
        var manifest = b.manifest
        manifest.detections = name
        try manifest.write(to: b.path(FeatureBundle.manifestFile))
        print("wrote \(b.path(name)): \(table.count) detections of \(b.examples.count) examples; manifest.json names it")
    }
}
