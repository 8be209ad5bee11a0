@testable import ClusterQueue
import Foundation
import Logging
import XCTest

/// The shared queue against a real PostgreSQL: $MTRNN_TEST_QUEUE (scripts/test.sh
/// starts a scratch server, scripts/pg-scratch.sh). Without it these tests
/// are skipped and say so; scripts/test.sh always sets it.
final class PostgresQueueTests: XCTestCase {
    var location: QueueLocation!
    var queues: [PostgresQueue] = []

    override func setUp() async throws {
        guard let url = ProcessInfo.processInfo.environment["MTRNN_TEST_QUEUE"] else {
            throw XCTSkip("MTRNN_TEST_QUEUE is not set: no PostgreSQL to test against (scripts/test.sh starts one)")
        }
        location = try XCTUnwrap(try QueueLocation.parse(url))
        let admin = queue()
        try await admin.execute(unsafeSQL: "DROP TABLE IF EXISTS mtrnn_jobs, mtrnn_workers, mtrnn_control, mtrnn_schema_version")
    }

    override func tearDown() async throws {
        for q in queues { await q.close() }
        queues = []
    }

    func queue() -> PostgresQueue {
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let q = PostgresQueue(location: location, logger: logger)
        queues.append(q)
        return q
    }

    func testMigrationCreatesTheTablesOnceEvenWhenDaemonsStartTogether() async throws {
        let before = try await queue().schemaVersion()
        XCTAssertEqual(before, 0)
        // Four daemons starting at once: the advisory lock lets one create, the others find it made.
        let found = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 { let q = queue(); group.addTask { try await q.migrate() } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        XCTAssertEqual(found.sorted(), [0] + Array(repeating: QueueSchema.latest, count: 3))
        let after = try await queue().schemaVersion()
        XCTAssertEqual(after, QueueSchema.latest)
        let again = try await queue().migrate()
        XCTAssertEqual(again, QueueSchema.latest)
    }

    func testANewerSchemaIsRefusedNotDowngraded() async throws {
        let q = queue()
        try await q.migrate()
        try await q.execute(unsafeSQL: "UPDATE mtrnn_schema_version SET version = 99")
        do {
            try await q.migrate()
            XCTFail("a schema newer than this build must stop the daemon")
        } catch {
            guard case .newerSchema(99, QueueSchema.latest) = error else { return XCTFail("\(error)") }
        }
    }

    func testInsertIsIdempotentOnPathSizeMtimeAndContent() async throws {
        let q = queue()
        try await q.migrate()
        let first = try await q.insert(path: "a.jpg", size: 10, mtimeNanoseconds: 5, contentHash: "abc")
        let second = try await q.insert(path: "a.jpg", size: 10, mtimeNanoseconds: 5, contentHash: "abc")
        let newBytes = try await q.insert(path: "a.jpg", size: 10, mtimeNanoseconds: 5, contentHash: "abd")
        XCTAssertTrue(first)
        XCTAssertFalse(second, "the same version of a photo, seen by two watchers, is one job")
        XCTAssertTrue(newBytes, "new content under the same name, size and time is a new job")
        let status = try await q.status()
        XCTAssertEqual(status.jobs["queued"], 2)
    }

    func testConcurrentClaimsNeverTakeTheSameJob() async throws {
        let q = queue()
        try await q.migrate()
        for i in 0..<20 { try await q.insert(path: "p\(i).jpg", size: i, mtimeNanoseconds: 1, contentHash: "h") }
        let workers = (0..<6).map { _ in queue() }
        let claimed = try await withThrowingTaskGroup(of: [Int].self) { group in
            for (n, w) in workers.enumerated() {
                group.addTask {
                    var mine: [Int] = []
                    while let job = try await w.claim(worker: "w\(n)", leaseSeconds: 60) { mine.append(job.id) }
                    return mine
                }
            }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        XCTAssertEqual(claimed.count, 20)
        XCTAssertEqual(Set(claimed).count, 20, "a job was claimed twice: \(claimed.sorted())")
        let status = try await q.status()
        XCTAssertEqual(status.jobs["running"], 20)
        XCTAssertEqual(status.queueDepth, 0)
    }

    func testAnExpiredLeaseIsClaimedAgainWithTheAttemptCounted() async throws {
        let q = queue(), a = queue(), b = queue()
        try await q.migrate()
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let first = try await a.claim(worker: "a", leaseSeconds: 60)
        XCTAssertEqual(first?.attempt, 1)
        let whileLeased = try await b.claim(worker: "b", leaseSeconds: 60)
        XCTAssertNil(whileLeased, "a job under a live lease is nobody else's")
        // a dies: its lease runs out (aged here instead of waiting a minute).
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET lease_until = now() - interval '1 second'")
        let status = try await q.status()
        XCTAssertEqual(status.expiredLeases, 1)
        XCTAssertEqual(status.queueDepth, 1)
        let second = try await b.claim(worker: "b", leaseSeconds: 60)
        XCTAssertEqual(second?.id, first?.id)
        XCTAssertEqual(second?.attempt, 2)
        // a comes back: its lease is gone, it cannot renew, it cannot give the job back.
        let renewed = try await a.renew(job: first!.id, worker: "a", attempt: 1, leaseSeconds: 60, stage: "deblurring", tilesDone: 1, tilesTotal: 2)
        XCTAssertFalse(renewed)
        try await a.release(job: first!.id, worker: "a", attempt: 1)
        let afterRelease = try await q.status()
        XCTAssertEqual(afterRelease.jobs["running"], 1, "a stale worker's release must not requeue b's job")
    }

    func testRenewingKeepsTheLeaseAndShortLeasesExpireInRealTime() async throws {
        let q = queue(), a = queue(), b = queue()
        try await q.migrate()
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await a.claim(worker: "a", leaseSeconds: 1))
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(500))
            let ours = try await a.renew(job: job.id, worker: "a", attempt: 1, leaseSeconds: 1, stage: "deblurring", tilesDone: 1, tilesTotal: 4)
            XCTAssertTrue(ours)
            let stolen = try await b.claim(worker: "b", leaseSeconds: 1)
            XCTAssertNil(stolen, "a renewed lease must hold")
        }
        try await Task.sleep(for: .milliseconds(1500))   // a stops renewing (hung or dead)
        let taken = try await b.claim(worker: "b", leaseSeconds: 1)
        XCTAssertEqual(taken?.id, job.id)
        XCTAssertEqual(taken?.attempt, 2)
    }

    func testReleaseGivesTheJobBackWithoutCountingTheAttempt() async throws {
        let q = queue()
        try await q.migrate()
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await q.claim(worker: "a", leaseSeconds: 60))
        try await q.release(job: job.id, worker: "a", attempt: job.attempt)
        let again = try await q.claim(worker: "b", leaseSeconds: 60)
        XCTAssertEqual(again?.attempt, 1)
    }

    func testPauseStopsClaimsClusterWideAndResumeRestartsThem() async throws {
        let q = queue(), w = queue()
        try await q.migrate()
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        try await q.setPaused(true)
        let paused = try await w.isPaused()
        XCTAssertTrue(paused)
        let none = try await w.claim(worker: "w", leaseSeconds: 60)
        XCTAssertNil(none)
        let status = try await q.status()
        XCTAssertTrue(status.paused)
        try await q.setPaused(false)
        let some = try await w.claim(worker: "w", leaseSeconds: 60)
        XCTAssertNotNil(some)
    }

    func testAResultNameIsReservedForOneJobOnly() async throws {
        let q = queue()
        try await q.migrate()
        try await q.insert(path: "a/x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h1")
        try await q.insert(path: "a/x.jpg", size: 2, mtimeNanoseconds: 2, contentHash: "h2")
        let one = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        let two = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        let r1 = try await q.reserveOutput(job: one.id, name: "a/x.jpg")
        let r2 = try await q.reserveOutput(job: two.id, name: "a/x.jpg")
        let r3 = try await q.reserveOutput(job: two.id, name: "a/x-1.jpg")
        XCTAssertTrue(r1); XCTAssertFalse(r2); XCTAssertTrue(r3)
        // Every later attempt of the job sees its reserved name.
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET lease_until = now() - interval '1 second' WHERE id = \(one.id)")
        let retried = try await q.claim(worker: "w2", leaseSeconds: 60)
        XCTAssertEqual(retried?.outputName, "a/x.jpg")
    }

    func testFailedJobsAreRetriedFromFailedFolder() async throws {
        let q = queue()
        try await q.migrate()
        try await q.insert(path: "s/bad.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        try await q.finish(job: job.id, state: "failed", reason: "truncated", filedAs: "s/bad-1.jpg")
        let status = try await q.status()
        XCTAssertEqual(status.jobs["failed"], 1)
        let none = try await q.retryFailed(path: "other.jpg")
        XCTAssertEqual(none, 0)
        let n = try await q.retryFailed(path: "s/bad-1.jpg")
        XCTAssertEqual(n, 1)
        let again = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        XCTAssertEqual(again.origin, "failed")
        XCTAssertEqual(again.path, "s/bad-1.jpg")
        XCTAssertEqual(again.attempt, 1)
    }

    func testWorkersReportInTheStatus() async throws {
        let q = queue()
        try await q.migrate()
        try await q.register(.init(name: "h1:1", host: "h1", pid: 1, role: "worker", state: "idle"))
        try await q.insert(path: "x.jpg", size: 1, mtimeNanoseconds: 1, contentHash: "h")
        let job = try await XCTUnwrapAsync(try await q.claim(worker: "h1:1", leaseSeconds: 60))
        // The claim marks the worker's row in the same statement.
        try await q.renew(job: job.id, worker: "h1:1", attempt: 1, leaseSeconds: 60, stage: "deblurring", tilesDone: 3, tilesTotal: 8)
        var status = try await q.status()
        XCTAssertEqual(status.workers.count, 1)
        XCTAssertEqual(status.workers[0].photo, "x.jpg")
        XCTAssertEqual(status.workers[0].tilesDone, 3)
        XCTAssertEqual(status.workers[0].tilesTotal, 8)
        XCTAssertEqual(status.workers[0].state, "working")
        XCTAssertTrue(status.text.contains("h1:1 on h1 [worker] working: x.jpg (deblurring, tile 3/8)"), status.text)
        // ...and the completion makes it idle again, with the photo counted once.
        try await q.complete(job: job.id, worker: "h1:1", seconds: 2)
        // A worker not heard from for a while shows as silent.
        try await q.execute(unsafeSQL: "UPDATE mtrnn_workers SET heartbeat = now() - interval '5 minutes'")
        status = try await q.status()
        XCTAssertEqual(status.workers[0].busyFraction > 0, true)
        XCTAssertEqual(status.jobs["done"], 1)
        XCTAssertEqual(status.workers[0].done, 1)
        XCTAssertNil(status.workers[0].photo)
        XCTAssertEqual(status.workers[0].state, "silent")
        XCTAssertGreaterThan(status.photosPerHour, 0)
        let json = try JSONEncoder().encode(status)
        XCTAssertEqual(try JSONDecoder().decode(ClusterStatus.self, from: json), status)
        // The conventions of `mtrnnctl status --json`: snake_case, a version, nulls present.
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        XCTAssertEqual(object["version"] as? Int, ClusterStatus.schemaVersion)
        XCTAssertNotNil(object["queue_depth"])
        XCTAssertNil(object["queueDepth"])
        let worker = try XCTUnwrap((object["workers"] as? [[String: Any]])?.first)
        XCTAssertEqual(worker["tiles_done"] as? Int, 0)
        XCTAssertTrue(worker["photo"] is NSNull, "an absent value is null, not left out: \(worker)")
    }

    func testACompletionClaimsTheNextJobInTheSameStatement() async throws {
        let q = queue()
        try await q.migrate()
        try await q.register(.init(name: "w", host: "h", pid: 1, role: "worker", state: "idle"))
        for i in 0..<2 { try await q.insert(path: "p\(i).jpg", size: i, mtimeNanoseconds: 1, contentHash: "h") }
        let first = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        // Its lease has run out while it worked: the claim must still not hand it back to itself.
        try await q.execute(unsafeSQL: "UPDATE mtrnn_jobs SET lease_until = now() - interval '1 second' WHERE id = \(first.id)")
        let second = try await XCTUnwrapAsync(
            try await q.complete(job: first.id, worker: "w", seconds: 1, thenClaimWithLease: 60))
        XCTAssertNotEqual(second.id, first.id)
        XCTAssertEqual(second.path, "p1.jpg")
        XCTAssertEqual(second.attempt, 1)
        var status = try await q.status()
        XCTAssertEqual(status.jobs["done"], 1)
        XCTAssertEqual(status.jobs["running"], 1)
        XCTAssertEqual(status.workers[0].state, "working")
        XCTAssertEqual(status.workers[0].photo, "p1.jpg")
        XCTAssertEqual(status.workers[0].done, 1)
        // Nothing left: done, and the worker idle with both photos counted.
        let none = try await q.complete(job: second.id, worker: "w", seconds: 1, thenClaimWithLease: 60)
        XCTAssertNil(none)
        status = try await q.status()
        XCTAssertEqual(status.jobs["done"], 2)
        XCTAssertEqual(status.workers[0].state, "idle")
        XCTAssertNil(status.workers[0].photo)
        XCTAssertEqual(status.workers[0].done, 2)
        // Paused: the completion counts, the claim takes nothing.
        try await q.insert(path: "p2.jpg", size: 2, mtimeNanoseconds: 1, contentHash: "h")
        let third = try await XCTUnwrapAsync(try await q.claim(worker: "w", leaseSeconds: 60))
        try await q.insert(path: "p3.jpg", size: 3, mtimeNanoseconds: 1, contentHash: "h")
        try await q.setPaused(true)
        let whilePaused = try await q.complete(job: third.id, worker: "w", seconds: 1, thenClaimWithLease: 60)
        XCTAssertNil(whilePaused)
        status = try await q.status()
        XCTAssertEqual(status.jobs["done"], 3)
        XCTAssertEqual(status.jobs["queued"], 1)
        // An idle poll that claims nothing leaves the worker's row alone ('paused' stays).
        try await q.report(worker: "w", state: "paused", jobID: nil, photo: nil)
        let poll = try await q.claim(worker: "w", leaseSeconds: 60)
        XCTAssertNil(poll)
        status = try await q.status()
        XCTAssertEqual(status.workers[0].state, "paused")
    }

    func testAnUnreachableDatabaseIsReportedAsSuch() async throws {
        var nowhere = location!
        nowhere.socketDirectory = "/nonexistent-\(getpid())"
        let q = PostgresQueue(location: nowhere, logger: Logger(label: "test"))
        do {
            _ = try await q.claim(worker: "w", leaseSeconds: 1)
            XCTFail("no server there")
        } catch {
            XCTAssertTrue(error.isUnreachable, "\(error)")
            XCTAssertTrue("\(error)".contains("cannot reach the queue database postgresql://"), "\(error)")
        }
    }
}

func XCTUnwrapAsync<T>(_ value: @autoclosure () async throws -> T?, file: StaticString = #filePath, line: UInt = #line) async throws -> T {
    let v = try await value()
    return try XCTUnwrap(v, file: file, line: line)
}
