import Deblur
import Foundation
import Identity
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
    /// The recent photos' cost, for the queue's ETA.
    var recent = RecentRate()

    mutating func recordDone(_ r: ProcessingReport) {
        if r.leftAloneAsSharp != nil { sharp += 1; return }
        done += 1
        secondsTotal += r.seconds
        megapixelsTotal += r.megapixels
        recent.add(seconds: r.seconds, megapixels: r.megapixels)
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

/// Seconds per megapixel over the last `window` photos deblurred: the queue's
/// ETA extrapolates it the way `TileProgress.estimatedRemaining` extrapolates
/// a photo's tiles (the mean so far, no other smoothing). The photos waiting
/// are not decoded before their turn, so each counts as the recent mean size.
struct RecentRate: Sendable, Equatable {
    static let window = 20
    private(set) var seconds: [Double] = []
    private(set) var megapixels: [Double] = []

    mutating func add(seconds s: Double, megapixels mp: Double) {
        guard s.isFinite, mp.isFinite, s >= 0, mp > 0 else { return }
        seconds.append(s)
        megapixels.append(mp)
        if seconds.count > Self.window {
            seconds.removeFirst()
            megapixels.removeFirst()
        }
    }

    /// Nil before the first photo.
    var secondsPerMegapixel: Double? {
        megapixels.isEmpty ? nil : seconds.reduce(0, +) / megapixels.reduce(0, +)
    }

    /// What one photo of the recent mean size costs.
    var secondsPerPhoto: Double? {
        secondsPerMegapixel.map { $0 * megapixels.reduce(0, +) / Double(megapixels.count) }
    }

    /// Seconds until the queue is empty: the current photo's rest (its own
    /// tile estimate once it has one, else the mean photo less what it has
    /// run) and `queued` mean photos. 0 with nothing to do; nil before the
    /// first photo was measured.
    func untilEmpty(queued: Int, current: (elapsed: Double, remaining: Double?)?) -> Double? {
        if queued == 0 && current == nil { return 0 }
        guard let perPhoto = secondsPerPhoto else { return nil }
        let rest = current.map { $0.remaining ?? max(0, perPhoto - $0.elapsed) } ?? 0
        return rest + Double(queued) * perPhoto
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
    /// The weights' SHA-256, from the processor (nil for the test ones).
    var weightsSHA256: String?
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
    /// may arrive out of order: the status never goes back a tile. `file`:
    /// whose progress it is; another photo's than the current one (the
    /// next of two in flight) is not shown.
    func update(_ p: DeblurProgress, file: String? = nil) {
        lock.withLock {
            if let file, file != snapshot.current { return }
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
            // A paused queue does not empty: no ETA then.
            let eta = s.state == .paused ? nil
                : c.recent.untilEmpty(queued: s.queued, current: current.map { ($0.elapsedSeconds, $0.etaSeconds) })
            return StatusReport(
                state: s.state, pid: getpid(), model: s.model, inbox: s.inbox, outbox: s.outbox,
                queued: s.queued, current: current, done: c.done, failed: c.failed,
                uptimeSeconds: (now - started).inSeconds,
                secondsPerPhoto: c.done > 0 ? c.secondsTotal / Double(c.done) : nil,
                megapixelsPerMinute: c.secondsTotal > 0 ? c.megapixelsTotal / (c.secondsTotal / 60) : nil,
                lastError: c.lastError, lastErrorFile: c.lastErrorFile, watching: s.watching, sharp: c.sharp,
                softwareVersion: MtrnnWatchVersion.string, weightsSHA256: s.weightsSHA256,
                queueEtaSeconds: eta, secondsPerMegapixel: c.recent.secondsPerMegapixel)
        }
    }

    /// The one-line STATUS= text: "Deblurring IMG_0042.jpg: 37%, 4 queued,
    /// queue empty in about 12 min 5 s" (the ETA once a photo was measured).
    func statusLine() -> String {
        let r = report()
        var queuedText = "\(r.queued) queued"
        if let eta = r.queueEtaSeconds, eta > 0 { queuedText += ", queue empty in about \(StatusReport.duration(eta))" }
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
