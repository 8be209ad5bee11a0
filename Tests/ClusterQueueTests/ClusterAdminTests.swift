@testable import ClusterQueue
@testable import ClusterService
import Foundation
@preconcurrency import Glibc
import Logging
import WatchService
import XCTest

/// What a database administrator relies on, against the real scratch server
/// (scripts/pg-scratch.sh, set up with docs/cluster-grants.sql): the
/// documented roles can do what mtrnn-watch(8) says and no more; old
/// finished jobs are deleted (`job_retention_days`) without losing one that
/// still stops a photo from being processed twice; a worker's last error has
/// its time and says whether it is over.
final class ClusterAdminTests: XCTestCase {
    var owner: QueueLocation!
    var queues: [PostgresQueue] = []
    var folder: String!

    override func setUp() async throws {
        guard let url = ProcessInfo.processInfo.environment["MTRNN_TEST_QUEUE"] else {
            throw XCTSkip("MTRNN_TEST_QUEUE is not set: no PostgreSQL to test against (scripts/test.sh starts one)")
        }
        owner = try XCTUnwrap(try QueueLocation.parse(url))
        try await queue(owner).execute(unsafeSQL: "DROP TABLE IF EXISTS mtrnn_jobs, mtrnn_workers, mtrnn_control, mtrnn_schema_version")
        folder = NSTemporaryDirectory() + "mtrnn-admin-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        for d in ["inbox", "failed"] { try FileManager.default.createDirectory(atPath: folder + "/" + d, withIntermediateDirectories: true) }
    }

    override func tearDown() async throws {
        for q in queues { await q.close() }
        queues = []
        if let folder { try? FileManager.default.removeItem(atPath: folder) }
    }

    func queue(_ location: QueueLocation) -> PostgresQueue {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let q = PostgresQueue(location: location, logger: logger)
        queues.append(q)
        return q
    }

    /// The scratch server's URL for one of the documented roles.
    func role(_ variable: String) throws -> QueueLocation {
        guard let url = ProcessInfo.processInfo.environment[variable] else {
            throw XCTSkip("\(variable) is not set (scripts/pg-scratch.sh sets it)")
        }
        return try XCTUnwrap(try QueueLocation.parse(url))
    }

