import Deblur
import Foundation
import Identity
import Logging
import WatchService

/// Where mtrnn-watch chooses its image pipeline: the deblur pipeline with
/// the configured settings, or (for the daemon's own tests only) a test
/// processor named by $MTRNN_WATCH_TEST_PROCESSOR. Throwing makes the
/// daemon exit before READY=1, so systemd sees a failed start.
enum ProcessorFactory {
    static func make(_ config: WatchConfig, logger: Logger) async throws -> any PhotoProcessor {
        let env = ProcessInfo.processInfo.environment
        if let test = testProcessor(env) { return test }
        var options = config.pipeline
        options.weights = resolveWeights(options.weights, environment: env)
        let processor = try DeblurProcessor(options: options)
        logger.info("model loaded: \(processor.modelDescription) from \(options.weights.path)\(processor.weights.map { " (sha256 \($0.sha256))" } ?? "")")
        return processor
    }

    /// The configured weights; when that is the built-in default and absent
    /// (the daemon started outside the checkout), the shipped file found next
    /// to the executable or through $MTRNN_WEIGHTS.
    static func resolveWeights(_ configured: URL, environment: [String: String]) -> URL {
        if configured == WatchConfig().pipeline.weights, !FileManager.default.fileExists(atPath: configured.path),
           let found = WeightsLocator.locate(executable: WeightsLocator.currentExecutable(), environment: environment) {
            return found
        }
        return configured
    }

    /// For the daemon's integration tests only:
    /// MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS (a slow copy with progress) or
    /// hang (never progresses, to trip the watchdog), or photoio[:MEGAPIXELS]
    /// (PhotoIO decode + encode without the network: the reliability tests),
    /// or spin:SECONDS (holds a core that long: the cluster benchmark), or
    /// overlap:SECONDS (a copy in three stages that takes two photos at
    /// once, as the deblur pipeline does: the tests of `overlap_photos`).
    /// Any of them aborts the daemon on a file that starts with
    /// "MTRNN-TEST-CRASH": the crash-loop tests' photo of death.
    static func testProcessor(_ env: [String: String]) -> (any PhotoProcessor)? {
        guard let spec = env["MTRNN_WATCH_TEST_PROCESSOR"] else { return nil }
        return testProcessor(spec).map(CrashOnMarker.init)
    }

    /// Aborts, as a decoder bug would, on the marker; otherwise the wrapped processor.
    struct CrashOnMarker: PhotoProcessor {
        let inner: any PhotoProcessor
        var modelDescription: String { inner.modelDescription }
        var weights: WeightsIdentity? { inner.weights }
        var overlapsPhotos: Bool { inner.overlapsPhotos }
        func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
            if let h = FileHandle(forReadingAtPath: input.path) {
                let head = h.readData(ofLength: 16)
                try? h.close()
                if head == Data("MTRNN-TEST-CRASH".utf8) { abort() }
            }
            return try await inner.process(input: input, progress: progress)
        }
    }

    private static func testProcessor(_ spec: String) -> (any PhotoProcessor)? {
        if spec.hasPrefix("photoio") {
            return PhotoIOTestProcessor(maxMegapixels: Double(spec.split(separator: ":").dropFirst().first ?? "") ?? 100)
        }
        if spec.hasPrefix("overlap") {
            return OverlapTestProcessor(seconds: Double(spec.split(separator: ":").dropFirst().first ?? "") ?? 1,
                                        logPath: ProcessInfo.processInfo.environment["MTRNN_WATCH_TEST_OVERLAP_LOG"])
        }
        if spec.hasPrefix("spin") {
            return SpinTestProcessor(seconds: Double(spec.split(separator: ":").dropFirst().first ?? "") ?? 1)
        }
        if spec == "hang" { return CopyProcessor(delayPerPhoto: .seconds(3600), steps: 1) }
        let seconds = Double(spec.split(separator: ":").dropFirst().first ?? "0") ?? 0
        return CopyProcessor(delayPerPhoto: .milliseconds(Int64(seconds * 1000)), steps: 10)
    }
}
