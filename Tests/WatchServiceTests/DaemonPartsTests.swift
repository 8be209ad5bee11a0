import Deblur
import Foundation
import Logging
import PhotoIO
import Synchronization
import Testing
import WatchControl
@testable import WatchService

/// The queue as a value: order, pause, retries first, backing off.
@Suite struct JobQueueTests {
    @Test func jobsComeOutInOrderAndOnlyOneAtATime() {
        var q = JobQueue()
        let added = [q.add(Job("a.jpg")), q.add(Job("b.jpg")), q.add(Job("a.jpg"))]
        #expect(added == [true, true, false], "a job waits once")
        #expect(q.count == 2 && q.isQueued(Job("a.jpg")))
        let first = q.takeNext(), whileBusy = q.takeNext()
        #expect(first == Job("a.jpg") && whileBusy == nil, "one photo at a time")
        #expect(q.current == Job("a.jpg") && q.contains(Job("a.jpg")) && !q.isQueued(Job("a.jpg")))
        q.finish(q.current!)
        let second = q.takeNext()
        q.finish(q.current!)
        let none = q.takeNext()
        #expect(second == Job("b.jpg") && none == nil && q.isEmpty)
    }

    /// Overlapping photos: two in flight at most, the oldest is current; a
    /// photo that was in flight when the daemon died, and a retry from
    /// failed/, go through alone (nothing taken beside them, and they wait
    /// for the one in flight to end).
    @Test func twoInFlightAtMostAndSoloJobsAlone() {
        var q = JobQueue()
        q.capacity = 2
        for name in ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"] { q.add(Job(name)) }
        q.markSolo(Job("c.jpg"))
        let a = q.takeNext(), b = q.takeNext(), full = q.takeNext()
        #expect(a == Job("a.jpg") && b == Job("b.jpg") && full == nil, "two in flight at most")
        #expect(q.current == Job("a.jpg") && q.isInFlight(Job("b.jpg")) && q.contains(Job("b.jpg")))
        q.finish(Job("a.jpg"))
        let soloBesideB = q.takeNext()
        #expect(soloBesideB == nil && q.current == Job("b.jpg"), "the solo job waits for b to end")
        q.finish(Job("b.jpg"))
        let c = q.takeNext(), besideSolo = q.takeNext()
        #expect(c == Job("c.jpg") && besideSolo == nil, "nothing beside a solo job")
        q.finish(Job("c.jpg"))
        #expect(!q.isSolo(Job("c.jpg")), "solo for one turn")
        let d = q.takeNext(), e = q.takeNext()
        #expect(d == Job("d.jpg") && e == Job("e.jpg"))
        q.finish(Job("e.jpg"))
        #expect(q.current == Job("d.jpg") && q.inFlight == [Job("d.jpg")], "finished out of order")
        q.add(Job("r.jpg", origin: .failed), first: true)
        let retryBesideD = q.takeNext()
        q.finish(Job("d.jpg"))
        let retry = q.takeNext()
        #expect(retryBesideD == nil && retry == Job("r.jpg", origin: .failed), "a retry goes through alone")
    }

    /// The same path from failed/ is another job than from the inbox.
    @Test func retriesGoFirstTheLatestFirst() {
        var q = JobQueue()
        q.add(Job("a.jpg"))
        q.add(Job("b.jpg"))
        let retry = q.add(Job("a.jpg", origin: .failed), first: true)
        #expect(retry)
        _ = q.takeNext()
        q.finish(q.current!)
        q.add(Job("x.jpg", origin: .failed), first: true)   // into the room the taken job left
        q.add(Job("y.jpg", origin: .failed), first: true)
        #expect(Array(q.waiting) == [Job("y.jpg", origin: .failed), Job("x.jpg", origin: .failed), Job("a.jpg"), Job("b.jpg")])
    }

    @Test func nothingIsTakenWhilePaused() {
        var q = JobQueue()
        q.add(Job("a.jpg"))
        q.pause()
        let whilePaused = q.takeNext()
        let liftedBySpace = q.resumeForSpace()
        #expect(whilePaused == nil && q.paused && !q.pausedForSpace)
        #expect(!liftedBySpace && q.paused, "a pause by mtrnnctl is not lifted by free space")
        q.resume()
        let resumed = q.takeNext()
        #expect(resumed == Job("a.jpg"))
        q.finish(q.current!)
        q.add(Job("b.jpg"))
        q.pauseForSpace()
        let whileFull = q.takeNext()
        let spaceBack = q.resumeForSpace()
        let afterSpace = q.takeNext()
        #expect(whileFull == nil && spaceBack && !q.paused && afterSpace == Job("b.jpg"))
    }

