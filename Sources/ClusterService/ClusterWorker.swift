import ClusterQueue
import Deblur
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchControl
import WatchService

/// A worker on the shared queue: claims a photo, processes it, writes the
/// result into the shared outbox and files the original, under a lease it
/// renews as the tiles progress.
///
/// Exactly one result per photo, whatever dies when:
///  * The result's name under the outbox is reserved in the database (a
///    unique column) before anything is written, and kept by every later
///    attempt. No other job gets that name, and only workers write the outbox.
///  * The result is written to a temporary name (a dot-name no reader takes
///    for a photo), fsynced, then renamed onto the reserved name without
///    replacing anything (RENAME_NOREPLACE), and the folder fsynced.
///  * So a later attempt that finds the reserved name taken knows an earlier
///    one got that far: it keeps that result and only files the original.
///    Two attempts racing (a worker cut off from the database that goes on
///    while its lease expired) both write complete temporaries; one rename
///    wins, the other finds the name taken and drops its copy.
///  * A temporary left by a killed attempt is removed by the next attempt.
struct ClusterWorker: Sendable {
    let config: WatchConfig
    let processor: any PhotoProcessor
    let queue: PostgresQueue
    let name: String
    let logger: Logger
    let notifier: SystemdNotifier
    let stop: StopFlag
    let busy: BusyFlag

    var lease: Double { config.cluster.leaseSeconds }

    /// Claims and processes photos until stopped. Database trouble is logged
    /// and retried with backoff (1 s doubling to 30 s).
    func run() async {
        var backoff = Backoff()
        var idleSince: ContinuousClock.Instant?
        // The job the last completion claimed in the same statement.
        var next: ClaimedJob?
        while !stop.isSet {
            do {
                let job: ClaimedJob
                var claimSeconds = 0.0
                if let claimed = next {
                    job = claimed
                    next = nil
                } else {
                    let claimStart = ContinuousClock.now
                    guard let claimed = try await queue.claim(worker: name, leaseSeconds: lease) else {
                        if backoff.failures > 0 { reconnected(&backoff) }
                        if idleSince == nil {
                            idleSince = .now
                            try? await queue.report(worker: name, state: try await queue.isPaused() ? "paused" : "idle", jobID: nil, photo: nil)
                            notifier.status("idle: the shared queue is empty (or paused)")
                        }
                        try? await Task.sleep(for: .milliseconds(250))
                        continue
                    }
                    job = claimed
                    claimSeconds = (ContinuousClock.now - claimStart).inSeconds
                }
                if backoff.failures > 0 { reconnected(&backoff) }
                idleSince = nil
                next = try await process(job, claimSeconds: claimSeconds)
            } catch {
                idleSince = nil
                await unreachable(error, &backoff)
            }
        }
        // Stopped after a completion had claimed the next job: it goes back
        // (else it would wait for its lease to run out).
        if let claimed = next { try? await queue.release(job: claimed.id, worker: name, attempt: claimed.attempt) }
    }

    private func reconnected(_ backoff: inout Backoff) {
        logger.notice("the queue database \(queue.location) is reachable again")
        backoff = Backoff()
    }

    func unreachable(_ error: any Error, _ backoff: inout Backoff) async {
        await Self.unreachable(error, &backoff, logger: logger, notifier: notifier, what: "worker")
        if backoff.failures > 1 {
            // The first word once it is back: the cluster status shows the last error.
            try? await queue.report(worker: name, state: "idle", jobID: nil, photo: nil, lastError: "\(error)")
        }
    }

    /// Says so (journal, systemd status) and waits before the next try.
    static func unreachable(_ error: any Error, _ backoff: inout Backoff, logger: Logger, notifier: SystemdNotifier,
                            what: String) async {
        let wait = backoff.next()
        let message = "\(error); retrying in \(Int(wait.rounded())) s"
        if backoff.failures <= 3 || backoff.failures % 10 == 0 {
            logger.error("\(what): \(message)", metadata: ["MTRNN_QUEUE_ERROR": "\(error)"])
        }
        notifier.status("waiting for the queue database: \(message)")
        try? await Task.sleep(for: .seconds(wait))
    }

