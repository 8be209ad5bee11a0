import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import Testing
@testable import WatchService

/// The watcher when the kernel runs out of inotify watches (or instances):
/// the refused folders are reported and polled, never silently dropped.
@Suite(.serialized) struct InboxWatcherTests {
    /// The real inotify, with a budget of watches that the test sets and raises.
    final class LimitedKernel: @unchecked Sendable {
        private let lock = NSLock()
        private var watchesLeft: Int
        private var instancesLeft: Int

        init(watches: Int, instances: Int = .max) {
            watchesLeft = watches
            instancesLeft = instances
        }

        func raise(watches: Int = 0, instances: Int = 0) {
            lock.withLock {
                watchesLeft += watches
                instancesLeft += instances
            }
        }

        var kernel: InboxWatcher.Kernel {
            InboxWatcher.Kernel(
                initialize: { [self] in
                    guard lock.withLock({ () -> Bool in
                        guard instancesLeft > 0 else { return false }
                        instancesLeft -= 1
                        return true
                    }) else { return (-1, EMFILE) }
                    return InboxWatcher.Kernel.system.initialize()
                },
                addWatch: { [self] fd, path, mask in
                    guard lock.withLock({ () -> Bool in
                        guard watchesLeft > 0 else { return false }
                        watchesLeft -= 1
                        return true
                    }) else { return (-1, ENOSPC) }
                    return InboxWatcher.Kernel.system.addWatch(fd, path, mask)
                })
        }
    }

    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [WatchEvent] = []
        private var coverages: [WatchCoverage] = []
        func append(_ e: WatchEvent) { lock.withLock { events.append(e) } }
        func append(_ c: WatchCoverage) { lock.withLock { coverages.append(c) } }
        var all: [WatchEvent] { lock.withLock { events } }
        var reports: [WatchCoverage] { lock.withLock { coverages } }
        var rescans: Int { all.filter { $0 == .rescan }.count }
        func reset() { lock.withLock { events.removeAll() } }
    }

    struct Setup {
        let box: Sandbox
        let watcher: InboxWatcher
        let recorder: Recorder
        let log: CapturingLog
    }

    func watch(_ box: Sandbox, _ kernel: LimitedKernel, fallback: Double = 0.3) throws -> Setup {
        let recorder = Recorder(), log = CapturingLog()
        let w = try InboxWatcher(inbox: box.path("inbox"), recursive: true, pollSeconds: 0, fallbackPollSeconds: fallback,
                                 onCoverageChange: { recorder.append($0) }, kernel: kernel.kernel,
                                 logger: log.logger, emit: { recorder.append($0) })
        return Setup(box: box, watcher: w, recorder: recorder, log: log)
    }

    @Test(.timeLimit(.minutes(1))) func foldersBeyondTheWatchLimitAreReportedAndPolled() async throws {
        let box = try Sandbox()
        for d in ["a", "b", "b/c"] { mkdir(box.path("inbox/" + d), 0o755) }
        let kernel = LimitedKernel(watches: 2)
        let s = try watch(box, kernel)
        defer { s.watcher.stop() }

        // The inbox and a/ are watched; b/ is refused (and b/c not tried).
        #expect(s.watcher.coverage.unwatched == ["b"])
        #expect(s.watcher.coverage.watched == 2)
        let summary = try #require(s.watcher.coverage.summary)
        #expect(summary.contains("1 folder is not watched by inotify (e.g. b)"), "\(summary)")
        #expect(summary.contains("inotify watches per user is reached (sysctl fs.inotify.max_user_watches)"), "\(summary)")
        #expect(summary.hasSuffix("polling them every 0.3 s"), "\(summary)")
        #expect(s.recorder.reports.map(\.unwatched) == [["b"]], "told before init returned")
        let error = try #require(s.log.records.first { $0.level == .error })
        #expect(error.message.contains("Cannot watch \(box.path("inbox/b")) with inotify"), "\(error.message)")
        #expect(error.message.contains("sysctl -w fs.inotify.max_user_watches="), "\(error.message)")

        s.watcher.start()
        box.write("inbox/a/x.jpg", fakeJPEG("x"))
        #expect(await eventually(3) { s.recorder.all.contains(.file("a/x.jpg")) })
        // A file in the refused folder raises no event of its own, but is looked for.
        s.recorder.reset()
        box.write("inbox/b/c/y.jpg", fakeJPEG("y"))
        #expect(await eventually(3) { s.recorder.rescans >= 2 }, "no rescan within 3 s: \(s.recorder.all)")
        #expect(!s.recorder.all.contains(.file("b/c/y.jpg")))

        // Once the limit is raised, the watches are added on the next tick.
        kernel.raise(watches: 10)
        #expect(await eventually(3) { s.watcher.coverage.isComplete })
        #expect(s.watcher.coverage.watched == 4)
        #expect(s.recorder.reports.last?.isComplete == true)
        #expect(s.log.contains("inotify watches all of \(box.path("inbox")) again (4 folders)", at: .notice))
        try await Task.sleep(for: .milliseconds(100))
        s.recorder.reset()
        box.write("inbox/b/c/z.jpg", fakeJPEG("z"))
        #expect(await eventually(3) { s.recorder.all.contains(.file("b/c/z.jpg")) })
        try await Task.sleep(for: .milliseconds(700))
        #expect(s.recorder.rescans == 0, "still polling once everything is watched")
    }

    @Test(.timeLimit(.minutes(1))) func aFolderMadeAfterTheLimitIsReported() async throws {
        let box = try Sandbox()
        let kernel = LimitedKernel(watches: 1)
        let s = try watch(box, kernel)
        defer { s.watcher.stop() }
        #expect(s.watcher.coverage.isComplete)
        #expect(s.recorder.reports.isEmpty)
        s.watcher.start()
        mkdir(box.path("inbox/new"), 0o755)
        #expect(await eventually(3) { s.watcher.coverage.unwatched == ["new"] })
        #expect(s.log.contains("Cannot watch \(box.path("inbox/new")) with inotify", at: .error))
        // Removed while refused: dropped on the next tick.
        rmdir(box.path("inbox/new"))
        #expect(await eventually(3) { s.watcher.coverage.isComplete })
        // Stopped (replaced on reload), it tells the daemon nothing more.
        let told = s.recorder.reports.count
        s.watcher.stop()
        mkdir(box.path("inbox/later"), 0o755)
        try await Task.sleep(for: .milliseconds(600))
        #expect(s.recorder.reports.count == told)
    }

    @Test(.timeLimit(.minutes(1))) func theInboxItselfBeyondTheLimitIsPolled() async throws {
        let box = try Sandbox()
        let kernel = LimitedKernel(watches: 0)
        let s = try watch(box, kernel)
        defer { s.watcher.stop() }
        #expect(s.watcher.coverage.unwatched == [""])
        #expect(s.watcher.coverage.summary?.hasPrefix("the inbox is not watched by inotify: the limit of") == true, "\(s.watcher.coverage)")
        s.watcher.start()
        #expect(await eventually(3) { s.recorder.rescans >= 2 })
        kernel.raise(watches: 1)
        #expect(await eventually(3) { s.watcher.coverage.isComplete })
        try await Task.sleep(for: .milliseconds(100))
        box.write("inbox/p.jpg", fakeJPEG("p"))
        #expect(await eventually(3) { s.recorder.all.contains(.file("p.jpg")) })
    }

    @Test(.timeLimit(.minutes(1))) func noInotifyInstanceLeftMeansPollingUntilOneIs() async throws {
        let box = try Sandbox()
        let kernel = LimitedKernel(watches: 10, instances: 0)
        let s = try watch(box, kernel)
        defer { s.watcher.stop() }
        #expect(s.watcher.coverage.unwatched == [""])
        #expect(s.watcher.coverage.reason?.contains("fs.inotify.max_user_instances") == true)
        #expect(s.log.contains("sysctl -w fs.inotify.max_user_instances=", at: .error))
        s.watcher.start()
        #expect(await eventually(3) { s.recorder.rescans >= 1 })
        kernel.raise(instances: 1)
        #expect(await eventually(3) { s.watcher.coverage.isComplete })
        try await Task.sleep(for: .milliseconds(100))
        box.write("inbox/q.jpg", fakeJPEG("q"))
        #expect(await eventually(3) { s.recorder.all.contains(.file("q.jpg")) })
    }

    @Test func otherErrorsOnTheInboxStillFail() {
        #expect(throws: FileError.self) {
            _ = try InboxWatcher(inbox: "/nonexistent/inbox", recursive: true, pollSeconds: 0, logger: Logger(label: "t"), emit: { _ in })
        }
    }

    static let canLimitWatches = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

    /// The built daemon under a real limit: one inotify watch in a user
    /// namespace of its own (the limit there is per namespace), so the inbox's
    /// subfolders cannot be watched. A photo dropped in one is deblurred all the same.
    @Test(.enabled(if: canLimitWatches), .timeLimit(.minutes(1)))
    func theDaemonFindsPhotosInFoldersBeyondARealLimit() async throws {
        let box = try Sandbox()
        for d in ["a", "a/deep", "b"] { mkdir(box.path("inbox/" + d), 0o755) }
        let d = try DaemonProcess(box, arguments: ["--recursive"], launcher: [
            "/usr/bin/unshare", "-U", "-r", "/bin/sh", "-c", "echo 1 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\""])
        #expect(await d.waitReady(), "\(d.log)")
        #expect(d.log.contains("Cannot watch ./inbox/a with inotify: the limit of 1 inotify watches per user is reached"), "\(d.log)")
        #expect(d.log.contains("sysctl -w fs.inotify.max_user_watches="))
        // ... and `mtrnnctl status` says so, in words and in --json.
        let status = ctl(box, ["status"]).stdout
        #expect(status.contains("watching: ") && status.contains("not watched by inotify"), "\(status)")
        #expect(ctl(box, ["status", "--json"]).stdout.contains("\"watching\""))
        let start = ContinuousClock.now
        box.write("inbox/a/deep/x.jpg", fakeJPEG("x"))
        #expect(await eventually(40) { box.read("outbox/a/deep/x.jpg") == fakeJPEG("x") }, "\(d.log)")
        print("photo in an unwatched folder done after \(ContinuousClock.now - start)")
        // The watched inbox itself still gets events.
        let direct = ContinuousClock.now
        box.write("inbox/y.jpg", fakeJPEG("y"))
        #expect(await eventually(30) { box.read("outbox/y.jpg") == fakeJPEG("y") }, "\(d.log)")
        print("photo in the watched inbox done after \(ContinuousClock.now - direct)")
        await d.stop()
    }
}