    /// A file of docs/, its statements run as the owner (comments dropped).
    func apply(_ file: String) async throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/" + file)
        let text = try String(contentsOf: docs, encoding: .utf8)
        let sql = text.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
        for statement in sql.split(separator: ";") where !statement.allSatisfy(\.isWhitespace) {
            try await queue(owner).execute(unsafeSQL: String(statement))
        }
    }

    func refusal(_ body: () async throws -> Void, file: StaticString = #filePath, line: UInt = #line) async -> String {
        do {
            try await body()
            XCTFail("not refused", file: file, line: line)
            return ""
        } catch let error as QueueError {
            guard case .refused = error else { XCTFail("\(error)", file: file, line: line); return "" }
            return "\(error)"
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return ""
        }
    }

    // MARK: grants (docs/cluster-grants.sql, docs/cluster-operator-grants.sql)

    func testTheStatusRoleReadsTheStatusAndCannotWriteAnything() async throws {
        let status = try role("MTRNN_TEST_STATUS_QUEUE")
        let daemon = queue(owner)
        try await daemon.migrate()
        try await daemon.register(.init(name: "h:1", host: "h", pid: 1, role: "worker", state: "idle"))
        try await daemon.insert(path: "a.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await daemon.claim(worker: "h:1", leaseSeconds: 60))
        try await daemon.finish(job: job.id, state: "failed", reason: "bad", filedAs: "a.jpg")

        let monitor = queue(status)
        let version = try await monitor.schemaVersion()
        XCTAssertEqual(version, QueueSchema.latest)
        let seen = try await monitor.status()
        XCTAssertEqual(seen.jobs["failed"], 1)
        XCTAssertEqual(seen.workers.map(\.name), ["h:1"])

        let pause = await refusal { try await monitor.setPaused(true) }
        XCTAssertTrue(pause.contains("permission denied for table mtrnn_control"), pause)
        XCTAssertTrue(pause.contains("need UPDATE on mtrnn_control, which role mtrnn_status lacks"), pause)
        XCTAssertTrue(pause.contains("mtrnn_operator"), pause)
        let retry = await refusal { _ = try await monitor.retryFailed(path: nil) }
        XCTAssertTrue(retry.contains("permission denied for table mtrnn_jobs"), retry)
        XCTAssertTrue(retry.contains("retry --cluster needs UPDATE on mtrnn_jobs"), retry)
        for sql in ["DELETE FROM mtrnn_jobs", "INSERT INTO mtrnn_control VALUES (2, true)", "UPDATE mtrnn_workers SET done = 9",
                    "TRUNCATE mtrnn_jobs", "DROP TABLE mtrnn_jobs", "CREATE TABLE x (a int)"] {
            let m = await refusal { try await monitor.execute(unsafeSQL: sql) }
            XCTAssertTrue(m.contains("permission denied") || m.contains("must be owner"), "\(sql): \(m)")
        }
        // A daemon given the status role by mistake stops at once (exit 78), saying why.
        let migrate = await refusal { try await monitor.migrate() }
        XCTAssertTrue(migrate.contains("permission denied for schema public"), migrate)
        XCTAssertTrue(migrate.contains("must connect as the role that owns the tables"), migrate)
        let again = try await daemon.status()
        XCTAssertFalse(again.paused)
        XCTAssertEqual(again.jobs["failed"], 1, "the refusals changed nothing")
    }

    func testTheOperatorRolePausesResumesAndRetriesOnlyWithItsGrants() async throws {
        let operatorLocation = try role("MTRNN_TEST_OPERATOR_QUEUE")
        let daemon = queue(owner)
        try await daemon.migrate()
        try await daemon.insert(path: "a.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await daemon.claim(worker: "w", leaseSeconds: 60))
        try await daemon.finish(job: job.id, state: "failed", reason: "bad", filedAs: "a.jpg")
        let op = queue(operatorLocation)
        // Before its grants (the tables are new): status only, as mtrnn_status.
        let seen = try await op.status()
        XCTAssertEqual(seen.jobs["failed"], 1)
        let before = await refusal { try await op.setPaused(true) }
        XCTAssertTrue(before.contains("permission denied for table mtrnn_control"), before)

        try await apply("cluster-operator-grants.sql")
        try await op.setPaused(true)
        let paused = try await daemon.isPaused()
        XCTAssertTrue(paused)
        try await op.setPaused(false)
        let retried = try await op.retryFailed(path: "a.jpg")
        XCTAssertEqual(retried, 1)
        for sql in ["DELETE FROM mtrnn_jobs", "INSERT INTO mtrnn_jobs (path, size, mtime_ns, content_hash) VALUES ('x', 1, 1, 'h')",
                    "UPDATE mtrnn_workers SET done = 9", "UPDATE mtrnn_schema_version SET version = 9", "DROP TABLE mtrnn_control"] {
            let m = await refusal { try await op.execute(unsafeSQL: sql) }
            XCTAssertTrue(m.contains("permission denied") || m.contains("must be owner"), "\(sql): \(m)")
        }
    }

    // MARK: the last error: when, and whether it is over

    func testTheLastErrorHasItsTimeAndIsResolvedOnceTheWorkerHasWorkedSince() async throws {
        let q = queue(owner)
        try await q.migrate()
        try await q.register(.init(name: "h:1", host: "h", pid: 1, role: "worker", state: "idle"))
        var w = try await q.status().workers[0]
        XCTAssertNil(w.lastError); XCTAssertNil(w.lastErrorAt); XCTAssertNil(w.lastErrorResolved)
        let json = String(decoding: try JSONEncoder().encode(w), as: UTF8.self)
        XCTAssertTrue(json.contains("\"last_error_at\":null") && json.contains("\"last_error_resolved\":null"), json)

        // Lost the database, back: the first word records the error.
        try await q.report(worker: "h:1", state: "idle", jobID: nil, photo: nil, lastError: "cannot reach the queue database x: gone")
        w = try await q.status().workers[0]
        XCTAssertEqual(w.lastError, "cannot reach the queue database x: gone")
        XCTAssertEqual(w.lastErrorResolved, false)
        XCTAssertLessThan(try XCTUnwrap(w.secondsSinceLastError), 10)
        let at = try XCTUnwrap(w.lastErrorAt)
        let parsed = try XCTUnwrap(ISO8601DateFormatter().date(from: at), at)
        XCTAssertLessThan(abs(parsed.timeIntervalSinceNow), 60, "\(at) is the database's now, in UTC")
        try await q.execute(unsafeSQL: "UPDATE mtrnn_workers SET last_error_at = last_error_at - interval '3 minutes 5 seconds'")
        var text = try await q.status().text
        XCTAssertTrue(text.contains("    last error 3 min ago (not resolved yet): cannot reach the queue database x: gone"), text)

        // It finishes a photo (the completion alone, as under a busy queue): over.
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await q.claim(worker: "h:1", leaseSeconds: 60))
        try await q.complete(job: job.id, worker: "h:1", seconds: 1)
        w = try await q.status().workers[0]
        XCTAssertEqual(w.lastErrorResolved, true)
        XCTAssertEqual(w.lastError, "cannot reach the queue database x: gone", "the error stays, with its time")
        text = try await q.status().text
        XCTAssertTrue(text.contains("    last error 3 min ago (resolved: it has worked since): cannot reach"), text)

        // A new error: not over; a clean report (idle, the queue empty): over.
        try await q.report(worker: "h:1", state: "idle", jobID: nil, photo: nil, lastError: "the outbox is read-only")
        w = try await q.status().workers[0]
        XCTAssertEqual(w.lastErrorResolved, false)
        XCTAssertLessThan(try XCTUnwrap(w.secondsSinceLastError), 10)
        try await Task.sleep(for: .milliseconds(20))
        try await q.report(worker: "h:1", state: "idle", jobID: nil, photo: nil)
        w = try await q.status().workers[0]
        XCTAssertEqual(w.lastErrorResolved, true)
        XCTAssertEqual(w.lastError, "the outbox is read-only")
        // A restart starts clean.
        try await q.register(.init(name: "h:1", host: "h", pid: 2, role: "worker", state: "idle"))
        w = try await q.status().workers[0]
        XCTAssertNil(w.lastError); XCTAssertNil(w.lastErrorAt); XCTAssertNil(w.lastErrorResolved)
    }

    func testSchemaVersion2KeepsAVersion1DatabaseAndItsWorkersLastError() async throws {
        let q = queue(owner)
        try await q.migrate(upTo: 1)
        try await q.execute(unsafeSQL: """
            INSERT INTO mtrnn_workers (name, host, pid, role, state, done, last_error) VALUES ('old:1', 'old', 1, 'worker', 'idle', 4, 'lost it')
            """)
        try await q.insert(path: "a.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        // This mtrnnctl reads the database before its daemons have migrated it.
        let before = try await q.status()
        XCTAssertEqual(before.workers.map(\.lastError), ["lost it"])
        XCTAssertEqual(before.workers.map(\.lastErrorAt), [nil])
        let found = try await q.migrate()
        XCTAssertEqual(found, 1)
        let version = try await q.schemaVersion()
        XCTAssertEqual(version, QueueSchema.latest)
        var status = try await q.status()
        XCTAssertEqual(status.jobs["queued"], 1)
        var w = status.workers[0]
        XCTAssertEqual(w.lastError, "lost it")
        XCTAssertNil(w.lastErrorAt, "recorded before its time was")
        XCTAssertEqual(w.lastErrorResolved, false)
        XCTAssertTrue(status.text.contains("    last error (not resolved yet): lost it"), status.text)
        let job = try await XCTUnwrapAsync(try await q.claim(worker: "old:1", leaseSeconds: 60))
        try await q.complete(job: job.id, worker: "old:1", seconds: 1)
        status = try await q.status()
        w = status.workers[0]
        XCTAssertEqual(w.lastErrorResolved, true, "a photo finished after the upgrade")
    }

    // MARK: job retention

    func retention(batch: Int = 10_000) -> ClusterRetention {
        var config = WatchConfig()
        config.inbox = folder + "/inbox"
        config.failed = folder + "/failed"
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var r = ClusterRetention(config: config, queue: queue(owner), logger: logger)
        r.batch = batch
        return r
    }

    /// A photo in the inbox (or failed/); returns its size and mtime.
    @discardableResult
    func photo(_ relative: String, _ bytes: String = "\u{FF}\u{D8}photo") throws -> (Int, Int) {
        let path = folder + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes.utf8).write(to: URL(fileURLWithPath: path))
        var st = stat()
        XCTAssertEqual(lstat(path, &st), 0)
        return (Int(st.st_size), Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec))
    }

    /// A job for `path` taken to `state`; its id.
    func job(_ q: PostgresQueue, _ path: String, size: Int = 1, mtime: Int = 1, state: String, filedAs: String? = nil)
        async throws -> Int {
        try await q.insert(path: path, size: size, mtimeNanoseconds: mtime, contentHash: "h-" + path)
        let j = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        XCTAssertEqual(j.path, path)
        switch state {
        case "done": try await q.complete(job: j.id, worker: "w", seconds: 1)
        case "failed", "gone": try await q.finish(job: j.id, state: state, reason: "r", filedAs: filedAs)
        default: break
        }
        return j.id
    }

    /// The finished jobs left.
    func ids(_ q: PostgresQueue) async throws -> Set<Int> {
        let (jobs, _) = try await q.finishedJobs(olderThanDays: 0, after: nil, limit: 1_000_000)
        return Set(jobs.map(\.id))
    }

    func testRetentionDeletesOldFinishedJobsWhosePhotoIsGoneAndKeepsThoseThatStillMatter() async throws {
        let r = retention(batch: 2)   // small batches: the walk must get past kept rows
        let q = r.queue
        try await q.migrate()
        // Kept: the photo is still in the inbox as that version (originals = keep), or in failed/.
        let (ks, km) = try photo("inbox/keep/a.jpg")
        let keptInInbox = try await job(q, "keep/a.jpg", size: ks, mtime: km, state: "done")
        try photo("failed/bad.jpg", "not a photo")
        let keptFailed = try await job(q, "bad.jpg", state: "failed", filedAs: "bad.jpg")
        let (fs, fm) = try photo("failed/again.jpg")
        try await q.insert(path: "again-src.jpg", size: 9, mtimeNanoseconds: 9, contentHash: "x")
        let again = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        try await q.finish(job: again.id, state: "failed", reason: "r", filedAs: "again.jpg")
        _ = try await q.retryFailed(path: "again.jpg")   // now origin failed, path again.jpg
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET size = \(fs), mtime_ns = \(fm) WHERE id = \(again.id)")
        let retriedDone = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        XCTAssertEqual(retriedDone.id, again.id)
        try await q.complete(job: again.id, worker: "w", seconds: 1)   // done, but its original is still in failed/
        // Deleted: archived (gone from the inbox), changed since, gone, failed and taken out of failed/.
        let archived = try await job(q, "b.jpg", state: "done")
        let (cs, cm) = try photo("inbox/c.jpg", "\u{FF}\u{D8}c, first version")
        let changed = try await job(q, "c.jpg", size: cs, mtime: cm, state: "done")
        try photo("inbox/c.jpg", "\u{FF}\u{D8}c, second version, longer")
        let gone = try await job(q, "d.jpg", state: "gone")
        let failedTaken = try await job(q, "e.jpg", state: "failed", filedAs: "e.jpg")
        // Untouched: finished recently, queued, running.
        let recent = try await job(q, "f.jpg", state: "done")
        let running = try await job(q, "g.jpg", state: "running")
        try await q.insert(path: "h.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "q")
        // Aged: the kept ones oldest, so that the first batches hold only rows to keep.
        try await q.execute(unsafeSQL: """
            UPDATE mtrnn_jobs SET finished_at = now() - interval '40 days' + id * interval '1 minute'
            WHERE id <> \(recent) AND state IN ('done', 'failed', 'gone')
            """)
        try await q.execute(unsafeSQL: """
            UPDATE mtrnn_jobs SET finished_at = now() - interval '50 days' WHERE id IN (\(keptInInbox), \(keptFailed), \(again.id))
            """)
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET inserted_at = now() - interval '90 days'")

        let pass = try await XCTUnwrapAsync(try await r.pass(days: 30, expected: r.devices()))
        XCTAssertEqual(pass.examined, 7)
        XCTAssertEqual(pass.kept, 3)
        XCTAssertEqual(pass.deleted, 4)
        XCTAssertEqual(pass.requeued, 0)
        XCTAssertGreaterThanOrEqual(pass.batches, 4)
        let left = try await ids(q)
        XCTAssertEqual(left, [keptInInbox, keptFailed, again.id, recent])
        for d in [archived, changed, gone, failedTaken] { XCTAssertFalse(left.contains(d)) }
        let status = try await q.status()
        XCTAssertEqual(status.jobs["running"], 1, "job \(running) is running")
        XCTAssertEqual(status.jobs["queued"], 1)
        // What the kept rows are for: the photo kept in the inbox is not queued
        // again, and the failed one can still be retried.
        let requeued = try await q.insert(path: "keep/a.jpg", size: ks, mtimeNanoseconds: km, contentHash: "h-keep/a.jpg")
        XCTAssertFalse(requeued)
        let retry = try await q.retryFailed(path: "bad.jpg")
        XCTAssertEqual(retry, 1)
        // A second pass finds nothing more to delete.
        let second = try await XCTUnwrapAsync(try await r.pass(days: 30, expected: nil))
        XCTAssertEqual(second.deleted, 0)
    }

    func testRetentionSkipsAPassWhileTheFoldersAreUnreachableOrOnAnotherFileSystem() async throws {
        let r = retention()
        try await r.queue.migrate()
        let old = try await job(r.queue, "b.jpg", state: "done")
        try await r.queue.execute(unsafeSQL: "UPDATE mtrnn_jobs SET finished_at = now() - interval '31 days'")
        let seen = try XCTUnwrap(r.devices())
        var moved = seen
        moved.inbox &+= 1   // as an unmounted share's empty mount point would be
        let skipped = try await r.pass(days: 30, expected: moved)
        XCTAssertNil(skipped)
        try FileManager.default.removeItem(atPath: folder + "/failed")
        let unreachable = try await r.pass(days: 30, expected: nil)
        XCTAssertNil(unreachable)
        var left = try await ids(r.queue)
        XCTAssertEqual(left, [old])
        try FileManager.default.createDirectory(atPath: folder + "/failed", withIntermediateDirectories: true)
        let pass = try await r.pass(days: 30, expected: seen)
        XCTAssertEqual(pass?.deleted, 1)
        left = try await ids(r.queue)
        XCTAssertEqual(left, [])
    }

    func testAPhotoDroppedAgainWhileItsOldJobIsDeletedIsQueuedAgain() async throws {
        let r = retention()
        let q = r.queue
        try await q.migrate()
        let (s, m) = try photo("inbox/back.jpg")
        let old = try await job(q, "back.jpg", size: s, mtime: m, state: "done")
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET finished_at = now() - interval '31 days'")
        // The pass looks while the photo is away (archived), and it is dropped
        // again (the same bytes and times) before the delete: the job row
        // that would have stopped a watcher's insert is gone, so the pass queues it.
        let away = folder + "/back.away"
        try FileManager.default.moveItem(atPath: folder + "/inbox/back.jpg", toPath: away)
        let (jobs, _) = try await q.finishedJobs(olderThanDays: 30, after: nil, limit: 10)
        XCTAssertEqual(jobs.map(\.id), [old])
        XCTAssertFalse(r.keeps(jobs[0]))
        let deleted = try await q.deleteFinished(ids: [old], olderThanDays: 30)
        XCTAssertEqual(deleted, [old])
        try FileManager.default.moveItem(atPath: away, toPath: folder + "/inbox/back.jpg")
        // What the pass does next with what it deleted:
        let requeued = try await r.requeueDroppedAgain(jobs)
        XCTAssertEqual(requeued, 1)
        let status = try await q.status()
        XCTAssertEqual(status.jobs["queued"], 1)
        let claimed = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        XCTAssertEqual(claimed.path, "back.jpg")
    }

    func testADeletedFinishedJobMustStillBeFinishedAndOld() async throws {
        let q = queue(owner)
        try await q.migrate()
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let j = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        try await q.finish(job: j.id, state: "failed", reason: "r", filedAs: "x.jpg")
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET finished_at = now() - interval '31 days'")
        let (jobs, _) = try await q.finishedJobs(olderThanDays: 30, after: nil, limit: 10)
        XCTAssertEqual(jobs.map(\.id), [j.id])
        // Retried between the look and the delete: it is queued, and stays.
        _ = try await q.retryFailed(path: "x.jpg")
        let deleted = try await q.deleteFinished(ids: [j.id], olderThanDays: 30)
        XCTAssertEqual(deleted, [])
        let status = try await q.status()
        XCTAssertEqual(status.jobs["queued"], 1)
    }
}
