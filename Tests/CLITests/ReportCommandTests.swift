import Foundation
import Testing
import SpurCore
import SpurEngine

/// `spurscope report`: the page rendered for the sample bundle after a short
/// run, opened in headless Chromium (required: a missing browser fails).
@Suite(.serialized) struct ReportCommandTests {
    static let chromium = "/usr/bin/chromium"

    static func scratch(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-cli-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        return dir
    }

    /// One workspace with a verdict and a 3-epoch run, and its report.
    static let rendered: Result<(bundle: String, workspace: String, out: String), Error> = Result {
        let bundle = try SampleData.bundle(), ws = scratch("ws"), out = scratch("out")
        let m = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "waterbird", "--attribute", "land",
                                   "--verdict", "spurious", "--note", "background <not> the \"bird\" & co"])
        guard m.status == 0 else { throw InputError(file: "mark", m.stderr) }
        let t = try CLIRunner.run(["train", bundle, "--method", "erm", "--epochs", "3", "--workspace", ws])
        guard t.status == 0 else { throw InputError(file: "train", t.stderr) }
        let r = try CLIRunner.run(["report", bundle, "--workspace", ws, "--out", out, "--examples-per-group", "3"])
        guard r.status == 0 else { throw InputError(file: "report", r.stderr) }
        return (bundle, ws, out)
    }

    static func chromiumRun(_ arguments: [String]) throws -> String {
        #expect(FileManager.default.isExecutableFile(atPath: chromium), "\(chromium) is missing: `make deps` installs it")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium)
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                       "--virtual-time-budget=5000"] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    static func matches(_ pattern: String, in text: String) throws -> [[String]] {
        let re = try NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
        return re.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { m in
            (0..<m.numberOfRanges).map { i in Range(m.range(at: i), in: text).map { String(text[$0]) } ?? "" }
        }
    }

    @Test func thePageLoadsInChromiumWithItsTablesAndEveryImage() throws {
        let (_, _, out) = try Self.rendered.get()
        let index = out + "/index.html"
        // Every <img> reports itself: complete with a width, or broken.
        let probe = out + "/probe.html"
        let html = try String(contentsOfFile: index, encoding: .utf8)
        try html.replacingOccurrences(of: "</body>", with: """
            <script>addEventListener('load', () => { for (const i of document.images)
              i.setAttribute('data-loaded', i.complete && i.naturalWidth > 0 ? 'yes' : 'broken'); });</script></body>
            """).write(toFile: probe, atomically: true, encoding: .utf8)
        let dom = try Self.chromiumRun(["--dump-dom", "file://" + probe])
        #expect(dom.contains("id=\"provenance\"") && dom.contains("class=\"triage\"") && dom.contains("class=\"verdicts\"")
                && dom.contains("class=\"groups\""), "tables missing from the DOM")
        let images = try Self.matches("<img [^>]*>", in: dom).map { $0[0] }
        #expect(images.count >= 4)
        #expect(images.allSatisfy { $0.contains("data-loaded=\"yes\"") }, "broken: \(images.filter { !$0.contains("data-loaded=\"yes\"") })")
        // Data strings are escaped, never markup.
        #expect(html.contains("background &lt;not&gt; the &quot;bird&quot; &amp; co"))
        #expect(!html.contains("<not>"))

        let shot = out + "/../report-shot-\(getpid()).png"
        try? FileManager.default.removeItem(atPath: shot)
        _ = try Self.chromiumRun(["--screenshot=" + shot, "--window-size=1200,2000", "file://" + index])
        let picture = try ImageFile.read(path: shot)
        #expect(picture.width == 1200 && picture.height == 2000)
    }

    @Test func overlaysMatchTheCamMapAndCurvesHaveOnePointPerEpoch() throws {
        let (bundle, _, out) = try Self.rendered.get()
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        let b = try FeatureBundle.open(bundle)
        let figures = try Self.matches("<figure data-example=\"([^\"]+)\"><img src=\"([^\"]+)\"[^>]*><img class=\"cam\" src=\"([^\"]+)\"", in: html)
        #expect(figures.count >= 2)
        for f in figures.prefix(2) {
            let r = try CLIRunner.run(["cam", bundle, "--example", f[1], "--json"])
            #expect(r.status == 0, "\(r.stderr)")
            let o = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
            let grid = try #require(o["grid"] as? [[Double]])
            let e = try #require(b.examples.firstIndex { $0.id == f[1] })
            let image = try ImageFile.read(path: b.resolve(b.examples[e].image))
            let heat = GradCAM.upsampled(grid.flatMap { $0.map(Float.init) }, gridHeight: grid.count, gridWidth: grid[0].count,
                                         width: image.width, height: image.height)
            let expected = TerminalArt.overlay(image, heat: heat, alpha: 0.45, colormap: TerminalArt.inferno)
            let written = try ImageFile.read(path: out + "/" + f[3])
            #expect(written.width == expected.width && written.height == expected.height)
            let worst = zip(written.pixels, expected.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 255
            #expect(worst <= 2, "overlay of \(f[1]) differs from cam's map by \(worst)")
            #expect(try ImageFile.read(path: out + "/" + f[2]) == image)
        }
        let polylines = try Self.matches("<polyline class=\"series\"[^>]*points=\"([^\"]*)\"", in: html)
        #expect(polylines.count == 3)
        for p in polylines { #expect(p[1].split(separator: " ").count == 3) }
        #expect(html.contains("best epoch"))
    }

    /// Before and after are the pre-trained model and the run's best
    /// checkpoint on the test split, as `eval --zeroshot` and `eval --run` give them.
    @Test func beforeAndAfterAreEvalsTestGroups() throws {
        let (bundle, ws, out) = try Self.rendered.get()
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(html.contains("Per-group accuracy on split test"))
        func groups(_ args: [String]) throws -> [String: Double] {
            let r = try CLIRunner.run(["eval", bundle, "--workspace", ws, "--json", "--no-aiou"] + args)
            #expect(r.status == 0, "\(r.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            let rows = object?["groups"] as? [[String: Any]] ?? []
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["group"] as! String, $0["accuracy"] as! Double) })
        }
        let before = try groups(["--zeroshot", "--attribute", "land"]), after = try groups(["--run", "1"])
        #expect(!after.isEmpty)
        for (name, accuracy) in after {
            let row = try #require(try Self.matches("<tr><td>\(NSRegularExpression.escapedPattern(for: name))</td><td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>", in: html).first, "\(name)")
            #expect(row[1] == String(format: "%.1f %%", 100 * before[name]!) || row[1] == String(format: "%.1f%%", 100 * before[name]!), "\(name) before: \(row[1])")
            #expect(row[2] == String(format: "%.1f %%", 100 * accuracy) || row[2] == String(format: "%.1f%%", 100 * accuracy), "\(name) after: \(row[2])")
        }
    }

    @Test func anEmptyWorkspaceSaysSoInsteadOfLeavingHoles() throws {
        let bundle = try SampleData.bundle(), out = Self.scratch("empty")
        let r = try CLIRunner.run(["report", bundle, "--workspace", Self.scratch("ws-empty"), "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(html.contains("No training runs in the workspace"))
        #expect(html.contains("No verdicts recorded in the workspace yet"))
        #expect(html.contains("No attribute is marked spurious"))
    }

    @Test func aBundleWithoutSpatialMapsSaysSoWhereTheOverlaysWouldBe() throws {
        let bundle = try NonSquareBundle.write("report-nospatial") { $0.spatial = nil }
        let ws = Self.scratch("ws-nospatial"), out = Self.scratch("nospatial")
        let m = try CLIRunner.run(["mark", bundle, "--workspace", ws, "--class", "waterbird", "--attribute", "land", "--verdict", "spurious"])
        #expect(m.status == 0, "\(m.stderr)")
        let r = try CLIRunner.run(["report", bundle, "--workspace", ws, "--out", out])
        #expect(r.status == 0, "\(r.stderr)")
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(html.contains("has no spatial maps"))
        #expect(!html.contains("<img"))
    }

    @Test func anExistingOutNeedsForceAndAnUnwritablePathExits2NamingIt() throws {
        let bundle = try SampleData.bundle(), out = Self.scratch("exists"), ws = Self.scratch("ws-exists")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let r = try CLIRunner.run(["report", bundle, "--workspace", ws, "--out", out])
        #expect(r.status == 2 && r.stderr.contains(out) && r.stderr.contains("--force"), "\(r.stderr)")
        let forced = try CLIRunner.run(["report", bundle, "--workspace", ws, "--out", out, "--force"])
        #expect(forced.status == 0 && FileManager.default.fileExists(atPath: out + "/index.html"), "\(forced.stderr)")
        let missing = "/nonexistent-\(getpid())/deeper"
        let u = try CLIRunner.run(["report", bundle, "--workspace", ws, "--out", missing + "/report"])
        #expect(u.status == 2 && u.stderr.contains(missing), "\(u.stderr)")
    }
}
