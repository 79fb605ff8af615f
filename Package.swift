// swift-tools-version:6.0
import PackageDescription

// Layout and dependency direction: see docs/DESIGN.md ("Layout").
// spurscope → SpurTUI → SpurAudit → SpurEngine → SpurCore → C targets; SpurSynth and SpurCLIP beside.
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "spurscope",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "spurscope", targets: ["spurscope"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CNcursesw", providers: [.apt(["libncursesw5-dev"])]),
        .systemLibrary(name: "CMalloc"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // libjpeg reports errors by longjmp, which Swift cannot host: the
        // decoder's error path lives in this small C target.
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // The same for reading PNG with libpng's full API (writing uses the
        // simplified one, through CPNG).
        .target(name: "CPNGDecode", linkerSettings: [.linkedLibrary("png16")]),

        // The numerical modules are loop-heavy Swift (rendering, encoding,
        // softmax rows): optimised even in debug builds, so the test suite
        // and `make demo` run at release speed.
        .target(name: "SpurCore", dependencies: [
            "CBLAS", "CPNG", "CPNGDecode", "CJPEG", "CSQLite", "CZlib", "CCrypto",
            .product(name: "CSV", package: "CSV.swift"),
        ], swiftSettings: optimisedInDebug),
        .target(name: "SpurEngine", dependencies: ["SpurCore", "CBLAS"], swiftSettings: optimisedInDebug),
        // CLIP's tokenizer and towers, natively on BLAS (inference only: the
        // encoders are frozen). On SpurCore; the front ends hand it to the
        // bundle as its live text encoder.
        .target(name: "SpurCLIP", dependencies: ["SpurCore", "CBLAS", "CZlib", "CCrypto", "CSQLite"], swiftSettings: optimisedInDebug),
        .target(name: "SpurAudit", dependencies: ["SpurEngine", "SpurCore"], swiftSettings: optimisedInDebug),
        // What the screens read from bundle + workspace (no drawing, no ncurses):
        // shared by SpurTUI and SpurReport so the page and the UI show one computation.
        .target(name: "SpurSnapshot", dependencies: ["SpurAudit", "SpurEngine", "SpurCore"]),
        // `spurscope report`: HTML / SVG / PNG from SpurSnapshot's values.
        .target(name: "SpurReport", dependencies: ["SpurSnapshot", "SpurAudit", "SpurEngine", "SpurCore"]),
        .target(name: "SpurTUI", dependencies: ["CNcursesw", "SpurSnapshot", "SpurAudit", "SpurEngine", "SpurCore",
                                              .product(name: "TOMLKit", package: "TOMLKit")]),
        .target(name: "SpurSynth", dependencies: ["SpurEngine", "SpurCore"], swiftSettings: optimisedInDebug),
        .executableTarget(name: "spurscope", dependencies: [
            "CMalloc", "SpurCore", "SpurEngine", "SpurAudit", "SpurSynth", "SpurTUI", "SpurReport", "SpurCLIP",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "SpurCoreTests", dependencies: ["SpurCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "SpurEngineTests", dependencies: ["SpurEngine", "SpurCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "SpurAuditTests", dependencies: ["SpurAudit", "SpurEngine", "SpurCore"]),
        .testTarget(name: "SpurTUITests", dependencies: ["SpurTUI", "SpurAudit", "SpurEngine", "SpurCore"]),
        .testTarget(name: "SpurCLIPTests", dependencies: ["SpurCLIP", "SpurCore"]),
        .testTarget(name: "SpurSynthTests", dependencies: ["SpurSynth", "SpurEngine", "SpurCore"]),
        // Runs the real binary; depends on it so `swift test` builds it first.
        .testTarget(name: "CLITests", dependencies: ["spurscope", "SpurCore", "SpurEngine"],
                    // Read from the source tree by FuzzCaseTests (tools/fuzz writes them).
                    exclude: ["FuzzCases"]),
    ]
)
