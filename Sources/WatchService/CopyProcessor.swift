import Foundation
import PhotoIO

/// A stand-in pipeline: accepts JPEG, PNG and TIFF by their magic bytes and
/// copies them unchanged. Used by the tests and by `mtrnn-watch` until the
/// deblur pipeline is linked; `delayPerPhoto` with `steps` progress calls lets
/// tests see a photo "in progress".
public struct CopyProcessor: PhotoProcessor {
    public var delayPerPhoto: Duration
    public var steps: Int

    public init(delayPerPhoto: Duration = .zero, steps: Int = 4) {
        self.delayPerPhoto = delayPerPhoto
        self.steps = max(1, steps)
    }

    public var modelDescription: String { "copy (no deblur pipeline linked)" }

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

    public func process(input: URL, progress: @Sendable (ProcessingProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        let data: Data
        do { data = try Data(contentsOf: input) } catch {
            throw Failure.unreadable(input.lastPathComponent, "\(error.localizedDescription)")
        }
        guard ImageFormat(header: Array(data.prefix(8))) != nil else {
            throw Failure.notAPhoto(input.lastPathComponent)
        }
        progress(ProcessingProgress(fractionDone: 0, tilesDone: 0, tilesTotal: steps))
        for step in 1...steps {
            if delayPerPhoto > .zero { try await Task.sleep(for: delayPerPhoto / steps) }
            try Task.checkCancellation()
            progress(ProcessingProgress(fractionDone: Double(step) / Double(steps), tilesDone: step, tilesTotal: steps))
        }
        let elapsed = ContinuousClock.now - start
        return ProcessedPhoto(bytes: [UInt8](data), report: ProcessingReport(megapixels: 0, tiles: steps,
                                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
    }
}
