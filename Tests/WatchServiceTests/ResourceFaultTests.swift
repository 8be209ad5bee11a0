import Foundation
@preconcurrency import Glibc
import Testing

/// Issue 7's resource faults against the built daemon: a full outbox, the
/// outbox, archive and inbox removed under it, a broken configuration on
/// SIGHUP, and missing or corrupt weights.
@Suite(.serialized) struct ResourceFaultTests {
    static var isRoot: Bool { getuid() == 0 }

    /// A 300 MiB tmpfs on the outbox, filled to the last byte: the photo must stay
    /// in the inbox, the daemon pause and say why, and resume by itself once the
    /// filler is gone (it resumes at 256 MiB free). Needs root for mount(8).
    @Test(.enabled(if: isRoot, "mounting a small tmpfs on the outbox needs root"), .timeLimit(.minutes(1)))
    func fullOutboxPausesKeepsTheInputAndResumesWhenSpaceReturns() async throws {
        let box = try Sandbox()
        let outbox = box.path("outbox")
        let mounted = runCommand(["/bin/mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", outbox])
        try #require(mounted.status == 0, "cannot mount a tmpfs here (\(mounted.stderr)); skipped")
        defer { _ = runCommand(["/bin/umount", "-l", outbox]) }
        var st = statvfs()
        statvfs(outbox, &st)
        let free = Int(st.f_bavail) * Int(st.f_frsize)
        let fill = runCommand(["/usr/bin/fallocate", "-l", String(free), outbox + "/.filler"])
        #expect(fill.status == 0, "\(fill.stderr)")

        let d = try DaemonProcess(box, processor: "photoio")
        #expect(await d.waitReady())
        box.write("inbox/full.jpg", BadInputFixtures.jpeg)
        #expect(await eventually(30) { d.log.contains("Paused: no space left for full.jpg") }, "\(d.log)")
        #expect(box.list("inbox") == ["full.jpg"], "the input must stay in the inbox")
        #expect(box.read("inbox/full.jpg") == BadInputFixtures.jpeg)
        #expect(box.list("failed").isEmpty, "a full disk is not the photo's fault")
        #expect(box.list("outbox") == [".filler"], "nothing half-written may be left")
        let status = ctl(box, ["status"])
        #expect(status.stdout.contains("paused"))
        #expect(status.stdout.contains("disk full"))
        // Space returns: it resumes by itself (checked every 5 s).
        unlink(outbox + "/.filler")
        #expect(await eventually(20) { box.list("archive") == ["full.jpg"] }, "\(d.log)")
        #expect(box.list("outbox") == ["full.jpg"])
        #expect(d.log.contains("Space is available again; resuming"))
        #expect(await d.stop() == 0)
    }

    @Test func outboxArchiveAndFailedRemovedWhileRunningAreMadeAgain() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "photoio")
        #expect(await d.waitReady())
        for dir in ["outbox", "archive", "failed"] { try FileManager.default.removeItem(atPath: box.path(dir)) }
        box.write("inbox/a.jpg", BadInputFixtures.jpeg)
        box.write("inbox/b.jpg", Array("not a photo".utf8))
        #expect(await eventually { box.list("archive") == ["a.jpg"] && box.list("failed").contains("b.jpg.reason") }, "\(d.log)")
        #expect(box.list("outbox") == ["a.jpg"])
        #expect(d.process.isRunning)
        await d.stop()
    }

    @Test(.timeLimit(.minutes(1)))
    func inboxRemovedAndRecreatedIsWatchedAgain() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "photoio")
        #expect(await d.waitReady())
        try FileManager.default.removeItem(atPath: box.path("inbox"))
        #expect(await eventually { d.log.contains("was removed or moved") }, "\(d.log)")
        #expect(d.process.isRunning)
        mkdir(box.path("inbox"), 0o755)
        #expect(await eventually { d.log.contains("is back; watching it again") }, "\(d.log)")
        box.write("inbox/after.jpg", BadInputFixtures.jpeg)
        #expect(await eventually { box.list("archive") == ["after.jpg"] }, "\(d.log)")
        // Moved away and another directory put in its place: the same.
        #expect(rename(box.path("inbox"), box.path("inbox.old")) == 0)
        mkdir(box.path("inbox"), 0o755)
        try await Task.sleep(for: .milliseconds(1500))
        box.write("inbox/second.jpg", BadInputFixtures.jpeg)
        #expect(await eventually { box.list("archive").contains("second.jpg") }, "\(d.log)")
        await d.stop()
    }

    /// SIGHUP with a configuration that cannot be used: the file gone, or an
    /// inbox that cannot be made. The old configuration stays, the status says why.
    @Test func reloadWithAMissingOrUnusableConfigKeepsTheOldOne() async throws {
        let box = try Sandbox()
        let config = box.path("watch.conf")
        try "settle_seconds = 0.2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", config], processor: "photoio")
        #expect(await d.waitReady())
        unlink(config)
        d.signal(SIGHUP)
        #expect(await eventually { ctl(box, ["status"]).stdout.contains("reload failed, kept the previous configuration") }, "\(d.log)")
        box.write("inbox/one.jpg", BadInputFixtures.jpeg)
        #expect(await eventually { box.list("archive") == ["one.jpg"] }, "\(d.log)")
        try "settle_seconds = 0.2\ninbox = /proc/mtrnn-cannot-exist/inbox\n".write(toFile: config, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(await eventually { ctl(box, ["status"]).stdout.contains("cannot use the inbox directory") }, "\(d.log)")
        box.write("inbox/two.jpg", BadInputFixtures.jpeg)
        #expect(await eventually { box.list("archive") == ["one.jpg", "two.jpg"] }, "old inbox not watched any more: \(d.log)")
        #expect(d.process.isRunning)
        #expect(await d.stop() == 0)
    }

    /// Missing or corrupt weights: exit 1 before READY=1 with a message naming
    /// the file, so systemd marks the start failed.
    @Test(arguments: ["missing", "corrupt", "truncated"])
    func badWeightsFailTheStartBeforeReady(_ kind: String) async throws {
        let box = try Sandbox()
        let weights = box.path("weights-\(kind).safetensors")
        switch kind {
        case "corrupt":
            box.write("weights-corrupt.safetensors", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 131) })
        case "truncated":
            let real = ReliabilityPipeline.weights
            let bytes = try #require(FileManager.default.contents(atPath: real), "no weights at \(real) to truncate")
            box.write("weights-truncated.safetensors", [UInt8](bytes.prefix(bytes.count / 2)))
        default: break
        }
        let notify = try FakeNotifySocket(path: box.path("notify.sock"))
        let d = try DaemonProcess(box, arguments: ["--set", "weights=" + weights],
                                  environment: ["NOTIFY_SOCKET": notify.path], processor: nil)
        #expect(await eventually(60) { !d.process.isRunning }, "still running with \(kind) weights: \(d.log)")
        #expect(d.process.terminationStatus == 1)
        #expect(d.log.contains("weights-\(kind).safetensors"), "the message does not name the file: \(d.log)")
        #expect(!notify.contains("READY=1"))
        notify.finish()
    }
}
