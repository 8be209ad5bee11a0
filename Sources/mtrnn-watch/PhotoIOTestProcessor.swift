import Deblur
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

    func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        progress(DeblurProgress(stage: .decoding, tilesTotal: 1, elapsed: 0))
        let image = try PhotoIO.decode(contentsOf: input, maxPixels: Int(maxMegapixels * 1_000_000))
        try Task.checkCancellation()
        progress(DeblurProgress(stage: .encoding, tilesDone: 1, tilesTotal: 1, elapsed: (ContinuousClock.now - start).inSeconds))
        let bytes = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "mtrnn-watch (test processor)"))
        progress(DeblurProgress(stage: .done, tilesDone: 1, tilesTotal: 1, elapsed: (ContinuousClock.now - start).inSeconds))
        return ProcessedPhoto(bytes: bytes, report: ProcessingReport(megapixels: Double(image.width * image.height) / 1e6, tiles: 1,
                                                                     seconds: (ContinuousClock.now - start).inSeconds))
    }
}
