import DurableFiles
import Foundation
@preconcurrency import Glibc
import WatchControl

/// The daemon's state as one value: the queue, the photos settling, the
/// counts and the phase. The actor (`WatchDaemon`) owns one and publishes a
/// status snapshot of it after every change; the rules for what a found
/// file, an outcome or a full disk do to it are here, with their tests.
struct DaemonState: Sendable {
    var queue = JobQueue()
    var settle: SettleTracker
    var counts = DaemonCounts()
    var phase = DaemonSnapshot.Phase.starting
    /// `WatchCoverage.summary` of the current watcher.
    var watching: String?
    private var lastSpaceCheck = ContinuousClock.now

    var stopping: Bool { phase == .stopping }

    init(settleSeconds: Double) { settle = SettleTracker(settle: Self.duration(settleSeconds)) }

    static func duration(_ seconds: Double) -> Duration { .milliseconds(Int64(seconds * 1000)) }

    func snapshot(model: String, weightsSHA256: String? = nil, inbox: String, outbox: String) -> DaemonSnapshot {
        DaemonSnapshot(phase: phase, paused: queue.paused, queued: queue.count + max(0, queue.inFlight.count - 1),
                       current: queue.current?.relativePath,
                       model: model, weightsSHA256: weightsSHA256, inbox: inbox, outbox: outbox, watching: watching, counts: counts)
    }

    /// A file seen in the inbox: it settles first, unless it is an upload's
    /// temporary name or already queued. One with the name of the photo in
    /// progress is a new upload (the daemon writes nothing into the inbox):
    /// it settles, and waits for that photo's turn to end.
    mutating func noteCandidate(_ relative: String) {
        guard !stopping, !InboxNames.isIgnored(PathName.last(relative)), !queue.isQueued(Job(relative)) else { return }
        settle.note(relative)
    }

    /// What a scan found, and what it filed in failed/ or could not: one
    /// change of the state (one status snapshot) for a scan of any size.
    mutating func noteScan(_ found: [String], _ filed: InboxScanner.Filed) {
        for file in found { noteCandidate(file) }
        for f in filed.failures { counts.recordFailure(file: f.file, reason: f.reason) }
        for e in filed.errors { counts.noteError(e) }
    }

    /// Every tick (100 ms): abandoned photos that are due settle again, and
    /// settled photos join the queue (in `originals = keep` mode not those
    /// the ledger says are done). True when a photo joined the queue.
    /// Sidecars and names the configuration does not take never join it
    /// (`note` is told what a lone sidecar did: `Sidecars.fileAlone`).
    mutating func queueSettled(_ config: WatchConfig, now: ContinuousClock.Instant = .now,
                               note: (String) -> Void = { _ in }) -> Bool {
        for file in queue.dueAbandoned(now: now) {
            if FileOps.lstatInfo(config.inbox + "/" + file) == nil { queue.forgetAbandoned(file) } else { noteCandidate(file) }
        }
        let ledger = ProcessedLedger(stateDirectory: config.stateDirectory)
        var queued = false
        for (relative, identity) in settle.settledFiles(inbox: config.inbox, now: now) where !queue.isQueued(Job(relative)) {
            // Dropped under the name of a photo in progress: its turn first (the
            // file it finds then may be this one, or gone to the archive).
            if queue.isInFlight(Job(relative)) { settle.note(relative, now: now); continue }
            if InboxNames.isSidecar(PathName.last(relative)) {
                if !config.inputFilter.excludes(relative), let text = Sidecars.fileAlone(relative, config: config) { note(text) }
                continue
            }
            // Excluded: left untouched. A folder (not recursive): the scan's hint says what to do.
            if !config.inputFilter.takesPhoto(relative) { continue }
            if identity == nil, let st = FileOps.lstatInfo(config.inbox + "/" + relative), FileOps.isDirectory(st) { continue }
            if let st = FileOps.lstatInfo(config.inbox + "/" + relative),
               let output = ledger.output(relative, FileIdentity(st)),
               config.originals == .keep || output.isEmpty { continue }   // kept, or left alone as sharp
            queued = queue.add(Job(relative, settled: identity)) || queued
        }
        return queued
    }

    /// The outcome's effect on the queue, the settling files and the
    /// counts; returns its journal record.
    /// `outbox`: named in the record of a result (MTRNN_OUTPUT).
    mutating func record(_ job: Job, _ outcome: JobOutcome, settleSeconds: Double, outbox: String? = nil,
                         now: ContinuousClock.Instant = .now) -> JournalRecord {
        let file = job.relativePath
        var retryDelay: Int?
        if case .abandoned(let reason) = outcome {
            if !stopping { counts.recordFailure(file: file, reason: reason, counted: false) }
            // A resource fault (a folder it cannot create, a file it cannot move) may
            // pass: try again later, backing off, rather than only after a restart.
            if !stopping, job.origin == .inbox { retryDelay = queue.abandon(file, now: now) }
        } else if job.origin == .inbox {
            queue.forgetAbandoned(file)
        }
        switch outcome {
        case .done(let r): counts.recordDone(r)
        case .failed(let reason, _): counts.recordFailure(file: file, reason: reason)
        case .replaced, .unsettled: if job.origin == .inbox { settle.note(file) }
        case .noSpace(let reason):
            counts.recordFailure(file: file, reason: "disk full: \(reason)", counted: false)
            queue.pauseForSpace()
            lastSpaceCheck = now
            if job.origin == .inbox { settle.note(file) }
        case .leftAlone(let r?): counts.recordDone(r)
        case .alreadyDone, .vanished, .abandoned, .leftAlone(nil): break
        }
        return JournalRecord.of(file, outcome, retryDelay: retryDelay, settleSeconds: settleSeconds, outbox: outbox)
    }

    /// Paused by a full disk: every 5 s, whether both disks have 256 MiB
    /// free again; true when that resumed the queue.
    mutating func resumeIfSpaceReturned(outbox: String, state: String, now: ContinuousClock.Instant = .now,
                                        freeBytes: (String) -> UInt64 = Self.freeBytes) -> Bool {
        guard queue.pausedForSpace, now - lastSpaceCheck > .seconds(5) else { return false }
        lastSpaceCheck = now
        guard freeBytes(outbox) > 256 << 20 && freeBytes(state) > 256 << 20 else { return false }
        return queue.resumeForSpace()
    }

    static func freeBytes(_ path: String) -> UInt64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }
}