    /// 100,000 photos go through in order, a retry first, without shifting the array for each one.
    @Test func aLongQueueKeepsItsOrder() {
        var q = JobQueue()
        for i in 0..<100_000 { q.add(Job("p\(i).jpg")) }
        var taken = 0, outOfOrder = 0
        while let job = q.takeNext(), job.origin == .inbox {
            if job != Job("p\(taken).jpg") { outOfOrder += 1 }
            taken += 1
            q.finish(q.current!)
            if taken == 50_000 { q.add(Job("retry.jpg", origin: .failed), first: true) }
        }
        #expect(outOfOrder == 0 && taken == 50_000)
        #expect(q.current == Job("retry.jpg", origin: .failed), "the retry came next")
        q.finish(q.current!)
        q.removeAll { $0.origin == .inbox }
        #expect(q.isEmpty && !q.isQueued(Job("p60000.jpg")))
    }

    @Test func abandonedPhotosBackOffAndAreDueOnce() {
        var q = JobQueue()
        let t0 = ContinuousClock.now
        let delays = [q.abandon("a.jpg", now: t0)]
        let early = q.dueAbandoned(now: t0 + .seconds(4))
        let due = q.dueAbandoned(now: t0 + .seconds(5))
        let later = q.dueAbandoned(now: t0 + .seconds(60))
        #expect(delays == [5] && early.isEmpty && due == ["a.jpg"])
        #expect(later.isEmpty, "due once, until its next outcome")
        let backingOff = [q.abandon("a.jpg", now: t0), q.abandon("a.jpg", now: t0)]
        q.forgetAbandoned("a.jpg")
        let fresh = q.abandon("a.jpg", now: t0)
        #expect(backingOff == [10, 20] && fresh == 5, "a photo that went through starts again from 5 s")
        #expect(JobQueue.retryDelay(attempts: 50) == 300)
    }
}

/// What a found file, an outcome and a full disk do to the daemon's state.
@Suite struct DaemonStateTests {
    func state() -> DaemonState {
        var s = DaemonState(settleSeconds: 0)
        s.phase = .running
        return s
    }

    @Test func candidatesSettleUnlessIgnoredQueuedOrStopping() {
        var s = state()
        s.noteCandidate("a.jpg")
        s.noteCandidate(".a.jpg.part")
        s.queue.add(Job("b.jpg"))
        s.noteCandidate("b.jpg")
        #expect(Set(s.settle.candidates.keys) == ["a.jpg"])
        s.phase = .stopping
        s.noteCandidate("c.jpg")
        #expect(s.settle.candidates["c.jpg"] == nil)
    }

    /// A photo dropped under the name of the one in progress (a camera
    /// counter repeating) was lost when its event came before that photo's
    /// turn ended: it waits now, and is queued once the turn is over.
    @Test func aFileNamedLikeThePhotoInProgressWaitsForItsTurn() throws {
        let box = try Sandbox()
        var config = WatchConfig()
        config.inbox = box.path("inbox")
        config.stateDirectory = box.path("state")
        var s = state()
        s.queue.add(Job("IMG_0001.jpg"))
        _ = s.queue.takeNext()
        box.write("inbox/IMG_0001.jpg", fakeJPEG("second"))
        s.noteCandidate("IMG_0001.jpg")
        let t0 = ContinuousClock.now
        let whileBusy = s.queueSettled(config, now: t0)
        let stillBusy = s.queueSettled(config, now: t0 + .seconds(1))
        #expect(!whileBusy && !stillBusy && s.queue.isEmpty, "queued while its namesake is in progress")
        s.queue.finish(s.queue.current!)
        let afterTurn = s.queueSettled(config, now: t0 + .seconds(2))
        #expect(afterTurn && Array(s.queue.waiting) == [Job("IMG_0001.jpg")])
    }

