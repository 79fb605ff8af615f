import ArgumentParser
import Dispatch
import Foundation
import SpurCore
import SpurEngine

/// Options shared by every command that fine-tunes. Numeric options parse
/// `.unconditional`ly, here and in every command: `--epochs -1` then gets
/// -1 and its bounds check, not "Missing value" for a flag named -1.
struct TrainingOptions: ParsableArguments {
    @Option(name: .long, help: "Spurious attribute (repeatable). Default: every attribute marked spurious in the workspace.")
    var attribute: [String] = []
    @Flag(name: .long, help: "Per-image attribute values from the bundle's ground truth instead of its detections.")
    var groundTruth = false
    @Option(name: .long, parsing: .unconditional, help: "Epochs.") var epochs: Int = TrainingConfig.defaults.epochs
    @Option(name: .long, parsing: .unconditional, help: "Learning rate.") var lr: Float = TrainingConfig.defaults.learningRate
    @Option(name: .long, parsing: .unconditional, help: "Decoupled weight decay.") var wd: Float = TrainingConfig.defaults.weightDecay
    @Option(name: .long, parsing: .unconditional, help: "SGD momentum.") var momentum: Float = TrainingConfig.defaults.momentum
    @Option(name: .long, help: "The optimizer.") var optimizer: TrainingConfig.OptimizerKind = TrainingConfig.defaults.optimizer
    @Option(name: .long, parsing: .unconditional, help: "Examples per step.") var batchSize: Int = TrainingConfig.defaults.batchSize
    @Option(name: .long, parsing: .unconditional, help: "Random seed (data order, captions, dropout).") var seed: UInt64 = TrainingConfig.defaults.seed
    @Option(name: .long, help: "natural (shuffle) or group-balanced (1/group size, with replacement). Default: the method's own (group-balanced for ours-ls and ours-vs, natural otherwise).") var sampler: TrainingConfig.Sampler?
    @Option(name: .long, parsing: .unconditional, help: "Stop after this many epochs without a better validation worst group (0: never).") var patience: Int = TrainingConfig.defaults.patience
    @Option(name: .long, help: "Weight of a loss term, TERM=VALUE (repeatable), e.g. ls=0.5.") var lambda: [String] = []
    @Option(name: .long, parsing: .unconditional, help: "Detection score at which an attribute is present (default: the manifest's detection_threshold, 0.5 without one).") var threshold: Float?
    @Option(name: .long, parsing: .unconditional, help: "Templates sampled per step for L_lc / L_ls (0: all).") var templatesPerStep: Int = TrainingConfig.defaults.templatesPerStep
    @Option(name: .long, help: ArgumentHelp("ours-ls / ours-vs: paper (the paper's formulas) or official (the authors' code: mean-cosine in-modal terms, L_ls as |cos| to the attribute's words, L_vs as cross-entropy over the attribute's value prompts; defaults to --temperature 0.07).", valueName: "form")) var lossForm: TrainingConfig.LossForm = TrainingConfig.defaults.lossForm
    @Option(name: .long, help: ArgumentHelp("Official form: the word of an attribute's absent value, ATTR=WORD (repeatable), e.g. water=land; the prompts are \"a photo of WORD.\".", valueName: "attr=word")) var absentWord: [String] = []
    @Option(name: .long, help: ArgumentHelp("Starting temperature τ of the learnable scale s = 1/τ: a number, or 'pretrained' (the bundle's). Default: pretrained; 0.07 with --loss-form official.", valueName: "tau")) var temperature: String?
    @Option(name: .long, parsing: .unconditional, help: "StarFT: weight λ of the regulariser.") var starLambda: Float = TrainingConfig.defaults.starLambda
    @Option(name: .long, help: "StarFT: linear (λ·(1 − (e+1)/E) in epoch e of E, the authors' schedule) or none.") var starDecay: TrainingConfig.StarDecay = TrainingConfig.defaults.starDecay
    @Option(name: .long, help: "StarFT: file of generic contexts, one per line, instead of the built-in list.") var starContexts: String?
    @Option(name: .long, help: "SFR: inverse (w ∝ 1/(d+ε), the reviewed reading) or exp (w ∝ exp(γ·d)).") var sfrWeight: TrainingConfig.SFRWeighting = TrainingConfig.defaults.sfrWeight
    @Option(name: .long, parsing: .unconditional, help: "SFR: γ of the exp weighting.") var sfrGamma: Float = TrainingConfig.defaults.sfrGamma
    @Option(name: .long, parsing: .unconditional, help: "SFR: feature dropout rate on the pooled image feature.") var sfrDropout: Float = TrainingConfig.defaults.sfrDropout
    @Option(name: .long, parsing: .unconditional, help: "SFR: epochs of the ERM reference model.") var sfrReferenceEpochs: Int = TrainingConfig.defaults.sfrReferenceEpochs

