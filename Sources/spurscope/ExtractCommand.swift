import ArgumentParser
import Foundation
import SpurCLIP
import SpurCore

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Make a feature bundle from photos and a CLIP checkpoint, natively (no Python).",
        discussion: """
        Reads a Hugging Face save_pretrained folder, an open_clip hub folder or one .safetensors \
        file of an OpenAI state dict: ViT image towers in both layouts, ModifiedResNet (RN50, \
        RN101, …) in OpenAI's. Each photo is read upright (its EXIF orientation applied), \
        resized and centre-cropped as the checkpoint's own pipeline does, and encoded; the \
        bundle stores the model's view of each photo (images/, masks/) so maps, masks and boxes \
        line up. For a ViT the pooled feature is the class token; for a ModifiedResNet it is the \
        attention pool's output and W_v starts as the identity, so zero-shot equals the \
        checkpoint's. Only the class prompts and "a photo of WORD." are encoded now: the bundle \
        records the checkpoint, which encodes any other phrase when a method asks for it.

        A killed extraction resumes where it stopped when the same command is run again. \
        --shard N/M (or auto, from Slurm's or torchrun's environment) extracts one worker's \
        slice; `spurscope extract merge` joins the slices (as does tools/extract's merge).
        """,
        subcommands: [ExtractRun.self, ExtractMerge.self],
        defaultSubcommand: ExtractRun.self)
}

