import Deblur
import Foundation
import PhotoIO

/// A test processor (`MTRNN_WATCH_TEST_PROCESSOR=copy:SECONDS` or `hang`):
/// accepts JPEG, PNG and TIFF by their magic bytes and copies them
/// unchanged, so the daemon's tests run without weights or minutes of CPU.
/// `delayPerPhoto` with `steps` progress calls (one per "tile") lets tests
/// see a photo in progress.
public struct CopyProcessor: PhotoProcessor {
    public var delayPerPhoto: Duration
    public var steps: Int

    public init(delayPerPhoto: Duration = .zero, steps: Int = 4) {
        self.delayPerPhoto = delayPerPhoto
        self.steps = max(1, steps)
    }

    public var modelDescription: String { "copy (test processor, no deblurring)" }

    public enum Failure: Error, CustomStringConvertible {
        case notAPhoto(String)
        case unreadable(String, String)

        public var description: String {
            switch self {
            case .notAPhoto(let name):
                return "\(name) is not a JPEG, PNG or TIFF file (its first bytes match none of them)"
            case .unreadable(let name, let why):
                return "cannot read \(name): \(why)"
            }
        }
    }

    public func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        let data: Data
        do { data = try Data(contentsOf: input) } catch {
            throw Failure.unreadable(input.lastPathComponent, "\(error.localizedDescription)")
        }
        guard ImageFormat(header: Array(data.prefix(8))) != nil else {
            throw Failure.notAPhoto(input.lastPathComponent)
        }
        progress(DeblurProgress(stage: .decoding, tilesTotal: steps, elapsed: (ContinuousClock.now - start).inSeconds))
        for step in 1...steps {
            if delayPerPhoto > .zero { try await Task.sleep(for: delayPerPhoto / steps) }
            try Task.checkCancellation()
            let elapsed = (ContinuousClock.now - start).inSeconds
            progress(DeblurProgress(deblurring: TileProgress(tilesDone: step, tilesTotal: steps, elapsed: elapsed), elapsed: elapsed))
        }
        return ProcessedPhoto(bytes: [UInt8](data),
                              report: ProcessingReport(megapixels: 0, tiles: steps, seconds: (ContinuousClock.now - start).inSeconds))
    }
}