    @Test func outcomesCountAndSayWhy() {
        var s = state()
        var done = ProcessingReport(megapixels: 2, tiles: 8, seconds: 4)
        done.detail = "2.9 iterations per tile"
        let record = s.record(Job("a.jpg"), .done(done), settleSeconds: 2)
        #expect(s.counts.done == 1 && s.counts.megapixelsTotal == 2)
        #expect(record.level == .info && record.message == "Deblurred a.jpg in 4.0 s (2.0 MP, 8 tiles; 2.9 iterations per tile)")
        #expect(record.fields[JournalField.seconds] == "4.000" && record.fields[JournalField.tiles] == "8")
        let failed = s.record(Job("b.jpg"), .failed(reason: "not a photo", movedTo: "/f/b.jpg"), settleSeconds: 2)
        #expect(s.counts.failed == 1 && s.counts.lastError == "b.jpg: not a photo" && s.counts.lastErrorFile == "b.jpg")
        #expect(failed.fields[JournalField.outcome] == "failed" && failed.fields[JournalField.reason] == "not a photo")
        let changed = s.record(Job("c.jpg"), .unsettled, settleSeconds: 2)
        #expect(s.settle.candidates["c.jpg"] != nil, "a changed photo settles again")
        #expect(changed.fields[JournalField.outcome] == "deferred" && changed.message.hasSuffix("for 2.0 s"))
    }

    @Test func aResourceFaultIsTriedAgainLaterButNotWhileStopping() {
        var s = state()
        let first = s.record(Job("a.jpg"), .abandoned(reason: "cannot create the outbox directory"), settleSeconds: 2)
        #expect(first.message == "Left a.jpg where it is: cannot create the outbox directory; trying again in 5 s")
        #expect(s.counts.failed == 0 && s.counts.lastError == "a.jpg: cannot create the outbox directory")
        let second = s.record(Job("a.jpg"), .abandoned(reason: "again"), settleSeconds: 2)
        #expect(second.message.hasSuffix("trying again in 10 s"))
        s.phase = .stopping
        let stopped = s.record(Job("b.jpg"), .abandoned(reason: "stopped before it was finished"), settleSeconds: 2)
        #expect(!stopped.message.contains("trying again"))
        #expect(s.counts.lastError == "a.jpg: again", "a stop is not an error")
    }

    @Test func aFullDiskPausesUntilSpaceReturns() {
        var s = state()
        let t0 = ContinuousClock.now
        let record = s.record(Job("a.jpg"), .noSpace(reason: "No space left on device"), settleSeconds: 2, now: t0)
        #expect(s.queue.paused && s.queue.pausedForSpace && s.counts.failed == 0)
        #expect(s.counts.lastError == "a.jpg: disk full: No space left on device")
        #expect(s.settle.candidates["a.jpg"] != nil, "the photo stays in the inbox and is taken again")
        #expect(record.level == .error && record.fields[JournalField.outcome] == "deferred")
        #expect(s.snapshot(model: "m", inbox: "/i", outbox: "/o").state == .paused)
        let stillFull = s.resumeIfSpaceReturned(outbox: "/o", state: "/s", now: t0 + .seconds(6)) { _ in 0 }
        let tooSoon = s.resumeIfSpaceReturned(outbox: "/o", state: "/s", now: t0 + .seconds(8)) { _ in 300 << 20 }
        let back = s.resumeIfSpaceReturned(outbox: "/o", state: "/s", now: t0 + .seconds(12)) { _ in 300 << 20 }
        #expect(!stillFull && !tooSoon, "checked every 5 s, not at every tick")
        #expect(back && !s.queue.paused && s.snapshot(model: "m", inbox: "/i", outbox: "/o").state == .idle)
    }

    /// The state mtrnnctl status shows is derived, never set by hand.
    @Test func theStateFollowsPhasePauseAndCurrentPhoto() {
        var s = DaemonState(settleSeconds: 0)
        func shown() -> StatusReport.State { s.snapshot(model: "", inbox: "", outbox: "").state }
        #expect(shown() == .starting)
        s.phase = .running
        #expect(shown() == .idle)
        s.queue.add(Job("a.jpg"))
        _ = s.queue.takeNext()
        #expect(shown() == .working)
        s.queue.pause()
        #expect(shown() == .paused)
        s.phase = .reloading
        #expect(shown() == .reloading)
        s.phase = .stopping
        #expect(shown() == .stopping)
    }
}

