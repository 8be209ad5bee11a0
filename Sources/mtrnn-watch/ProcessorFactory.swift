import Foundation
import Logging
import WatchService
import Deblur

/// THE place where mtrnn-watch chooses its image pipeline. Wire the Deblur
/// pipeline in here (load the weights named by `config.weights` with
/// `config.iterations`, `config.precision`, `config.tile`, `config.overlap`,
/// `config.jpegQuality`, `config.maxMegapixels`); throwing makes the daemon exit
/// before READY=1, so systemd sees a failed start.
enum ProcessorFactory {
    static func make(_ config: WatchConfig, logger: Logger) async throws -> any PhotoProcessor {
        let env = ProcessInfo.processInfo.environment
        if let test = testProcessor(env) { return test }
        let weights = resolveWeights(config.weights, environment: env)
        let processor = try DeblurProcessor(config: config, weights: weights)
        logger.info("model loaded: \(processor.modelDescription) from \(weights.path)")
        return processor
    }

    /// The configured weights; when that is the built-in default and absent
    /// (the daemon started outside the checkout), the shipped file found next
    /// to the executable or through $MTRNN_WEIGHTS.
    static func resolveWeights(_ configured: String, environment: [String: String]) -> URL {
        let url = URL(fileURLWithPath: configured)
        if configured == WatchConfig().weights, !FileManager.default.fileExists(atPath: url.path),
           let found = WeightsLocator.locate(executable: WeightsLocator.currentExecutable(), environment: environment) {
            return found
        }
        return url
    }

    /// For the integration tests only, and kept when the real pipeline is wired in:
    /// MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS (a slow copy with progress) or
    /// hang (never progresses, to trip the watchdog), or photoio[:MEGAPIXELS]
    /// (PhotoIO decode + encode without the network: the reliability tests).
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
        func process(input: URL, progress: @Sendable (ProcessingProgress) -> Void) async throws -> ProcessedPhoto {
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
        if spec == "hang" { return CopyProcessor(delayPerPhoto: .seconds(3600), steps: 1) }
        let seconds = Double(spec.split(separator: ":").dropFirst().first ?? "0") ?? 0
        return CopyProcessor(delayPerPhoto: .milliseconds(Int64(seconds * 1000)), steps: 10)
    }
}