    /// The run's configuration, by the engine's rules (`TrainingSettings`).
    /// With `dropInapplicable`, options that do not apply to `method` (the
    /// loss form and the defaults it brings) are left out instead of
    /// rejected, so `compare` can pass one set to every method.
    func config(method: Method, bundle: String, workspace: Workspace, dropInapplicable: Bool = false,
                opened: FeatureBundle? = nil) throws -> TrainingConfig {
        var s = TrainingSettings(method: method)
        s.attributes = attribute
        s.dropInapplicable = dropInapplicable
        s.base.groundTruth = groundTruth
        s.base.epochs = epochs; s.base.learningRate = lr; s.base.weightDecay = wd; s.base.momentum = momentum
        s.base.batchSize = batchSize; s.base.seed = seed; s.base.patience = patience; s.base.threshold = threshold
        s.base.templatesPerStep = templatesPerStep
        s.base.optimizer = optimizer
        s.base.lossForm = lossForm
        s.sampler = sampler
        s.temperature = try temperature.map { text in
            if text == "pretrained" { return .pretrained }
            guard let t = Float(text) else { throw InputError(file: "--temperature", "'\(text)' is not a number or 'pretrained'") }
            return .value(t)
        }
        for item in absentWord {
            let parts = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw InputError(file: "--absent-word", "'\(item)' is not ATTR=WORD, e.g. water=land")
            }
            s.absentWords[parts[0]] = parts[1]
        }
        s.base.starLambda = starLambda
        s.base.starDecay = starDecay
        s.base.starContexts = try starContexts.map(StarContexts.read)
        s.base.sfrWeight = sfrWeight
        s.base.sfrGamma = sfrGamma
        s.base.sfrDropout = sfrDropout
        s.base.sfrReferenceEpochs = sfrReferenceEpochs
        for item in lambda {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, LossTerm(rawValue: parts[0]) != nil, let v = Float(parts[1]) else {
                throw InputError(file: "--lambda", "'\(item)' is not TERM=VALUE with TERM one of clip, vc, lc, vs, ls, ce, star")
            }
            guard parts[0] != LossTerm.star.rawValue else {
                throw InputError(file: "--lambda", "star's weight is set with --star-lambda (and scheduled with --star-decay)")
            }
            guard v >= 0 && v.isFinite else {
                throw InputError(file: "--lambda", "'\(item)': the weight of \(parts[0]) is \(v), expected a finite number ≥ 0")
            }
            s.base.lambdas[parts[0]] = v
        }
        let built = try s.build(decisions: try workspace.currentDecisions(), bundle: try opened ?? FeatureBundle.open(bundle))
        if built.usesBenchmarkGroups {
            FileHandle.standardError.write(Data("note: no attribute is marked spurious; \(method.rawValue) uses the bundle's benchmark groups (\(built.config.attributes.joined(separator: ", "))). Mark one or pass --attribute to choose.\n".utf8))
        }
        return built.config
    }
}

