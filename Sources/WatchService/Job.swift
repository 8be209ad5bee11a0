/// One photo to process: where it waits and its path relative to that directory.
public struct Job: Sendable, Equatable, Hashable {
    public enum Origin: Sendable, Equatable, Hashable {
        /// A new photo in the inbox.
        case inbox
        /// `mtrnnctl retry`: a photo in failed/, processed where it lies.
        case failed
    }
    public var relativePath: String
    public var origin: Origin
    /// The file as it was when it settled (nil: retries). The job checks it
    /// again when it starts, not equality: one job per path and origin.
    var settledIdentity: FileIdentity?

    public init(_ relativePath: String, origin: Origin = .inbox) {
        self.relativePath = relativePath
        self.origin = origin
    }

    init(_ relativePath: String, settled: FileIdentity?) {
        self.init(relativePath)
        settledIdentity = settled
    }

    public static func == (a: Job, b: Job) -> Bool { a.relativePath == b.relativePath && a.origin == b.origin }
    public func hash(into h: inout Hasher) {
        h.combine(relativePath)
        h.combine(origin)
    }
}

/// How a job ended.
enum JobOutcome: Sendable {
    case done(ProcessingReport)
    /// An earlier run already wrote the result (crash before archiving): only the original was dealt with.
    case alreadyDone
    case failed(reason: String, movedTo: String?)
    /// The file was gone when its turn came.
    case vanished
    /// The file changed while it was processed: the result is kept, the new version waits.
    case replaced
    /// The file changed after it settled, before or while it was copied: it waits the settle time again.
    case unsettled
    /// Stopped (SIGTERM) or a resource fault: the original stays where it is, nothing was written.
    case abandoned(reason: String)
    /// The outbox or state disk is full: pause and keep the input.
    case noSpace(reason: String)
    /// Sharp already and `sharp_photos = skip`: no result, the photo stays in
    /// the inbox (recorded, so it is not assessed again while unchanged).
    /// nil: recorded so by an earlier turn.
    case leftAlone(ProcessingReport?)
}
