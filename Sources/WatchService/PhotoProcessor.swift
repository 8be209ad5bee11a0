import Foundation

/// How far the current photo has come. Sent often by the processor; the worker
/// turns each call into a STATUS= line and a WATCHDOG=1 ping, so a processor
/// that stops calling it (a hung pipeline) trips the systemd watchdog.
public struct ProcessingProgress: Sendable, Equatable {
    /// 0...1 over the whole photo (decode, tiles, encode).
    public var fractionDone: Double
    public var tilesDone: Int
    public var tilesTotal: Int

    public init(fractionDone: Double, tilesDone: Int, tilesTotal: Int) {
        self.fractionDone = fractionDone
        self.tilesDone = tilesDone
        self.tilesTotal = tilesTotal
    }
}

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
    /// Calls `progress` often (the worker sends WATCHDOG=1 from it). Should
    /// check `Task.isCancelled` between tiles: the daemon cancels on SIGTERM.
    /// Throws an error whose description says what is wrong with the photo.
    func process(input: URL, progress: @Sendable (ProcessingProgress) -> Void) async throws -> ProcessedPhoto
    /// One line for the status ("MT-RNN 6 iterations, f32, weights ...").
    var modelDescription: String { get }
}