func parseMethod(_ name: String) throws -> Method {
    guard let m = Method(rawValue: name) else {
        throw InputError(file: "--method", "'\(name)' is not a method (\(Method.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return m
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune the projections with a mitigation method.",
        discussion: """
        Methods: \(Method.allCases.map { "\n  \($0.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \($0.summary)" }.joined())

        Validation runs after every epoch; the checkpoint with the highest validation \
        worst-group accuracy (ties: higher average) is kept. Ctrl-C cancels and keeps the \
        best checkpoint; --resume RUN continues a run that was interrupted or killed.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .long, help: "The method (listed above).") var method: Method = .oursLS
    @Option(name: .long, parsing: .unconditional, help: "Continue this run from its last checkpoint.") var resume: Int64?
    @Flag(name: .long, help: "One JSON line per epoch and a summary line.") var json = false
    @OptionGroup var options: TrainingOptions
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        let b = try FeatureBundle.open(bundle)
        let ws = try workspaceOption.open(bundle: bundle)
        let trainer = try resume.map { try Trainer.resume(bundle: b, run: $0, workspace: ws) }
            ?? Trainer.create(bundle: b, config: options.config(method: method, bundle: bundle, workspace: ws, opened: b), workspace: ws)
        let cancel = CancellationFlag()
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        signal(SIGINT, SIG_IGN)
        interrupt.setEventHandler { cancel.cancel() }
        interrupt.resume()
        let progress = TrainingProgress(json: json, trainer: trainer)
        let outcome: RunOutcome
        do {
            outcome = try trainer.run(cancel: cancel) { progress.handle($0) }
        } catch {
            // The .failed event has been printed; only the exit status is left to give.
            if error is TrainingDiverged {
                FileHandle.standardError.write(Data("  try a smaller --lr than \(trainer.config.learningRate)\n".utf8))
            }
            throw ExitCode(error is InputError || error is SettingError ? 2 : 1)
        }
        progress.summary(outcome)
    }
}

/// Prints a run's events: a progress bar and a line per epoch on a
/// terminal, JSON lines for machines.
final class TrainingProgress {
    let json: Bool
    let trainer: Trainer
    let interactive = isatty(STDERR_FILENO) == 1
    var epochs = 0, stepsPerEpoch = 1, started = Date()

    init(json: Bool, trainer: Trainer) {
        self.json = json
        self.trainer = trainer
    }

    func handle(_ e: TrainingEvent) {
        switch e {
        case .started(let run, let epochs, let steps, let resumed):
            self.epochs = epochs; stepsPerEpoch = steps; started = Date()
            if !json {
                let c = trainer.config
                let attrs = c.attributes.isEmpty ? "" : ", attribute \(c.attributes.joined(separator: " + "))"
                if c.method.replacesClassifier {
                    print("run \(run): \(c.method.rawValue)\(attrs): \(c.method.summary)")
                    return
                }
                let form = c.method.hasLossForm ? ", \(c.lossForm.rawValue) form" : ""
                print("run \(run): \(c.method.rawValue)\(form)\(attrs), \(epochs) epochs × \(steps) steps, lr \(c.learningRate), batch \(c.batchSize), sampler \(c.sampler.rawValue)"
                      + (resumed > 0 ? ", resumed after epoch \(resumed)" : ""))
            }
        case .step(let epoch, let step, let loss):
            guard interactive && !json else { return }
            let within = (step - 1) % stepsPerEpoch + 1
            let width = 24, filled = width * within / stepsPerEpoch
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data(String(format: "\r  epoch %d/%d %@ %d/%d  loss %.4f ", epoch, epochs, bar, within, stepsPerEpoch, loss).utf8))
        case .evaluated(let r):
            if interactive && !json { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json {
                print((try? JSONOutput.line(TrainJSON.Epoch(run: trainer.runID, r))) ?? "{}")
                fflush(nil)
            } else {
                print(String(format: "  epoch %3d  loss %.4f  val average %5.1f%%  worst group %5.1f%% (%@)%@",
                             r.epoch, r.trainLoss, 100 * r.validation.average, 100 * r.validation.worstGroup,
                             r.validation.worstGroupName, r.isBest ? "  ← best" : ""))
            }
        case .sfrWeights(let summary):
            if json {
                print((try? JSONOutput.line(TrainJSON.SFRWeights(run: trainer.runID, summary))) ?? "{}")
            } else {
                print("  " + summary.description)
            }
        case .failed(let run, let message):
            if interactive && !json { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            if json { print((try? JSONOutput.line(TrainJSON.Failed(run: run, message: message))) ?? "{}") }
            FileHandle.standardError.write(Data("error: run \(run) failed: \(message)\n".utf8))
        case .finished, .cancelled:
            break
        }
    }

    func summary(_ o: RunOutcome) {
        let record = (try? trainer.workspace.run(o.run)) ?? nil
        let status = record?.status.rawValue ?? "finished"
        let note = record?.message ?? ""
        if json {
            let line = TrainJSON.Summary(run: o.run, status: status, epochsDone: o.epochsDone, seconds: Date().timeIntervalSince(started),
                                         method: trainer.config.method, usesValGroupLabels: trainer.config.method.usesValidationGroupLabels,
                                         note: note.isEmpty ? nil : note, bestEpoch: o.best?.epoch,
                                         validation: o.best.map { .init(worstGroup: $0.worstGroup, average: $0.average) },
                                         checkpoint: o.bestCheckpoint)
            print((try? JSONOutput.line(line)) ?? "{}")
        } else if let b = o.best {
            print(String(format: "run %lld %@ after %d epochs: best epoch %d, val worst group %.1f%%, average %.1f%%",
                         o.run, status, o.epochsDone, b.epoch, 100 * b.worstGroup, 100 * b.average))
            if !note.isEmpty { print("  \(note)") }
            print("  spurscope eval \(trainer.bundle.directory) --run \(o.run)")
        } else {
            print("run \(o.run) \(status) before its first evaluation")
        }
    }
}

struct EvalCommand: ParsableCommand {
    /// What to say about evaluating a run that did not finish: its best
    /// checkpoint so far is what gets evaluated. nil for a finished run.
    static func unfinishedNote(_ r: RunRecord) -> String? {
        switch r.status {
        case .finished: return nil
        case .running:
            if let pid = r.pid, pid != Int(getpid()), kill(pid_t(pid), 0) == 0 || errno == EPERM {
                return "run \(r.id) is still training (process \(pid)); this is its best checkpoint so far (epoch \(r.bestEpoch.map(String.init) ?? "–"))"
            }
            return "run \(r.id) never finished (interrupted?); this is its best checkpoint (epoch \(r.bestEpoch.map(String.init) ?? "–")); spurscope train --resume \(r.id) continues it"
        case .cancelled: return "run \(r.id) was cancelled; this is its best checkpoint (epoch \(r.bestEpoch.map(String.init) ?? "–"))"
        case .failed: return "run \(r.id) failed (\(r.message)); this is its best checkpoint (epoch \(r.bestEpoch.map(String.init) ?? "–"))"
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Group accuracies, worst group, average and adjusted average, and AIoU of a run or the pre-trained model.",
        discussion: """
        Groups are class × the value of the run's spurious attribute(s), or of --attribute, \
        or by default of the bundle's first ground-truth attribute. Values come from ground \
        truth when the bundle has it, detections otherwise. AIoU needs spatial maps and masks.
        """)

    @Argument(help: "The bundle directory.") var bundle: String
    @Option(name: .customLong("run"), parsing: .unconditional, help: "Evaluate this run's best checkpoint.") var runID: Int64?
    @Flag(name: .long, help: "Evaluate the pre-trained projections.") var zeroshot = false
    @Option(name: .long, help: "train, val or test.") var split: String = "test"
    @Option(name: .long, help: "Group by this attribute (repeatable).") var attribute: [String] = []
    @Flag(name: .long, help: "Skip AIoU (faster).") var noAiou = false
    @Flag(name: .long, help: "One JSON object.") var json = false
    @OptionGroup var workspaceOption: WorkspaceOption

    func run() throws {
        guard (runID == nil) == zeroshot else { throw InputError(file: "eval", "give exactly one of --run RUN and --zeroshot") }
        guard let s = Split(rawValue: split) else { throw InputError(file: "--split", "'\(split)' is not train, val or test") }
        let b = try FeatureBundle.open(bundle)
        let ws = try workspaceOption.openIfPresent(bundle: bundle)
        var config = TrainingConfig(method: .zeroshot)
        var note: String?
        if let run = runID {
            guard let ws else { throw InputError(file: "--run", "there is no workspace at \(Workspace.location(bundle: bundle, directory: workspaceOption.workspace))") }
            config = try RunCheckpoints.config(run: run, workspace: ws)
            note = try ws.run(run).flatMap { Self.unfinishedNote($0) }
        }
        let method = config.method
        let decisions = try ws?.currentDecisions() ?? []
        // Groups: --attribute, else the run's, else the engine's default (marked spurious, else the benchmark groups).
        config.attributes = GroupAssignment.runAttributes(given: attribute.isEmpty ? config.attributes : attribute,
                                                          decisions: decisions, bundle: b)
        config.method = .zeroshot   // evaluation needs no attribute requirement of the method
        let data = try TrainingData.prepare(bundle: b, config: config, decisions: decisions)
        if let note { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        let splitData = s == .train ? data.train : s == .val ? data.val : data.test
        let classifier = try runID.map {
            try RunCheckpoints.bestClassifier(run: $0, workspace: ws!, like: data.pretrained, classTemplates: data.classTemplates,
                                              templateCount: data.templateCount)
        } ?? Evaluation.classifier(data.pretrained, data: data)
        let m = try Evaluation.metrics(classifier, data: data, split: splitData, bundle: noAiou ? nil : b)
        let source = data.evaluationFromGroundTruth ? "ground truth" : "detections"
        if json {
            print(try JSONOutput.line(TrainJSON.Evaluation(
                model: runID.map { "run \($0)" } ?? "zeroshot", method: method, usesValGroupLabels: method.usesValidationGroupLabels,
                note: OrNull(note), split: split, attributes: config.attributes, groupsFrom: source,
                average: m.average, adjustedAverage: m.adjustedAverage, worstGroup: m.worstGroup, worstGroupName: m.worstGroupName,
                aiouAverage: OrNull(m.aiouAverage), aiouWorstGroup: OrNull(m.aiouWorstGroup),
                groups: m.groups.map { .init(group: $0.name, n: $0.total, accuracy: $0.accuracy, aiou: OrNull($0.aiou)) })))
            return
        }
        print("\(runID.map { "run \($0) (\(method.rawValue))" } ?? "pre-trained (zero-shot)") on \(split): groups by \(config.attributes.joined(separator: " + ")) (\(source))")
        if method.usesValidationGroupLabels { print("note: \(method.rawValue) fitted its classifier on the val split's group labels") }
        let width = max(20, m.groups.map(\.name.count).max() ?? 0)
        print("group".padding(toLength: width, withPad: " ", startingAt: 0) + "      n   accuracy" + (m.aiouAverage == nil ? "" : "   AIoU"))
        for g in m.groups {
            print(g.name.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %6d   %7.1f%%", g.total, 100 * g.accuracy)
                  + (g.aiou.map { String(format: "   %.3f", $0) } ?? ""))
        }
        print(String(format: "average %.1f%%, adjusted average %.1f%%, worst group %.1f%% (%@)",
                     100 * m.average, 100 * m.adjustedAverage, 100 * m.worstGroup, m.worstGroupName))
        if let a = m.aiouAverage, let w = m.aiouWorstGroup { print(String(format: "AIoU average %.3f, worst group %.3f", a, w)) }
    }
}

/// `train --json` and `eval --json`, one type per line kind.
enum TrainJSON {
    struct Epoch: Encodable {
        var event = "epoch"
        var run: Int64, epoch: Int, step: Int, trainLoss: Double
        var valAverage: Double, valWorstGroup: Double, valWorstGroupName: String
        var best: Bool, bestEpoch: Int, seconds: Double

        init(run: Int64, _ r: EpochReport) {
            self.run = run; epoch = r.epoch; step = r.step; trainLoss = r.trainLoss
            valAverage = r.validation.average; valWorstGroup = r.validation.worstGroup
            valWorstGroupName = r.validation.worstGroupName
            best = r.isBest; bestEpoch = r.bestEpoch; seconds = r.seconds
        }
    }

    struct SFRWeights: Encodable {
        var event = "sfr_weights"
        var run: Int64, weighting: TrainingConfig.SFRWeighting
        var disagreementQuantiles: [Float], weightMin: Float, weightMax: Float

        init(run: Int64, _ s: SFRWeightSummary) {
            self.run = run; weighting = s.weighting
            disagreementQuantiles = s.disagreement; weightMin = s.weightMin; weightMax = s.weightMax
        }
    }

    struct Failed: Encodable {
        var event = "failed"
        var run: Int64, message: String
    }

    struct Summary: Encodable {
        struct Validation: Encodable { var worstGroup: Double, average: Double }
        var event = "summary"
        var run: Int64, status: String, epochsDone: Int, seconds: Double, method: Method, usesValGroupLabels: Bool
        var note: String?, bestEpoch: Int?, validation: Validation?, checkpoint: String?
    }

    struct Evaluation: Encodable {
        struct Group: Encodable { var group: String, n: Int, accuracy: Double, aiou: OrNull<Double> }
        var model: String, method: Method, usesValGroupLabels: Bool, note: OrNull<String>, split: String
        var attributes: [String], groupsFrom: String
        var average: Double, adjustedAverage: Double, worstGroup: Double, worstGroupName: String
        var aiouAverage: OrNull<Double>, aiouWorstGroup: OrNull<Double>
        var groups: [Group]
    }
}
