import Foundation
import PhotoIO
import WatchService

/// MTRNN_WATCH_TEST_PROCESSOR=photoio[:MEGAPIXELS]: the real pipeline's decode
/// and encode (PhotoIO, metadata carried) with the network left out, so the
/// reliability tests see exactly the failures a bad photo causes in the daemon
/// (declined kinds, truncation, pixel bombs) without weights or minutes of CPU.
struct PhotoIOTestProcessor: PhotoProcessor {
    var maxMegapixels: Double

    var modelDescription: String { "PhotoIO round trip (test processor, no deblurring)" }

    func process(input: URL, progress: @Sendable (ProcessingProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        progress(ProcessingProgress(fractionDone: 0, tilesDone: 0, tilesTotal: 1))
        let image = try PhotoIO.decode(contentsOf: input, maxPixels: Int(maxMegapixels * 1_000_000))
        try Task.checkCancellation()
        progress(ProcessingProgress(fractionDone: 0.5, tilesDone: 1, tilesTotal: 1))
        let bytes = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "mtrnn-watch (test processor)"))
        progress(ProcessingProgress(fractionDone: 1, tilesDone: 1, tilesTotal: 1))
        let elapsed = ContinuousClock.now - start
        return ProcessedPhoto(bytes: bytes, report: ProcessingReport(megapixels: Double(image.width * image.height) / 1e6, tiles: 1,
                                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
    }
}