/// The status is built from one snapshot plus the current photo's progress.
@Suite struct LiveStatusTests {
    @Test func progressAndEtaComeFromThePipelinesVocabulary() {
        let live = LiveStatus()
        var snapshot = DaemonSnapshot()
        snapshot.phase = .running
        snapshot.queued = 4
        snapshot.current = "IMG_0042.jpg"
        live.publish(snapshot)
        live.update(DeblurProgress(deblurring: TileProgress(tilesDone: 3, tilesTotal: 8, elapsed: 30), elapsed: 31))
        // A report overtaken by a later tile does not move the status back.
        live.update(DeblurProgress(deblurring: TileProgress(tilesDone: 2, tilesTotal: 8, elapsed: 20), elapsed: 21))
        let r = live.report()
        #expect(r.state == .working && r.queued == 4)
        #expect(r.current?.tilesDone == 3 && r.current?.tilesTotal == 8)
        #expect(r.current?.etaSeconds == 50)
        #expect(abs((r.current?.fractionDone ?? 0) - (0.02 + 0.95 * 3 / 8)) < 1e-12)
        #expect(live.statusLine() == "Deblurring IMG_0042.jpg: 37%, 4 queued")
        // The next photo starts from nothing.
        snapshot.current = "next.jpg"
        live.publish(snapshot)
        #expect(live.report().current?.tilesDone == 0 && live.report().current?.etaSeconds == nil)
        snapshot.current = nil
        snapshot.counts.done = 2
        live.publish(snapshot)
        #expect(live.statusLine() == "Idle, 2 done, 0 failed, 4 queued")
    }
}

/// What `mtrnnctl` commands do to the queue, and what they answer.
@Suite struct ControlHandlerTests {
    func handler(_ box: Sandbox) -> ControlHandler {
        var c = WatchConfig()
        c.inbox = box.path("inbox")
        c.failed = box.path("failed")
        return ControlHandler(config: c, logger: Logger(label: "test"))
    }

    @Test func pauseAndResume() throws {
        let box = try Sandbox()
        var q = JobQueue()
        q.add(Job("a.jpg"))
        _ = q.takeNext()
        let (paused, _) = handler(box).handle(ControlRequest(command: .pause), queue: &q)
        #expect(paused.ok && paused.message == "paused; a.jpg will be finished first" && q.paused)
        q.add(Job("b.jpg"))
        let (resumed, followUp) = handler(box).handle(ControlRequest(command: .resume), queue: &q)
        #expect(resumed.message == "resumed; 1 queued" && !q.paused && followUp == .wakeWorker)
        let (_, rescan) = handler(box).handle(ControlRequest(command: .rescan), queue: &q)
        #expect(rescan == .rescan)
    }

    @Test func retryFindsTheNameInFailedOnly() throws {
        let box = try Sandbox()
        box.write("failed/bad.jpg", fakeJPEG("bad"))
        box.write("failed/bad.jpg.reason", Array("reason".utf8))
        box.write("inbox/new.jpg", fakeJPEG("new"))
        var q = JobQueue()
        let h = handler(box)
        let (queued, followUp) = h.retry("bad.jpg.reason", queue: &q)
        #expect(queued.ok && queued.message == "queued bad.jpg for a retry" && followUp == .wakeWorker)
        #expect(q.waiting.first == Job("bad.jpg", origin: .failed))
        let (again, _) = h.retry(box.path("failed/bad.jpg"), queue: &q)
        #expect(again.ok && again.message == "bad.jpg is already queued for a retry" && q.count == 1)
        let (outside, _) = h.retry(box.path("inbox/new.jpg"), queue: &q)
        #expect(!outside.ok && outside.error?.contains("is not in the failed directory") == true)
        let (missing, _) = h.retry("new.jpg", queue: &q)
        #expect(!missing.ok && missing.error?.hasPrefix("no failed photo new.jpg in ") == true)
        let (none, _) = h.retry(nil, queue: &q)
        #expect(!none.ok && none.error?.hasPrefix("retry needs a file") == true)
        q.pause()
        box.write("failed/other.jpg", fakeJPEG("other"))
        let (whilePaused, _) = h.retry("other.jpg", queue: &q)
        #expect(whilePaused.message == "queued other.jpg for a retry (paused: run `mtrnnctl resume`)")
    }
}

