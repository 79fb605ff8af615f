import ArgumentParser
import Foundation
import SpurCore
import SpurEngine

struct CamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cam",
        abstract: "Show an example and its Grad-CAM heatmap as terminal art.",
        discussion: """
        Grad-CAM (Selvaraju et al.) of the class score s·cos(W_v·f, ĉ_y) under the \
        pre-trained heads or a run's: weights w = the spatial mean of the score's gradient at \
        the target layer A, map = ReLU(Σ_c w_c A_c), upsampled to the image and scaled to \
        [0, 1]. Bundles from `spurscope extract` and `tools/extract` carry the input of the \
        tower's frozen tail (cam_tail), so the target is the paper's: a ViT's last-block \
        layer_norm1 (ln_1), RN50's layer4; mean-pooled bundles take it at image_spatial. \
        Older ViT and ResNet bundles have only image_spatial, read through the head \
        (ReLU(⟨F(h,w), g_y⟩) with g_y the gradient at the pooled feature): said so, not \
        Grad-CAM.

        Left: the image; right: the heatmap (inferno) blended over it. Half blocks ▀ in \
        truecolor (or the nearest of 256 colours when COLORTERM does not announce \
        truecolor); an ASCII ramp with --ascii or when NO_COLOR is set. --json prints the \
        map itself instead: {example, class, layer, grid} with grid the H × W values after \
        the ReLU, before any normalising or upsampling.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "Example id (the id column of examples.csv).") var example: String
    @Option(name: .customLong("class"), help: "Class whose map to show (default: the true class).") var className: String?
    @Option(name: .customLong("run"), parsing: .unconditional, help: "Use this run's best checkpoint instead of the pre-trained model.") var runID: Int64?
    @Option(name: .long, parsing: .unconditional, help: "Columns per picture (at most; a tall image is narrower, keeping its aspect ratio).") var width: Int = 32
    @Flag(name: .long, help: "ASCII ramp instead of colour.") var ascii = false
    @Flag(name: .long, help: "Print the map as one JSON object (example, class, layer, grid) instead of drawing it.") var json = false
    @Flag(name: .long, help: ArgumentHelp("With --json: add the channel weights and the whole gradient at the target layer (for checks).",
                                          visibility: .hidden)) var gradients = false
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        guard width >= 4 && width <= 400 else { throw InputError(file: "--width", "is \(width), expected 4...400") }
        let b = try FeatureBundle.open(bundle)
        guard b.hasHeatmaps else {
            throw InputError(file: b.path(FeatureBundle.featuresFile), "has no image_spatial tensor and the manifest no cam_tail: Grad-CAM needs one")
        }
        guard !gradients || json else { throw InputError(file: "--gradients", "needs --json") }
        guard let e = b.examples.firstIndex(where: { $0.id == example }) else {
            throw InputError(file: "--example", "'\(example)' is not an example id of \(bundle)")
        }
        let classes = b.manifest.classes
        let target = try className.map { name in
            try classes.firstIndex(of: name).orThrow(InputError(file: "--class", "'\(name)' is not a class (\(classes.joined(separator: ", ")))"))
        } ?? b.examples[e].label
        let templates = try b.classTemplateFeatures()
        var classifier = HeadClassifier(heads: try b.pretrainedHeads(), classTemplates: templates, templateCount: b.manifest.templates.count)
        if let run = runID {
            guard let ws = try workspaceOption.openIfPresent(bundle: bundle) else {
                throw InputError(file: "--run", "there is no workspace for \(bundle) yet")
            }
            classifier = try RunCheckpoints.bestClassifier(run: run, workspace: ws, like: classifier.heads,
                                                           classTemplates: templates, templateCount: b.manifest.templates.count)
        }
        let cam = try CAMRenderer(bundle: b, classifier: classifier)
        if json {
            print(try CAMJSON.encode(cam: cam, example: e, target: target, gradients: gradients))
            return
        }
        let image = try ImageFile.read(path: b.resolve(b.examples[e].image))
        let heat = try cam.map(example: e, class: target, width: image.width, height: image.height)
        let logits = classifier.logits(try b.pooledFeatures(rows: [e])).logSoftmaxRows()
        let probabilities = classes.indices.map { expf(logits[0, $0]) }
        let predicted = probabilities.indices.max { probabilities[$0] < probabilities[$1] }!
        let truth = b.examples[e].attributes.filter { $0.value == 1 }.keys.sorted().joined(separator: ", ")
        print("\(example): \(classes[b.examples[e].label])\(truth.isEmpty ? "" : " (\(truth))") — predicted \(classes[predicted]) "
              + String(format: "(%.0f%%)", 100 * probabilities[predicted]) + "; map for \(classes[target])"
              + (runID.map { ", run \($0)" } ?? ", pre-trained") + " — " + cam.method.shortLabel
              + (cam.method == .throughHead ? "" : " at \(cam.method.label)"))

        // Each picture fits a box `width` columns wide and `width / 2` rows
        // tall (square on screen), keeping the image's aspect ratio.
        let size = TerminalArt.fit(width: image.width, height: image.height, columns: width, rows: width / 2)
        let env = ProcessInfo.processInfo.environment
        if ascii || env["NO_COLOR"] != nil {
            let left = TerminalArt.ascii(image, columns: size.columns, rows: size.rows)
            let heatRows = TerminalArt.ascii(TerminalArt.colored(heat: heat) { t in
                let v = UInt8(255 * t); return (v, v, v)
            }, columns: size.columns, rows: size.rows)
            for (l, r) in zip(left, heatRows) { print(l + "  " + r) }
            return
        }
        let overlay = TerminalArt.overlay(image, heat: heat, alpha: 0.6)
        let truecolor = ["truecolor", "24bit"].contains(env["COLORTERM"]?.lowercased() ?? "")
        let a = TerminalArt.halfBlocks(image, columns: size.columns, rows: size.rows)
        let o = TerminalArt.halfBlocks(overlay, columns: size.columns, rows: size.rows)
        for (l, r) in zip(a, o) {
            print(ANSI.row(l, truecolor: truecolor) + "  " + ANSI.row(r, truecolor: truecolor))
        }
    }
}

/// Half-block cells as ANSI escape sequences.
enum ANSI {
    static func row(_ cells: [TerminalArt.HalfBlock], truecolor: Bool) -> String {
        var s = ""
        for c in cells {
            if truecolor {
                s += "\u{1B}[38;2;\(c.top[0]);\(c.top[1]);\(c.top[2])m\u{1B}[48;2;\(c.bottom[0]);\(c.bottom[1]);\(c.bottom[2])m▀"
            } else {
                s += "\u{1B}[38;5;\(TerminalArt.xterm256(c.top[0], c.top[1], c.top[2]))m"
                    + "\u{1B}[48;5;\(TerminalArt.xterm256(c.bottom[0], c.bottom[1], c.bottom[2]))m▀"
            }
        }
        return s + "\u{1B}[0m"
    }
}

/// `cam --json`: the map on the feature grid, for scripts and checks.
enum CAMJSON {
    struct Output: Encodable {
        var example: String
        var `class`: String
        var layer: String
        /// `H` rows of `W` values.
        var grid: [[Float]]
        var channelWeights: [Float]?
        var gradient: [[Float]]?
        enum CodingKeys: String, CodingKey {
            case example, `class`, layer, grid
            case channelWeights = "channel_weights", gradient
        }
    }

    static func encode(cam: CAMRenderer, example e: Int, target y: Int, gradients: Bool) throws -> String {
        let b = cam.bundle, grid = b.manifest.grid
        let values = try cam.gridMaps(example: e, classes: [y])[0]
        var out = Output(example: b.examples[e].id, class: b.manifest.classes[y], layer: cam.method.label,
                         grid: (0..<grid.height).map { Array(values[$0 * grid.width ..< ($0 + 1) * grid.width]) })
        if gradients, let target = try cam.targetLayer(example: e, classes: [y], keepGradients: true), let g = target.gradients?[0] {
            out.channelWeights = Array(target.channelWeights.row(0))
            out.gradient = (0..<g.rows).map { Array(g.row($0)) }
        }
        guard out.grid.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw InputError(file: b.path(FeatureBundle.featuresFile), field: "example '\(b.examples[e].id)'", "gives a map that is not finite")
        }
        return String(decoding: try JSONEncoder.sortedKeys.encode(out), as: UTF8.self)
    }
}
