import Deblur
import Foundation
import WatchControl

/// The counts behind `done:`, `failed:`, `speed:` and `last error:`.
struct DaemonCounts: Sendable, Equatable {
    var done = 0
    var failed = 0
    var secondsTotal = 0.0
    var megapixelsTotal = 0.0
    var lastError: String?
    /// The photo `lastError` is about; nil for errors about the daemon itself.
    var lastErrorFile: String?

    /// Sharp photos left alone (copied or skipped); not in `done`.
    var sharp = 0

    mutating func recordDone(_ r: ProcessingReport) {
        if r.leftAloneAsSharp != nil { sharp += 1; return }
        done += 1
        secondsTotal += r.seconds
        megapixelsTotal += r.megapixels
    }

    /// `counted`: the photo failed for good (not a stop or a resource fault).
    mutating func recordFailure(file: String, reason: String, counted: Bool = true) {
        if counted { failed += 1 }
        lastError = "\(file): \(reason)"
        lastErrorFile = file
    }

    mutating func noteError(_ text: String) {
        lastError = text
        lastErrorFile = nil
    }
}

/// Everything `mtrnnctl status` and STATUS= show except the current photo's
/// progress: one value, built by the daemon from its own state and
/// published whole after every change (no field is mirrored by hand).
struct DaemonSnapshot: Sendable, Equatable {
    enum Phase: Sendable, Equatable { case starting, running, reloading, stopping }

    var phase = Phase.starting
    var paused = false
    var queued = 0
    var current: String?
    var model = ""
    var inbox = ""
    var outbox = ""
    /// `WatchCoverage.summary`: set while inotify cannot watch all of the inbox.
    var watching: String?
    var counts = DaemonCounts()

    var state: StatusReport.State {
        switch phase {
        case .starting: return .starting
        case .reloading: return .reloading
        case .stopping: return .stopping
        case .running: return paused ? .paused : current == nil ? .idle : .working
        }
    }
}

/// The latest snapshot and the current photo's progress, behind a lock: the
/// worker's progress (any thread) and the control socket's thread read and
/// write them without waiting for the daemon's actor.
final class LiveStatus: @unchecked Sendable {
    private let lock = NSLock()
    private let started = ContinuousClock.now
    private var snapshot = DaemonSnapshot()
    private var currentStart = ContinuousClock.now
    private var progress: DeblurProgress?

    func publish(_ s: DaemonSnapshot) {
        lock.withLock {
            if s.current != snapshot.current {
                currentStart = .now
                progress = nil
            }
            snapshot = s
        }
    }

    /// The current photo's progress. Tiles report from several workers and
    /// may arrive out of order: the status never goes back a tile.
    func update(_ p: DeblurProgress) {
        lock.withLock {
            if let old = progress, old.stage == p.stage, p.tilesDone < old.tilesDone { return }
            progress = p
        }
    }

    func report(now: ContinuousClock.Instant = .now) -> StatusReport {
        lock.withLock {
            let s = snapshot
            let current = s.current.map { file in
                StatusReport.CurrentPhoto(
                    file: file, fractionDone: progress?.fractionDone ?? 0,
                    tilesDone: progress?.tilesDone ?? 0, tilesTotal: progress?.tilesTotal ?? 0,
                    elapsedSeconds: (now - currentStart).inSeconds, etaSeconds: progress?.estimatedRemaining)
            }
            let c = s.counts
            return StatusReport(
                state: s.state, pid: getpid(), model: s.model, inbox: s.inbox, outbox: s.outbox,
                queued: s.queued, current: current, done: c.done, failed: c.failed,
                uptimeSeconds: (now - started).inSeconds,
                secondsPerPhoto: c.done > 0 ? c.secondsTotal / Double(c.done) : nil,
                megapixelsPerMinute: c.secondsTotal > 0 ? c.megapixelsTotal / (c.secondsTotal / 60) : nil,
                lastError: c.lastError, lastErrorFile: c.lastErrorFile, watching: s.watching, sharp: c.sharp)
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
}
