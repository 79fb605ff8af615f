import ArgumentParser
import CMalloc
import Foundation
import SpurCore
import SpurEngine
import SpurSynth

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Build the synthetic Waterbirds benchmark as a feature bundle.",
        discussion: """
        Procedural birds of eight species (the class is the species' group, carried by \
        silhouette, neck, beak and legs) on land or water (the spurious signal); a built-in \
        image encoder whose top layers are pre-trained on a broad captioned corpus and then \
        frozen, and a word-vector text encoder; projections pre-trained with the CLIP loss on \
        a biased caption corpus; noisy detections. Default: Waterbirds' group counts \
        (3,498 / 184 / 56 / 1,057 train), 300 val and test examples per group. A stand-in \
        with the structure of the real benchmark, not real results. The same recipe on the \
        same machine gives the same bundle, byte for byte; `spurscope probe` tells what its \
        features hold.

        The image encoder depends only on the recipe's encoder_* fields and image_size, not \
        on the seed: like CLIP's weights, it is pre-trained once and reused. With --encoder \
        FILE, an existing FILE is read instead of pre-training (about two thirds of the \
        build), and a missing one is written after pre-training. `make sample` uses \
        sample-data/encoder.safetensors; `make encoder-check` rebuilds it from the recipe and \
        compares byte for byte.
        """)

    @Option(name: .long, help: "Where to write the bundle.")
    var out: String?

    @Option(name: .long, help: ArgumentHelp(
        "The frozen encoder's weights: read if the file exists, else pre-trained and written there.",
        valueName: "file"))
    var encoder: String?

    @Flag(name: .long, help: "Only pre-train the encoder and write it to --encoder; build no bundle.")
    var encoderOnly = false

    @Option(name: .long, help: "A recipe file (JSON); flags below override its fields.")
    var recipe: String?

    @Option(name: .long, parsing: .unconditional,
            help: "The benchmark's draw: scenes, captions, projections, detections (the encoder has its own, encoder_seed).")
    var seed: UInt64?
    @Option(name: .long, parsing: .unconditional, help: "Examples in the training split.") var train: Int?
    @Option(name: .long, parsing: .unconditional, help: "Examples in the validation split.") var val: Int?
    @Option(name: .long, parsing: .unconditional, help: "Examples in the test split.") var test: Int?
    @Option(name: .long, parsing: .unconditional, help: "Background–class correlation in training (Waterbirds: 0.95).") var correlation: Double?
    @Option(name: .long, parsing: .unconditional, help: "Rate of wrong detections, misses and false alarms alike.") var detectionNoise: Double?
    @Option(name: .long, parsing: .unconditional, help: "Image side in pixels (multiple of 8).") var imageSize: Int?

    @Flag(name: .long, help: "Replace an existing bundle at --out (with --encoder-only: the file at --encoder).") var force = false
    @Flag(name: .long, help: "Print only the summary.") var quiet = false

    func validate() throws {
        if encoderOnly && encoder == nil { throw ValidationError("--encoder-only needs --encoder FILE to write to") }
        if encoderOnly && out != nil { throw ValidationError("--encoder-only builds no bundle: drop --out, or drop --encoder-only") }
        if !encoderOnly && out == nil { throw ValidationError("Missing expected argument '--out <out>'") }
        if encoder?.isEmpty == true { throw ValidationError("--encoder needs a file name") }
    }

    /// What would fail at the end fails now, before a minute of pre-training.
    func checkTargets() throws {
        if let out, !force, FileManager.default.fileExists(atPath: out) {
            throw InputError(file: out, "already exists", remedy: .replaceExisting)
        }
        guard let encoder else { return }
        if encoderOnly && !force && FileManager.default.fileExists(atPath: encoder) {
            throw InputError(file: encoder, "exists", remedy: .replaceExisting)
        }
        let folder = (encoder as NSString).deletingLastPathComponent
        var isFolder: ObjCBool = false
        guard folder.isEmpty || (FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue) else {
            throw InputError(file: encoder, "cannot be written: \(folder) is not a directory")
        }
    }

    /// The encoder in `path`, which must have been built from the recipe's
    /// encoder fields; or, when the file is missing (or replaced with
    /// `--encoder-only --force`), pre-trained here and written there.
    func loadOrPretrain(_ path: String, recipe r: SynthRecipe, log: (String) -> Void) throws -> SyntheticImageEncoder {
        if FileManager.default.fileExists(atPath: path) && !encoderOnly {
            let e = try EncoderFile.read(path: path, recipe: r)
            log("read the encoder from \(path)")
            return e
        }
        let e = SyntheticBenchmark.pretrainedEncoder(r, log: log)
        try EncoderFile.write(e, recipe: r, to: path)
        log("wrote the encoder to \(path)")
        return e
    }

    func run() throws {
        var r = try recipe.map(SynthRecipe.read) ?? SynthRecipe()
        if let seed { r.seed = seed }
        if let train { r.train = train }
        if let val { r.val = val }
        if let test { r.test = test }
        if let correlation { r.correlation = correlation }
        if let detectionNoise { r.detectionNoise = detectionNoise }
        if let imageSize { r.imageSize = imageSize }
        try r.check(file: "recipe")
        // Every pre-training step allocates and frees tens of megabytes of
        // activations; above glibc's default thresholds each block is a fresh
        // mmap whose pages the kernel faults in and zeroes again (3.6 M minor
        // faults for 200 steps). Keeping freed blocks in the heap cut them 8×
        // and the system time in half.
        _ = spur_keep_freed_blocks_in_heap()
        let log: (String) -> Void = quiet ? { _ in } : { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        let start = DispatchTime.now()
        let stamped: (String) -> Void = { line in
            log(String(format: "%5.1fs  ", Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9) + line)
        }
        try checkTargets()
        let imageEncoder = try encoder.map { try loadOrPretrain($0, recipe: r, log: stamped) }
        guard let out, !encoderOnly else {
            print("wrote \(encoder!)")
            return
        }
        if imageEncoder == nil {
            log("note: pre-training the encoder, which depends only on the recipe's encoder fields: "
                + "--encoder FILE keeps it for the next build (sample-data/encoder.safetensors is the default recipe's)")
        }
        let s = try SyntheticBenchmark.build(r, out: out, overwrite: force, encoder: imageEncoder, startedAt: start, log: log)
        print(String(format: "wrote %@: %d examples in %.1f s", out, s.examples, s.seconds))
        print("zero-shot accuracy on test, by (class, background):")
        for g in s.zeroShot.groups {
            print(String(format: "  %-10@ on %-6@ %5.1f%%  (%d)", SyntheticBenchmark.classes[g.label],
                         g.value == 1 ? "water" : "land", 100 * s.zeroShot.accuracy(g)!, s.zeroShot.total[g]!))
        }
        if let w = s.zeroShot.worstGroup, let b = s.zeroShot.bestGroup {
            print(String(format: "  average %.1f%%, worst group %.1f%%, best − worst %.1f points",
                         100 * s.zeroShot.average, 100 * w.accuracy, 100 * (b.accuracy - w.accuracy)))
        }
    }
}
