import XCTest
@testable import SpurCLIP

final class CLIPLayoutTests: XCTestCase {
    func testLayoutNamesAreTheManifestSpelling() {
        XCTAssertEqual(CLIPLayout(rawValue: "hf"), .huggingFace)
        XCTAssertEqual(CLIPLayout(rawValue: "openai"), .openAI)
        XCTAssertNil(CLIPLayout(rawValue: "open_clip"))
    }
}
