import Foundation
import Logging
import WatchService

/// THE place where mtrnn-watch chooses its image pipeline. Wire the Deblur
/// pipeline in here (load the weights named by `config.weights` with
/// `config.iterations`, `config.precision`, `config.tile`, `config.overlap`,
/// `config.jpegQuality`, `config.maxMegapixels`); throwing makes the daemon exit
/// before READY=1, so systemd sees a failed start.
enum ProcessorFactory {
    static func make(_ config: WatchConfig, logger: Logger) async throws -> any PhotoProcessor {
        if let test = testProcessor(ProcessInfo.processInfo.environment) { return test }
        logger.warning("no deblur pipeline linked: photos are copied unchanged (CopyProcessor)")
        return CopyProcessor()
    }

    /// For the integration tests only, and kept when the real pipeline is wired in:
    /// MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS (a slow copy with progress) or
    /// hang (never progresses, to trip the watchdog), or photoio[:MEGAPIXELS]
    /// (PhotoIO decode + encode without the network: the reliability tests).
    static func testProcessor(_ env: [String: String]) -> (any PhotoProcessor)? {
        guard let spec = env["MTRNN_WATCH_TEST_PROCESSOR"] else { return nil }
        if spec.hasPrefix("photoio") {
            return PhotoIOTestProcessor(maxMegapixels: Double(spec.split(separator: ":").dropFirst().first ?? "") ?? 100)
        }
        if spec == "hang" { return CopyProcessor(delayPerPhoto: .seconds(3600), steps: 1) }
        let seconds = Double(spec.split(separator: ":").dropFirst().first ?? "0") ?? 0
        return CopyProcessor(delayPerPhoto: .milliseconds(Int64(seconds * 1000)), steps: 10)
    }
}