    // MARK: one job

    private func sourceRoot(_ job: ClaimedJob) -> String { job.origin == "failed" ? config.failed : config.inbox }

    /// Processes one job and records how it ended. Returns the next job when
    /// the completion claimed one in the same statement (a worker that is
    /// not stopping and finished with a result).
    @discardableResult
    func process(_ job: ClaimedJob, claimSeconds: Double = 0) async throws(QueueError) -> ClaimedJob? {
        let started = ContinuousClock.now   // the claim told the worker's row already
        notifier.status("working: \(Printable.escaped(job.path)) (attempt \(job.attempt))")
        busy.set(true)
        let times = JobTimes()
        let outcome = await work(job, times: times)
        busy.set(false)
        let worked = ContinuousClock.now
        let seconds = (worked - started).inSeconds
        switch outcome {
        case .done(let output, let note):
            var next: ClaimedJob?
            if stop.isSet {
                try await queue.complete(job: job.id, worker: name, seconds: seconds)
            } else {
                next = try await queue.complete(job: job.id, worker: name, seconds: seconds, thenClaimWithLease: lease)
            }
            // Where the time went beside the processor: the queue's statements
            // (one per photo in a busy queue: this completion, which claimed the
            // next job; plus the claim when this job came from an idle poll)
            // and the durable file steps.
            let queueMS = (claimSeconds + (ContinuousClock.now - worked).inSeconds) * 1000
            let filesMS = ((worked - started).inSeconds - times.processorSeconds) * 1000
            logger.info("done: \(Printable.escaped(job.path)) -> \(Printable.escaped(output))\(note)",
                        metadata: ["MTRNN_FILE": "\(job.path)", "MTRNN_OUTCOME": "done", "MTRNN_SECONDS": "\(seconds)",
                                   "MTRNN_ATTEMPT": "\(job.attempt)",
                                   "MTRNN_QUEUE_MS": "\(String(format: "%.2f", queueMS))",
                                   "MTRNN_FILES_MS": "\(String(format: "%.2f", filesMS))"])
            return next
        case .failed(let reason, let filedAs):
            try await queue.finish(job: job.id, state: "failed", reason: reason, filedAs: filedAs)
            try await queue.report(worker: name, state: "idle", jobID: nil, photo: nil, addFailed: 1, addBusySeconds: seconds)
            logger.error("failed: \(Printable.escaped(job.path)): \(Printable.escaped(reason))",
                         metadata: ["MTRNN_FILE": "\(job.path)", "MTRNN_OUTCOME": "failed", "MTRNN_REASON": "\(reason)"])
        case .gone(let reason):
            try await queue.finish(job: job.id, state: "gone", reason: reason)
            try await queue.report(worker: name, state: "idle", jobID: nil, photo: nil, addBusySeconds: seconds)
            logger.notice("not processed: \(Printable.escaped(job.path)): \(reason)",
                          metadata: ["MTRNN_FILE": "\(job.path)", "MTRNN_OUTCOME": "gone"])
        case .retryLater(let reason):
            // Stopping, or the shared storage is in trouble: the job goes back
            // (or its lease runs out) and this or another worker takes it again.
            try? await queue.release(job: job.id, worker: name, attempt: job.attempt)
            try await queue.report(worker: name, state: "idle", jobID: nil, photo: nil, lastError: reason)
            logger.warning("gave back: \(Printable.escaped(job.path)): \(reason)", metadata: ["MTRNN_FILE": "\(job.path)"])
            if !stop.isSet { try? await Task.sleep(for: .seconds(1)) }
        }
        return nil
    }

    enum Outcome {
        case done(output: String, note: String)
        case failed(reason: String, filedAs: String?)
        case gone(String)
        case retryLater(String)
    }

    /// How long the processor took (the rest of `work` is file steps).
    final class JobTimes: @unchecked Sendable { var processorSeconds = 0.0 }

