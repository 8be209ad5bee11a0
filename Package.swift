// swift-tools-version:6.0
// mtrnn-watch: a Linux daemon that deblurs photos with MT-RNN (Park et al., ECCV 2020).
//
// Layers: a module imports only the modules below it, that is the ones named
// after its arrow and, in turn, everything below those (the system modules
// Foundation, Glibc, Dispatch and Synchronization are open to all).
// scripts/check-layers.sh reads this list and checks every `import` in
// Sources/ against it (tests are exempt); a new module needs a line here.
//   mtrnn-watch   -> ClusterService WatchService ArgumentParser
//   mtrnnctl      -> Deblur WatchControl ClusterQueue ArgumentParser
//   ClusterService -> WatchService ClusterQueue
//   WatchService  -> Deblur WatchControl CSystemd Logging
//   ClusterQueue  -> WatchControl PostgresNIO NIOCore NIOPosix NIOSSL Logging
//   WatchControl  -> DurableFiles
//   Deblur        -> PhotoIO MTRNN Identity
//   DurableFiles  -> CDurableFiles
//   PhotoIO       -> CImageCodecs CLCMS
//   MTRNN         -> CDNNL CWinograd
//   Identity CDurableFiles CImageCodecs CLCMS CWinograd CDNNL CSystemd Logging ArgumentParser -> nothing
//   PostgresNIO NIOCore NIOPosix NIOSSL -> nothing
// In short: Identity (the version, SHA-256), C shims < DurableFiles, PhotoIO, MTRNN < Deblur, WatchControl <
// WatchService < mtrnn-watch; mtrnnctl stands on Deblur and WatchControl.
// The shared PostgreSQL queue (queue = postgresql://...) lives in ClusterQueue
// (schema, claims, leases, the cluster status) and ClusterService (the worker
// and watcher roles); with queue = inbox neither is entered, nothing connects.
// So mtrnnctl never loads WatchService (inotify, the journal, libsystemd), and
// durable file operations (DurableFiles) need nothing but libc.
import PackageDescription

let package = Package(
    name: "mtrnn-watch",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "mtrnn-watch", targets: ["mtrnn-watch"]),
        .executable(name: "mtrnnctl", targets: ["mtrnnctl"]),
        .library(name: "MTRNN", targets: ["MTRNN"]),
        .library(name: "PhotoIO", targets: ["PhotoIO"]),
        .library(name: "Deblur", targets: ["Deblur"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // System libraries and the C shims: only what Swift cannot call itself.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL"),
        // Little CMS 2 and zlib: colour profiles (PhotoIO's ColourProfile).
        .systemLibrary(name: "CLCMS", path: "Sources/CLCMS", pkgConfig: "lcms2",
                       providers: [.apt(["liblcms2-dev"])]),
        .systemLibrary(name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
                       providers: [.apt(["libsystemd-dev"])]),
        .target(name: "CImageCodecs",
                path: "Sources/CImageCodecs",
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("tiff")]),

        // Winograd 3x3 kernels: AVX2 code only inside functions marked for it
        // (checked at run time), and optimised even in debug builds so the
        // tests do not crawl.
        .target(name: "CWinograd", path: "Sources/CWinograd", cSettings: [.unsafeFlags(["-O2"])]),

        // renameat2(RENAME_NOREPLACE) for DurableFiles: libc only, no libsystemd.
        .target(name: "CDurableFiles", path: "Sources/CDurableFiles"),

        // Durable file operations, the one owner of them: temp + fsync + rename,
        // folder fsync, exclusive create, rename without replacing, descriptor-
        // relative folders that never follow links, copying, the errno error.
        .target(name: "DurableFiles", dependencies: ["CDurableFiles"]),
        .target(name: "PhotoIO", dependencies: ["CImageCodecs", "CLCMS"]),
        .target(name: "MTRNN", dependencies: ["CDNNL", "CWinograd"]),
        // The release's version and the weights' SHA-256: below everything, so every layer names them.
        // Optimised even in debug builds (as CWinograd): hashing the weights at every start must not crawl.
        .target(name: "Identity", swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Deblur", dependencies: ["PhotoIO", "MTRNN", "Identity"]),
        // The control socket's protocol, client and status report: what mtrnnctl needs of the daemon.
        .target(name: "WatchControl", dependencies: ["DurableFiles"]),
        .target(name: "WatchService", dependencies: [
            "Deblur", "PhotoIO", "DurableFiles", "WatchControl", "CSystemd", "Identity",
            .product(name: "Logging", package: "swift-log"),
        ]),

        // The shared queue in PostgreSQL: schema and migrations, claims under
        // a lease, the cluster status (issue 20). Only entered when
        // `queue = postgresql://...`.
        .target(name: "ClusterQueue", dependencies: [
            "WatchControl",
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The watcher and worker roles of a daemon on a shared queue.
        .target(name: "ClusterService", dependencies: ["WatchService", "ClusterQueue", "DurableFiles", "Deblur"]),

        .executableTarget(name: "mtrnn-watch", dependencies: [
            "WatchService", "ClusterService", "ClusterQueue", "Deblur", "MTRNN", "PhotoIO", "Identity",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "mtrnnctl", dependencies: [
            "WatchControl", "ClusterQueue", "DurableFiles", "Deblur", "MTRNN", "PhotoIO", "Identity",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // What the test targets share (one process launcher); no product code.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MTRNNTests", dependencies: ["MTRNN", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PhotoIOTests", dependencies: ["PhotoIO", "MTRNN", "TestSupport"],
                    exclude: ["make_fixtures.py", "make_tiff_fixtures.py"]),
        .testTarget(name: "DeblurTests", dependencies: ["Deblur", "MTRNN", "PhotoIO", "Identity"],
                    exclude: ["make_blur_extent_fixtures.py", "BlurExtentFixtures"]),
        .testTarget(name: "DurableFilesTests", dependencies: ["DurableFiles"]),
        .testTarget(name: "WatchServiceTests", dependencies: ["WatchService", "WatchControl", "DurableFiles", "PhotoIO", "Deblur",
                                                               "Identity", "TestSupport"]),
        .testTarget(name: "ClusterQueueTests", dependencies: ["ClusterQueue", "ClusterService", "WatchService"]),
        .testTarget(name: "CLITests", dependencies: ["PhotoIO", "TestSupport"]),
    ]
)

// Strict settings for every target of ours, in one place (as swift-log does).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
