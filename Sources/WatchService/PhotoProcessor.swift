import Deblur
import Foundation
import Identity

/// What one processed photo cost; goes into the journal record and the status.
public struct ProcessingReport: Sendable, Equatable {
    public var megapixels: Double
    public var tiles: Int
    public var seconds: Double
    /// Set by the daemon where the result did not get the photo's own name
    /// (an earlier result had it): its path under the outbox.
    public var outputName: String?
    /// How the processor chose to work on this photo, for the journal
    /// ("scale 2 (blur about 45 px, confidence 0.77), 2.9 iterations per tile").
    public var detail: String?
    /// Sharp already, so not deblurred (`sharp_photos`): its sharpness score.
    /// The result is the photo itself (copy) or there is none (skip).
    public var leftAloneAsSharp: Double?

    public init(megapixels: Double, tiles: Int, seconds: Double) {
        self.megapixels = megapixels
        self.tiles = tiles
        self.seconds = seconds
    }
}

/// One processed photo: the result, encoded in the input's format with its
/// metadata, and what it cost. The daemon writes the bytes itself.
public struct ProcessedPhoto: Sendable {
    public var bytes: [UInt8]
    public var report: ProcessingReport

    public init(bytes: [UInt8], report: ProcessingReport) {
        self.bytes = bytes
        self.report = report
    }
}

/// The image pipeline as the daemon sees it. The daemon owns every file
/// operation that must be durable (through DurableFiles); the processor only
/// turns one readable file into the bytes of its result.
public protocol PhotoProcessor: Sendable {
    /// Deblur `input` and return the encoded result (the daemon writes it to
    /// a temporary name in the outbox, fsyncs and renames it). `input` is a
    /// private copy the daemon made from the inbox, with the original file
    /// name, so no writer of the inbox can change it while it is read.
    /// Calls `progress` often (the worker sends WATCHDOG=1 from it: a
    /// processor that stops calling it trips the systemd watchdog). Stops
    /// with `CancellationError` once its task is cancelled (SIGTERM), between
    /// tiles at the latest. Throws an error whose description says what is
    /// wrong with the photo.
    func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto
    /// One line for the status ("MT-RNN 6 iterations, f32, weights ...").
    var modelDescription: String { get }
    /// The weights by content (SHA-256, hashed once at load); nil for the
    /// test processors, which have none.
    var weights: WeightsIdentity? { get }
    /// Whether two `process` calls may run at once, each waiting for the
    /// other's network (one photo in the network at a time, process-wide):
    /// the daemon then overlaps photos (`overlap_photos`). False: the daemon
    /// calls it for one photo at a time.
    var overlapsPhotos: Bool { get }
}

extension PhotoProcessor {
    public var weights: WeightsIdentity? { nil }
    public var overlapsPhotos: Bool { false }
}
