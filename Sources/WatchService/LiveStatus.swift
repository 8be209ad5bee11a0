import Foundation
import WatchControl

/// The numbers behind STATUS= and `mtrnnctl status`, behind a lock: the worker's
/// progress callback (any thread) and the control socket's thread read and
/// write them without waiting for the daemon's actor.
final class LiveStatus: @unchecked Sendable {
    private let lock = NSLock()
    private let started = ContinuousClock.now
    private var state = StatusReport.State.starting
    private var model = ""
    private var inbox = ""
    private var outbox = ""
    private var queued = 0
    private var currentFile: String?
    private var currentStart = ContinuousClock.now
    private var progress = ProcessingProgress(fractionDone: 0, tilesDone: 0, tilesTotal: 0)
    private var done = 0
    private var failed = 0
    private var secondsTotal = 0.0
    private var megapixelsTotal = 0.0
    private var lastError: String?
    private var lastErrorFile: String?
    private var watching: String?

    func configure(model: String, inbox: String, outbox: String) {
        lock.withLock { self.model = model; self.inbox = inbox; self.outbox = outbox }
    }
    func setState(_ s: StatusReport.State) { lock.withLock { state = s } }
    func setQueued(_ n: Int) { lock.withLock { queued = n } }
    func setWatching(_ s: String?) { lock.withLock { watching = s } }
    func begin(file: String) {
        lock.withLock {
            currentFile = file
            currentStart = .now
            progress = ProcessingProgress(fractionDone: 0, tilesDone: 0, tilesTotal: 0)
        }
    }
    func update(_ p: ProcessingProgress) { lock.withLock { progress = p } }
    func end() { lock.withLock { currentFile = nil } }
    func recordDone(_ r: ProcessingReport) {
        lock.withLock { done += 1; secondsTotal += r.seconds; megapixelsTotal += r.megapixels }
    }
    func recordFailure(file: String, reason: String, counted: Bool = true) {
        lock.withLock {
            if counted { failed += 1 }
            lastError = "\(file): \(reason)"
            lastErrorFile = file
        }
    }
    func noteError(_ text: String) { lock.withLock { lastError = text; lastErrorFile = nil } }
    var currentState: StatusReport.State { lock.withLock { state } }

    func report() -> StatusReport {
        lock.withLock {
            var current: StatusReport.CurrentPhoto?
            if let f = currentFile {
                let elapsed = Self.seconds(ContinuousClock.now - currentStart)
                let frac = min(max(progress.fractionDone, 0), 1)
                current = .init(file: f, fractionDone: frac, tilesDone: progress.tilesDone, tilesTotal: progress.tilesTotal,
                                elapsedSeconds: elapsed,
                                etaSeconds: frac >= 0.02 ? elapsed / frac - elapsed : nil)
            }
            return StatusReport(
                state: state, pid: getpid(), model: model, inbox: inbox, outbox: outbox,
                queued: queued, current: current, done: done, failed: failed,
                uptimeSeconds: Self.seconds(ContinuousClock.now - started),
                secondsPerPhoto: done > 0 ? secondsTotal / Double(done) : nil,
                megapixelsPerMinute: secondsTotal > 0 ? megapixelsTotal / (secondsTotal / 60) : nil,
                lastError: lastError, lastErrorFile: lastErrorFile, watching: watching)
        }
    }

    /// The one-line STATUS= text: "Deblurring IMG_0042.jpg: 37%, 4 queued".
    func statusLine() -> String {
        let r = report()
        let queuedText = "\(r.queued) queued"
        switch r.state {
        case .starting: return "Starting"
        case .reloading: return "Reloading configuration"
        case .stopping: return "Stopping"
        case .paused:
            if let c = r.current { return "Paused after \(c.file), \(queuedText)" }
            return "Paused, \(queuedText)"
        case .idle, .working:
            if let c = r.current { return "Deblurring \(c.file): \(Int((c.fractionDone * 100).rounded(.down)))%, \(queuedText)" }
            return "Idle, \(r.done) done, \(r.failed) failed, \(queuedText)"
        }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