/// A reload loads the model again only for a pipeline setting.
@Suite struct ReloadPlanTests {
    /// A different valid value for every key that is the daemon's own.
    static let daemonOnly: [String: String] = [
        "inbox": "/srv/other-in", "outbox": "/srv/other-out", "archive": "/srv/other-archive", "failed": "/srv/other-failed",
        "state_dir": "/srv/other-state", "runtime_dir": "/srv/other-run", "recursive": "yes", "settle_seconds": "9",
        "poll_seconds": "30", "originals": "keep", "overlap_photos": "no", "operator_group": "root", "include": "*.jpg", "exclude": "x*",
        "log_level": "debug", "metrics_file": "/srv/m.prom", "metrics_interval": "60",
        "queue": "postgresql://m@db/m", "role": "worker", "lease_seconds": "30", "max_attempts": "5", "worker_name": "h-1",
        "job_retention_days": "7",
    ]

    @Test func daemonKeysNeverReloadTheModelAndPipelineKeysAlways() throws {
        let pipelineKeys = Set(DeblurOptions.settings.map(\.key))
        let allKeys = Set(WatchConfig.keys.map(\.name))
        #expect(allKeys == pipelineKeys.union(Self.daemonOnly.keys), "a key without a test value here")
        for (key, value) in Self.daemonOnly {
            var new = WatchConfig()
            try new.set(key, value)
            #expect(!ReloadPlan(old: WatchConfig(), new: new).newProcessor, "\(key) reloads the model")
        }
        let changed: [String: String] = [
            "weights": "/w.safetensors", "iterations": "3", "precision": "f32", "tile": "128", "overlap": "8",
            "jpeg_quality": "80", "max_megapixels": "12", "scale": "auto", "stop_below": "0", "skip_flat": "4",
            "sharp_photos": "skip", "sharp_threshold": "-10", "strength": "0.5", "colour_profile": "ignore",
        ]
        #expect(Set(changed.keys) == pipelineKeys)
        for (key, value) in changed {
            var new = WatchConfig()
            try new.set(key, value)
            #expect(ReloadPlan(old: WatchConfig(), new: new).newProcessor, "\(key) does not reload the model")
        }
    }

    @Test func restartOnlyKeysAreKeptAndTheInboxIsWatchedAgain() throws {
        var new = WatchConfig()
        try new.set("state_dir", "/srv/s")
        try new.set("poll_seconds", "5")
        let plan = ReloadPlan(old: WatchConfig(), new: new)
        #expect(plan.restartNeeded && plan.config.stateDirectory == WatchConfig().stateDirectory)
        #expect(plan.rewatch && plan.config.pollSeconds == 5 && !plan.newProcessor)
        #expect(!ReloadPlan(old: WatchConfig(), new: WatchConfig()).rewatch)
        // The shared queue's keys wait for a restart: a running daemon does not change queues.
        var shared = WatchConfig()
        try shared.set("queue", "postgresql://m@db/m")
        let queuePlan = ReloadPlan(old: WatchConfig(), new: shared)
        #expect(queuePlan.restartNeeded && !queuePlan.config.cluster.isShared)
    }
}

/// The bridge from the daemon to the deblur pipeline, on the engine's small
/// seeded weights and a small photo.
@Suite struct DeblurProcessorTests {
    static let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../MTRNNTests/Fixtures/weights.safetensors").standardizedFileURL

    static func options() -> DeblurOptions {
        DeblurOptions(weights: weights, iterations: 1, precision: .f32, tile: 32, overlap: 8, workers: 2, threadsPerWorker: 1)
    }

    static func photo(_ box: Sandbox, width: Int = 120, height: Int = 80) throws -> URL {
        let rgb: [UInt16] = (0..<(width * height * 3)).map { (i: Int) -> UInt16 in UInt16((i * 37 + i / 360) % 256) }
        let bytes = try PhotoIO.encode(Image(width: width, height: height, channels: 3, bitDepth: 8, samples: rgb, format: .png))
        box.write("in.png", bytes)
        return URL(fileURLWithPath: box.path("in.png"))
    }