struct ExtractRun: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Extract a bundle (the default).")

    @Option(name: .long, help: "The CLIP checkpoint: a folder or a .safetensors file.") var checkpoint: String
    @Option(name: .long, help: ArgumentHelp("WILDS Waterbirds directory (metadata.csv and the images).", valueName: "DIR"))
    var waterbirds: String?
    @Option(name: .long, help: ArgumentHelp("Directory the image (and mask) paths of --labels are relative to.", valueName: "DIR"))
    var images: String?
    @Option(name: .long, help: ArgumentHelp("id, image, label, split; optional attr:NAME, mask, bbox.", valueName: "CSV"))
    var labels: String?
    @Option(name: .long, help: "Comma-separated class names in label order (default: order of first appearance).") var classes: String?
    @Option(name: .long, help: ArgumentHelp("Attribute words, one a line (default: the built-in object names); class names are removed.", valueName: "FILE"))
    var vocabulary: String?
    @Option(name: .long, help: ArgumentHelp("Also remove this word from the vocabulary (repeatable).", valueName: "WORD"))
    var exclude: [String] = []
    @Option(name: .long, help: ArgumentHelp("The tokenizer's vocabulary when it is not in the checkpoint's folder.", valueName: "PATH"))
    var vocab: String?
    @Option(name: .long, help: "The bundle directory (with --shard: this shard's directory).") var out: String
    @Option(name: .long, help: ArgumentHelp("Extract only worker N's slice of M, or `auto` (SLURM_PROCID/SLURM_NTASKS, RANK/WORLD_SIZE).", valueName: "N/M"))
    var shard: String?
    @Option(name: .long, help: "Images per forward pass.") var batch = 32
    @Flag(name: .long, help: "List the original images in examples.csv instead of storing the model's views.") var originals = false
    @Flag(name: .customLong("no-spatial"), help: "Leave out the Grad-CAM inputs (image_tail_input, cam_tail.safetensors): no heatmaps, no AIoU.") var noSpatial = false
    @Option(name: .customLong("spatial-dtype"), help: "Storage type of image_tail_input: f16 or f32.") var spatialDType = "f16"
    @Flag(name: .long, help: "Replace an existing --out.") var force = false
    @Flag(name: .long, help: "No progress on stderr.") var quiet = false
    @Flag(name: .long, help: "At the end, print where the time went (decode, resize, tower, write, …) on stderr.") var timings = false

    func validate() throws {
        if (waterbirds == nil) == (labels == nil) {
            throw ValidationError("give --waterbirds DIR, or --images DIR with --labels FILE")
        }
        if labels != nil && images == nil { throw ValidationError("--labels needs --images DIR (the folder its paths are relative to)") }
        if batch < 1 { throw ValidationError("--batch is \(batch), expected at least 1") }
        if !["f16", "f32"].contains(spatialDType) { throw ValidationError("--spatial-dtype is '\(spatialDType)', expected f16 or f32") }
    }

    func run() throws {
        let dataset: ExtractionDataset
        if let waterbirds {
            dataset = try .waterbirds(waterbirds)
        } else {
            let given = classes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            dataset = try .labels(labels!, images: images!, classes: given)
        }
        var options = ExtractionPlan.Options(checkpoint: checkpoint)
        options.vocabulary = vocab
        options.shard = try shard.map { try ExtractionShard.parse($0) } ?? .whole
        options.spatial = !noSpatial
        options.spatialAsFloat16 = spatialDType == "f16"
        options.views = !originals
        if let vocabulary { options.words = try AttributeVocabulary.read(vocabulary) }
        options.exclude = exclude
        let plan = try ExtractionPlan(dataset: dataset, options: options)
        let s = plan.imageTower.shape
        if !quiet {
            var line = "\(checkpoint): \(s.architecture) (\(plan.checkpoint.layout.rawValue) layout), Dv \(s.featureWidth), Dt \(plan.textTower.shape.width), E \(s.embeddingWidth), grid \(s.gridHeight)×\(s.gridWidth); \(dataset.items.count) examples, \(dataset.classes.count) classes, \(plan.attributes.count) attributes, \(plan.prompts.count) prompts"
            if options.shard.count > 1 {
                line += "; shard \(options.shard.description): examples \(plan.rows.lowerBound)..<\(plan.rows.upperBound), prompts \(plan.promptRows.lowerBound)..<\(plan.promptRows.upperBound)"
            }
            Self.say(line)
        }
        let extraction = Extraction(plan: plan, out: out)
        extraction.batchSize = batch
        let progress = ProgressLine(quiet: quiet)
        let resumed = try extraction.run(overwrite: force) { progress.show($0) }
        if timings { for line in extraction.timings.breakdown(images: plan.rows.count - resumed) { Self.say(line) } }
        if !quiet {
            Self.say("wrote \(out)" + (resumed > 0 ? " (resumed after \(resumed) images)" : "")
                     + (options.shard.count > 1 ? " (shard \(options.shard.description); merge all \(options.shard.count) with `spurscope extract merge`)" : ""))
        }
    }

    static func say(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

extension ExtractionTimings {
    /// The report of `--timings` and `bench --suite extract`.
    func breakdown(images: Int) -> [String] {
        func row(_ label: String, _ stage: Stage, per unit: String, units: Int) -> String {
            let e = self[stage]
            let each = units > 0 ? String(format: "   %.1f ms/%@", 1000 * e.seconds / Double(units), unit) : ""
            return label.padding(toLength: 38, withPad: " ", startingAt: 0) + String(format: "%9.1f s", e.seconds) + each
        }
        let batches = self[.tower].count
        return [
            String(format: "where the time went: %.1f s in all, %.1f s for %d images (%.1f images/s)",
                   totalWallSeconds, imagesWallSeconds, images, imagesWallSeconds > 0 ? Double(images) / imagesWallSeconds : 0),
            "  main thread, one stage after another:",
            row("    text prompts", .prompts, per: "chunk", units: self[.prompts].count),
            row("    image tower", .tower, per: "image", units: images),
            row("    write rows, fsync, progress", .write, per: "batch", units: batches),
            row("    waiting for the prefetch", .waiting, per: "batch", units: batches),
            "  prefetch, beside the tower (busy time summed over its threads):",
            row("    decode (read, JPEG/PNG, upright)", .decode, per: "image", units: self[.decode].count),
            row("    resize, crop, normalise", .preprocess, per: "image", units: self[.decode].count),
            row("    views and masks (PNG)", .views, per: "image", units: self[.views].count),
        ]
    }
}

/// One progress line on stderr with rate and time left: rewritten in place
/// on a terminal, every 10 seconds in a log.
final class ProgressLine {
    private let quiet: Bool
    private let terminal = isatty(2) != 0
    private var last = Date.distantPast

    init(quiet: Bool) { self.quiet = quiet }

    func show(_ p: ExtractionProgress) {
        guard !quiet else { return }
        let finished = p.done >= p.total
        let now = Date()
        guard finished || now.timeIntervalSince(last) >= (terminal ? 0.5 : 10) else { return }
        last = now
        let fresh = p.done - p.resumedFrom
        let rate = p.elapsed > 0 ? Double(fresh) / p.elapsed : 0
        var text = "  \(p.phase.rawValue) \(p.done)/\(p.total)"
        if rate > 0 { text += String(format: " (%.1f/s", rate) + (finished ? ")" : ", \(Self.duration(Double(p.total - p.done) / rate) ) left)") }
        if p.resumedFrom > 0 { text += ", resumed at \(p.resumedFrom)" }
        FileHandle.standardError.write(Data((terminal ? "\r\(text)\u{1B}[K" + (finished ? "\n" : "") : text + "\n").utf8))
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" : s >= 60 ? "\(s / 60)m\(String(format: "%02d", s % 60))s" : "\(s)s"
    }
}

struct ExtractMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge", abstract: "Join the M shard directories of a sharded extraction into one bundle.")

    @Argument(help: "All M shard directories, in any order.") var shards: [String]
    @Option(name: .long, help: "The merged bundle's directory.") var out: String
    @Flag(name: .long, help: "Replace an existing --out.") var force = false

    func run() throws {
        let rows = try ShardMerge.merge(shards, into: out, overwrite: force)
        ExtractRun.say("wrote \(out) from \(shards.count) shards (\(rows) examples)")
    }
}
