import Foundation
import Testing
@testable import SpurTUI

/// Issue 22 item 6: `ready` over the caption of one image and the picture
/// of another. A render finished (its runner idle) before the UI thread had
/// taken its result from the inbox, and the status bar already said `ready`
/// over the previous example. These tests stop at exactly that moment.
@Suite(.serialized)
struct PreviewReadyTests {
    /// Waits until a preview runner has finished, without delivering its result.
    static func renderFinished(_ app: App, _ runner: KeyPath<App, JobRunner> = \.previewJobs) throws {
        let deadline = Date().addingTimeInterval(30)
        while app[keyPath: runner].busy {
            guard Date() < deadline else { throw SettleTimedOut(seconds: 30) }
            Thread.sleep(forTimeInterval: 0.002)
        }
    }

    /// The status bar's right end: `ready` or `working…`.
    static func saysReady(_ app: App) -> Bool {
        Views.render(app, width: 120, height: 40).line(39).trimmingCharacters(in: .whitespaces).hasSuffix("ready")
    }

    @Test func readyWaitsForTheRenderOfTheSelectedExample() throws {
        let app = try AppTests.app()
        app.handle(.character("2"))
        try app.settle()
        let examples = app.model.bundle.examples
        for _ in 0..<8 {
            let before = try #require(app.preview.currentExample())
            app.handle(.character("j"))
            let selected = try #require(app.preview.currentExample())
            #expect(selected != before)
            try Self.renderFinished(app)
            // The result is in the inbox, not on screen: not ready, and no
            // caption of the example the selection left.
            let waiting = Views.render(app, width: 120, height: 40).text
            #expect(!Self.saysReady(app), "\(waiting)")
            #expect(!waiting.contains("\(examples[before].id):") && waiting.contains("rendering…"), "\(waiting)")
            try app.settle()
            let shown = Views.render(app, width: 120, height: 40).text
            #expect(Self.saysReady(app), "\(shown)")
            #expect(shown.contains("\(examples[selected].id): "), "\(shown)")
            #expect(app.preview.state.current?.example == selected)
        }
    }

    /// Several moves before any render is back (latest wins): whenever the
    /// screen says `ready`, its caption is the selected example's.
    @Test func quickStepsNeverShowAnotherExampleAsReady() throws {
        let app = try AppTests.app()
        app.handle(.character("2"))
        try app.settle()
        let examples = app.model.bundle.examples
        var readyFrames = 0
        for burst in 1...4 {
            for _ in 0..<burst { app.handle(.character("j")) }
            let selected = try #require(app.preview.currentExample())
            let deadline = Date().addingTimeInterval(30)
            while true {
                app.drain()
                let screen = Views.render(app, width: 120, height: 40).text
                if Self.saysReady(app) {
                    readyFrames += 1
                    #expect(screen.contains("\(examples[selected].id): "), "\(screen)")
                    break
                }
                guard Date() < deadline else { throw SettleTimedOut(seconds: 30) }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
        #expect(readyFrames == 4)
    }

    /// The same on screen 4 while browsing a group: the two models' maps of
    /// the example the selection left are not drawn under the new row.
    @Test func groupBrowsingShowsOnlyTheSelectedExamplesMaps() throws {
        let app = try AppTests.app()
        app.handle(.character("4"))
        try app.settle()
        app.handle(.enter)
        try app.settle()
        #expect(app.groups.state.previews.a != nil)
        for _ in 0..<4 {
            app.handle(.character("j"))
            try Self.renderFinished(app, \.groupPreviewJobs)
            let waiting = Views.render(app, width: 120, height: 40).text
            #expect(!Self.saysReady(app) && waiting.contains("rendering…") && !waiting.contains("A pre-trained →"), "\(waiting)")
            try app.settle()
            let shown = Views.render(app, width: 120, height: 40).text
            #expect(Self.saysReady(app) && shown.contains("A pre-trained →"), "\(shown)")
        }
    }
}