    @Test func deblursWithProgressFromZeroToOne() async throws {
        let box = try Sandbox()
        let input = try Self.photo(box)
        let processor = try DeblurProcessor(options: Self.options())
        let seen = Mutex<[DeblurProgress]>([])
        let photo = try await processor.process(input: input) { p in seen.withLock { $0.append(p) } }
        let report = photo.report
        let progress = seen.withLock { $0 }
        #expect(progress.first?.stage == .decoding && progress.last?.stage == .done && progress.last?.fractionDone == 1)
        #expect(progress.contains { $0.stage == .deblurring && $0.tilesDone > 0 })
        #expect(progress.allSatisfy { (0...1).contains($0.fractionDone) })
        #expect(progress.last?.tilesTotal == report.tiles && report.tiles > 1)
        #expect(report.megapixels == 120 * 80 / 1e6)
        #expect(report.detail == "1.0 iterations per tile", "\(report.detail ?? "nil")")
        let out = try PhotoIO.decode(data: photo.bytes, name: "out.png")
        #expect(out.width == 120 && out.height == 80 && out.format == .png)
        #expect(processor.modelDescription.hasPrefix("MT-RNN weights.safetensors, 1 iterations"))
        #expect(processor.modelDescription.contains(", f32, tile 32/8"), "\(processor.modelDescription)")
    }

    /// SIGTERM cancels the worker's task: the pipeline stops at its next check.
    @Test func aCancelledTaskStopsThePipeline() async throws {
        let box = try Sandbox()
        let input = try Self.photo(box, width: 400, height: 300)
        let processor = try DeblurProcessor(options: Self.options())
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await processor.process(input: input) { _ in }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    /// The library states the facts; the daemon and mtrnnctl phrase the advice.
    @Test func missingWeightsNameTheFileWithoutCLIAdvice() {
        var o = Self.options()
        o.weights = URL(fileURLWithPath: "/nonexistent/w.safetensors")
        let error = #expect(throws: DeblurError.self) { _ = try DeblurProcessor(options: o) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("/nonexistent/w.safetensors"))
        #expect(!"\(error.map { "\($0)" } ?? "")".contains("--weights"))
    }
}

/// Sharp photos left alone (issue 18, `sharp_photos`): the bridge gives the
/// daemon the photo's own bytes (copy) or none (skip), with the score; a
/// blurred photo is deblurred as before.
@Suite struct SharpPhotoTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../DeblurTests/BlurExtentFixtures").standardizedFileURL

    static func processor(_ policy: DeblurOptions.SharpPhotos) throws -> DeblurProcessor {
        var o = DeblurProcessorTests.options()
        o.sharpPhotos = policy
        return try DeblurProcessor(options: o)
    }

    @Test func copyGivesThePhotoItselfAndSkipGivesNothing() async throws {
        let sharp = Self.fixtures.appendingPathComponent("sharp.png")
        let original = Array(try Data(contentsOf: sharp))
        let copied = try await Self.processor(.copy).process(input: sharp) { _ in }
        #expect(copied.bytes == original)
        let score = try #require(copied.report.leftAloneAsSharp)
        #expect(score > PhotoAssessment.defaultThreshold)
        #expect(copied.report.detail?.hasPrefix("sharp already") == true, "\(copied.report.detail ?? "nil")")
        let skipped = try await Self.processor(.skip).process(input: sharp) { _ in }
        #expect(skipped.bytes.isEmpty && skipped.report.leftAloneAsSharp == score)
        // process: deblurred like any photo, no score taken.
        let processed = try await Self.processor(.process).process(input: sharp) { _ in }
        #expect(processed.report.leftAloneAsSharp == nil && processed.report.tiles > 1 && processed.bytes != original)
    }

    @Test func blurredPhotoIsDeblurred() async throws {
        let blurred = Self.fixtures.appendingPathComponent("line30.png")
        let photo = try await Self.processor(.copy).process(input: blurred) { _ in }
        #expect(photo.report.leftAloneAsSharp == nil && photo.report.tiles > 1)
        #expect(photo.bytes != Array(try Data(contentsOf: blurred)))
    }

    @Test func journalSaysSharpWithTheScore() {
        var r = ProcessingReport(megapixels: 0.4, tiles: 0, seconds: 0.3)
        r.leftAloneAsSharp = -8.25
        let copied = JournalRecord.of("a.png", .done(r), retryDelay: nil, settleSeconds: 2)
        #expect(copied.fields[JournalField.outcome] == "sharp" && copied.fields[JournalField.sharpness] == "-8.25")
        #expect(copied.message.contains("copied unchanged to the outbox"), "\(copied.message)")
        let skipped = JournalRecord.of("a.png", .leftAlone(r), retryDelay: nil, settleSeconds: 2)
        #expect(skipped.fields[JournalField.outcome] == "sharp" && skipped.message.contains("left in the inbox"))
        var counts = DaemonCounts()
        counts.recordDone(r)
        #expect(counts.sharp == 1 && counts.done == 0)
    }
}
