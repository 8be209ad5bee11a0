import ClusterQueue
import Deblur
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchService

/// `job_retention_days`: the watchers delete finished jobs (done, failed,
/// gone) older than that, at start and every hour, so that mtrnn_jobs does
/// not grow forever (10,000 photos an hour are 87 million rows a year).
///
/// A finished job is more than history: a photo's version (path, size,
/// mtime, content hash) is queued once, and the job row is what stops a
/// photo that stays in the inbox (`originals = keep`) from being queued and
/// processed again; a failed job is what `mtrnnctl retry --cluster` finds.
/// So a job is deleted only when its photo is no longer where it would come
/// from again, whatever `originals` says on any host:
///  * its version is not in the inbox (origin inbox) or in failed/ (a photo
///    retried from there) with the job's size and mtime, and
///  * a failed job's photo is not in failed/ any more (the operator took it
///    away instead of retrying it).
/// A file that cannot be looked at (EACCES, EIO, a stale NFS handle) keeps
/// its job, and a pass is skipped while the inbox or failed/ cannot be
/// reached or has moved to another file system (a share unmounted leaves
/// its empty mount point, where every photo would look gone).
///
/// Rows are read in batches, oldest first by (finished_at, id) (index
/// mtrnn_jobs_ended, schema version 2), and deleted by primary key in one
/// short statement per batch that checks again that each is finished and
/// old: no long lock, and a job retried meanwhile stays. A photo dropped
/// again while its job was being deleted (the other watchers' insert found
/// the row and did nothing) is looked at once more after the delete and
/// queued.
struct ClusterRetention: Sendable {
    let config: WatchConfig
    let queue: PostgresQueue
    let logger: Logger
    var batch = 10_000
    var every: Duration = .seconds(3600)

    struct Pass: Equatable, Sendable {
        var examined = 0
        var deleted = 0
        /// Old enough, but the photo is still in the inbox or failed/.
        var kept = 0
        /// Deleted, then found dropped again: queued anew.
        var requeued = 0
        var batches = 0
    }

    /// The file systems of the inbox and failed/, as first seen.
    struct Devices: Equatable, Sendable {
        var inbox: UInt
        var failed: UInt
    }

    enum Presence { case there, absent, unknown }

    /// Is `path` there as this version (size and mtime; nil: any file)?
    static func presence(_ path: String, size: Int? = nil, mtimeNanoseconds: Int? = nil) -> Presence {
        var st = stat()
        if lstat(path, &st) != 0 { return errno == ENOENT || errno == ENOTDIR ? .absent : .unknown }
        guard let size, let mtimeNanoseconds else { return .there }
        return FileOps.isRegular(st) && Int(st.st_size) == size && WatchedFile.mtimeNanoseconds(st) == mtimeNanoseconds
            ? .there : .absent
    }

    func root(_ origin: String) -> String { origin == "failed" ? config.failed : config.inbox }

    /// Whether the job must stay: its photo may come back under it.
    func keeps(_ job: PostgresQueue.FinishedJob) -> Bool {
        if Self.presence(root(job.origin) + "/" + job.path, size: job.size, mtimeNanoseconds: job.mtimeNanoseconds) != .absent {
            return true
        }
        if job.state == "failed", let filed = job.filedAs, Self.presence(config.failed + "/" + filed) != .absent { return true }
        return false
    }

    /// The inbox's and failed/'s file systems now; nil when either cannot be reached.
    func devices() -> Devices? {
        guard let i = FileOps.lstatInfo(config.inbox), FileOps.isDirectory(i),
              let f = FileOps.lstatInfo(config.failed), FileOps.isDirectory(f) else { return nil }
        return Devices(inbox: UInt(i.st_dev), failed: UInt(f.st_dev))
    }

    /// One pass over the jobs older than `days`; nil when it was skipped
    /// (the folders cannot be reached, or are not where they were: `expected`).
    func pass(days: Int, expected: Devices?) async throws(QueueError) -> Pass? {
        guard let now = devices() else {
            logger.warning("job retention: \(config.inbox) or \(config.failed) cannot be reached; no job deleted this time")
            return nil
        }
        if let expected, expected != now {
            logger.warning("job retention: \(config.inbox) or \(config.failed) is on another file system than when the watcher started (a share unmounted?); no job deleted until the watcher is restarted")
            return nil
        }
        var result = Pass()
        var cursor: PostgresQueue.RetentionCursor?
        while true {
            let (jobs, next) = try await queue.finishedJobs(olderThanDays: days, after: cursor, limit: batch)
            if jobs.isEmpty { break }
            result.batches += 1
            result.examined += jobs.count
            let doomed = jobs.filter { !keeps($0) }
            result.kept += jobs.count - doomed.count
            let deleted = try await queue.deleteFinished(ids: doomed.map(\.id), olderThanDays: days)
            result.deleted += deleted.count
            result.requeued += try await requeueDroppedAgain(doomed.filter { deleted.contains($0.id) })
            if jobs.count < batch { break }
            cursor = next
            await Task.yield()
        }
        return result
    }

    /// Queues again, as a watcher would have, the photos of deleted jobs that
    /// are back in the inbox as that version: dropped again between the look
    /// and the delete, while a watcher's insert still found the old row.
    func requeueDroppedAgain(_ deleted: [PostgresQueue.FinishedJob]) async throws(QueueError) -> Int {
        var queued = 0
        for job in deleted where job.origin == "inbox" {
            let path = config.inbox + "/" + job.path
            guard Self.presence(path, size: job.size, mtimeNanoseconds: job.mtimeNanoseconds) == .there,
                  let hash = WatchedFile.contentHash(path) else { continue }
            if try await queue.insert(path: job.path, size: job.size, mtimeNanoseconds: job.mtimeNanoseconds, contentHash: hash) {
                queued += 1
                logger.info("queued: \(job.path) (dropped again while its old job was deleted)",
                            metadata: ["MTRNN_FILE": "\(job.path)", "MTRNN_OUTCOME": "queued"])
            }
        }
        return queued
    }

    /// At start, then every `every`, until stopped (`days` 0: never).
    func run(stop: StopFlag) async {
        let days = config.cluster.jobRetentionDays
        guard days > 0 else { return }
        let expected = devices()
        while !stop.isSet && !Task.isCancelled {
            let start = ContinuousClock.now
            var wait = every
            do {
                if let p = try await pass(days: days, expected: expected), p.examined > 0 {
                    let ms = Int((ContinuousClock.now - start).inSeconds * 1000)
                    logger.info("job retention: deleted \(p.deleted) finished jobs older than \(days) days, kept \(p.kept) whose photo is still in the inbox or failed/ (\(p.batches) batches, \(ms) ms)",
                                metadata: ["MTRNN_RETENTION_DELETED": "\(p.deleted)", "MTRNN_RETENTION_KEPT": "\(p.kept)"])
                }
            } catch {
                if stop.isSet || Task.isCancelled { break }
                logger.warning("job retention: \(error); trying again in 5 minutes")
                wait = min(every, .seconds(300))
            }
            try? await Task.sleep(for: wait)
        }
    }
}