    func work(_ job: ClaimedJob, times: JobTimes = JobTimes()) async -> Outcome {
        guard let parts = PathName.components(job.path) else { return .gone("not a relative path inside the inbox") }
        let parents = Array(parts.dropLast()), fileName = parts.last!
        let source: Directory, outbox: Directory
        do {
            outbox = try Directory.root(config.outbox, create: true).subdirectory(parents, create: true)
        } catch {
            return .retryLater("cannot open the outbox folder \(config.outbox)/\(parents.joined(separator: "/")): \(error)")
        }
        // The earlier attempt's result, where one got as far as the rename.
        let earlierResult = job.outputName.flatMap { n in outbox.info(PathName.last(n)).map { _ in n } }
        do { source = try Directory.root(sourceRoot(job)).subdirectory(parents) } catch {
            if let done = earlierResult { return .done(output: done, note: " (an earlier attempt wrote it)") }
            return .gone("its folder is gone from \(sourceRoot(job)): \(error)")
        }
        if job.attempt > config.cluster.maxAttempts {
            if let done = earlierResult {
                return file(job, source: source, name: fileName, output: done, note: " (an earlier attempt wrote it)")
            }
            let reason = "no worker finished it in \(config.cluster.maxAttempts) attempts: each one was killed, or lost the queue database, "
                + "before it was done (lease_seconds = \(Int(lease)) s). A photo that crashes the worker does this; see the workers' journals"
            return fail(job, reason, source: source, name: fileName, parents: parents)
        }
        let fd: Int32
        do { fd = try source.openForReading(fileName) } catch {
            if let done = earlierResult { return file(job, source: source, name: fileName, output: done, note: " (an earlier attempt wrote it)") }
            switch error.errno {
            case ENOENT: return .gone("it left \(sourceRoot(job)) before it was processed")
            case ELOOP, ENOTDIR, EMLINK:
                return fail(job, "it is a symbolic link (or lies under one); mtrnn-watch never follows links out of the inbox", source: source, name: fileName, parents: parents)
            case EACCES, EPERM:
                return fail(job, "mtrnn-watch may not read it (\(String(cString: strerror(error.errno)))); make it readable by the service's group and retry", source: source, name: fileName, parents: parents)
            default:
                return .retryLater("cannot open it: \(error)")
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, FileOps.isRegular(st) else {
            return fail(job, "it is not a regular file", source: source, name: fileName, parents: parents)
        }
        if Int(st.st_size) != job.size || WatchedFile.mtimeNanoseconds(st) != job.mtimeNanoseconds {
            if let done = earlierResult { return .done(output: done, note: " (an earlier attempt wrote it; the photo has changed since and is queued again)") }
            return .gone("it changed after it was queued; the watcher queues the new version on its own")
        }

        // The result's name, reserved once for all attempts.
        var outputName: String
        if let reserved = job.outputName { outputName = reserved } else {
            // NAME, else STEM-N.EXT: free in the outbox and not reserved by another job.
            var reserved: String?
            let ext = PathName.pathExtension(fileName), stem = PathName.stem(fileName)
            for i in 0..<1000 where reserved == nil {
                let n = i == 0 ? fileName : (ext.isEmpty ? "\(stem)-\(i)" : "\(stem)-\(i).\(ext)")
                if outbox.exists(n) { continue }
                let candidate = (parents + [n]).joined(separator: "/")
                do { if try await queue.reserveOutput(job: job.id, name: candidate) { reserved = candidate } } catch {
                    return .retryLater("cannot reserve the result's name: \(error)")
                }
            }
            guard let r = reserved else { return .retryLater("no free name for its result in \(config.outbox)") }
            outputName = r
        }
        let resultName = PathName.last(outputName)
        if job.attempt > 1 {
            // What a killed attempt left half-written under a temporary name.
            let base = TemporaryName.base(for: resultName)
            for raw in outbox.entries() {
                let n = String(decoding: raw, as: UTF8.self)
                if n.hasPrefix(base) && TemporaryName.matches(n) { outbox.removeIfPresent(n) }
            }
        }

        // A private copy: no writer of the inbox can change what is read.
        let staged: String
        let work: Directory
        do {
            work = try Directory.root(config.stateDirectory, create: true)
                .subdirectory([ClusterDaemon.workFolder(name)], create: true, mode: 0o700)
            work.removeIfPresent(fileName)
            try work.copy(from: fd, sourceName: sourceRoot(job) + "/" + job.path, to: fileName)
            staged = work.path + "/" + fileName
        } catch {
            return .retryLater("cannot stage a copy in \(config.stateDirectory): \(error)")
        }
        defer { unlink(staged) }

        let keeper = LeaseKeeper(queue: queue, job: job, worker: name, lease: lease, notifier: notifier)
        let processed: ProcessedPhoto
        let processingStart = ContinuousClock.now
        do {
            processed = try await processor.process(input: URL(fileURLWithPath: staged)) { p in keeper.progress(p) }
        } catch is CancellationError {
            return .retryLater("stopped before it was finished")
        } catch {
            if stop.isSet { return .retryLater("stopped before it was finished") }
            var reason = "\(error)"
            for spelling in [URL(fileURLWithPath: staged).path, staged] {
                reason = reason.replacingOccurrences(of: spelling, with: sourceRoot(job) + "/" + job.path)
            }
            return fail(job, reason, source: source, name: fileName, parents: parents)
        }
        times.processorSeconds = (ContinuousClock.now - processingStart).inSeconds
        await keeper.finish()
        if processed.bytes.isEmpty {
            // sharp_photos = skip: no result, the photo stays where it is.
            return .done(output: "(left alone: sharp)", note: "")
        }
        let tmp: String
        do { tmp = try outbox.writeTemporary(processed.bytes, for: resultName) } catch {
            return .retryLater("cannot write the result in \(outbox.path): \(error)")
        }
        ClusterTestFaults.point("written")
        do {
            try Directory.renameNoReplace(outbox, tmp, outbox, resultName)
        } catch {
            outbox.removeIfPresent(tmp)
            // Taken: by this job's earlier attempt (the name is reserved for it), so it is done.
            guard error.errno == EEXIST else {
                if error.errno == ENOENT { return .retryLater("its temporary result was removed by a later attempt (this worker's lease had run out)") }
                return .retryLater("cannot put the result in place: \(error)")
            }
            return file(job, source: source, name: fileName, output: outputName, note: " (another attempt wrote it first)")
        }
        do { try outbox.sync() } catch { return .retryLater("cannot fsync \(outbox.path): \(error)") }
        ClusterTestFaults.point("renamed")
        return file(job, source: source, name: fileName, output: outputName, note: "")
    }

    /// The result is in the outbox: the original leaves the inbox (archive,
    /// delete or keep, `originals`); one moved by an earlier attempt is gone already.
    private func file(_ job: ClaimedJob, source: Directory, name: String, output: String, note: String) -> Outcome {
        guard let now = source.info(name) else { return .done(output: output, note: note) }
        if Int(now.st_size) != job.size || WatchedFile.mtimeNanoseconds(now) != job.mtimeNanoseconds {
            return .done(output: output, note: note + " (the photo has changed since; the new version is queued on its own)")
        }
        do {
            switch (job.origin, config.originals) {
            case ("inbox", .keep): break
            case (_, .delete):
                try source.remove(name)
                try source.sync()
            default:
                let parents = Array((PathName.components(job.path) ?? []).dropLast())
                let archive = try Directory.root(config.archive, create: true).subdirectory(parents, create: true)
                try Directory.move(source, name, to: archive, as: name)
            }
            if job.origin == "failed" { source.removeIfPresent(name + ".reason") }
        } catch {
            if error.errno == ENOENT { return .done(output: output, note: note) }   // filed by a racing attempt
            return .retryLater("the result is in the outbox but the original could not be filed: \(error)")
        }
        return .done(output: output, note: note)
    }

    /// The photo goes to failed/ with NAME.reason (a retried one stays there).
    private func fail(_ job: ClaimedJob, _ reason: String, source: Directory, name: String, parents: [String]) -> Outcome {
        var folder = source, filed = name
        do {
            if job.origin == "inbox" {
                let failedRoot = try Directory.root(config.failed, create: true)
                folder = (try? failedRoot.subdirectory(parents, create: true)) ?? failedRoot
                filed = try Directory.move(source, name, to: folder, as: name, reserving: ".reason")
            }
        } catch {
            if error.errno == ENOENT { return .gone("it left the inbox before it could be filed in failed/ (\(reason))") }
            return .retryLater("\(reason); and it could not be moved to \(config.failed): \(error)")
        }
        let text = """
        file: \(Printable.escaped(job.path))
        time: \(ISO8601DateFormatter().string(from: Date()))
        worker: \(Printable.escaped(name))
        attempt: \(job.attempt)
        reason: \(Printable.escaped(reason))

        """
        try? folder.writeAtomically(text, to: filed + ".reason")
        let relative = job.origin == "inbox" ? (parents + [filed]).joined(separator: "/") : job.path
        return .failed(reason: reason, filedAs: relative)
    }
}

/// Renews the job's lease from the processor's progress, at most every
/// quarter lease (and at least on the first tile), off the processor's thread.
/// A processor that stops calling progress lets the lease run out: the job
/// goes to another worker, as it would if this one had died.
final class LeaseKeeper: @unchecked Sendable {
    private let queue: PostgresQueue
    private let job: ClaimedJob
    private let worker: String
    private let lease: Double
    private let notifier: SystemdNotifier
    private let lock = NSLock()
    private var last = ContinuousClock.now
    private var pending: Task<Void, Never>?

    init(queue: PostgresQueue, job: ClaimedJob, worker: String, lease: Double, notifier: SystemdNotifier) {
        self.queue = queue; self.job = job; self.worker = worker; self.lease = lease; self.notifier = notifier
    }

    func progress(_ p: DeblurProgress) {
        notifier.watchdog()
        let task: Task<Void, Never>? = lock.withLock {
            let now = ContinuousClock.now
            guard now - last >= .seconds(max(0.5, lease / 4)), pending == nil else { return nil }
            last = now
            let (queue, job, worker, lease) = (self.queue, self.job, self.worker, self.lease)
            let t = Task {
                _ = try? await queue.renew(job: job.id, worker: worker, attempt: job.attempt, leaseSeconds: lease,
                                           stage: p.stage.rawValue, tilesDone: p.tilesDone, tilesTotal: p.tilesTotal)
            }
            pending = t
            return t
        }
        if let task {
            Task { [self] in
                await task.value
                lock.withLock { pending = nil }
            }
        }
    }

    /// Waits for a renewal in flight.
    func finish() async {
        let t = lock.withLock { pending }
        await t?.value
    }
}

/// The retry schedule after database trouble: 1, 2, 4, ... 30 s, with a
/// little jitter so that a cluster does not knock all at once.
struct Backoff {
    private(set) var failures = 0
    mutating func next() -> Double {
        failures += 1
        let base = min(30, pow(2, Double(min(failures - 1, 5))))
        return base * Double.random(in: 0.8...1.2)
    }
}

/// Set once on SIGTERM/SIGINT.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var set = false
    var isSet: Bool { lock.withLock { set } }
    func raise() { lock.withLock { set = true } }
}

/// Whether a photo is in progress (the watchdog is then pinged from its progress only).
final class BusyFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set(_ v: Bool) { lock.withLock { value = v } }
}

/// MTRNN_CLUSTER_TEST_FAULT=POINT: the worker kills itself (SIGKILL) at
/// that point, for the cluster tests: "written" (a complete temporary, not
/// renamed) or "renamed" (the result in place, the job not yet marked done).
enum ClusterTestFaults {
    static let armed: String? = ProcessInfo.processInfo.environment["MTRNN_CLUSTER_TEST_FAULT"]
    static func point(_ name: String) {
        if armed == name { kill(getpid(), SIGKILL) }
    }
}
