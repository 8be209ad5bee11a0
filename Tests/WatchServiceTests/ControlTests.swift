import Foundation
@preconcurrency import Glibc
import Identity
import Testing

/// `mtrnnctl` against the built daemon's control socket.
@Suite(.serialized) struct ControlTests {
    @Test func statusWithNoDaemonExitsThree() throws {
        let box = try Sandbox()
        let r = ctl(box, ["status"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("mtrnn-watch is not running"))
        #expect(r.stderr.contains(box.socket))
        #expect(ctl(box, ["pause"]).status == 3)
    }

    @Test func statusPauseResumeRetryRescan() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "copy:0.2")
        #expect(await d.waitReady())

        let text = ctl(box, ["status"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("mtrnn-watch: idle"))
        #expect(text.stdout.contains("copy (test processor, no deblurring)"))
        let json = ctl(box, ["status", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(report?["state"] as? String == "idle")
        #expect(report?["queued"] as? Int == 0)
        #expect(report?["pid"] as? Int == Int(d.pid))
        // The schema's version, the release, and the test processor's absent weights as null.
        #expect(report?["version"] as? Int == 1)
        #expect(report?["software_version"] as? String == MtrnnWatchVersion.string)
        #expect(report?["weights_sha256"] is NSNull && report?["last_error"] is NSNull && report?["queue_eta_seconds"] as? Double == 0)
        #expect(!json.stdout.contains("\\/"), "\(json.stdout)")
        #expect(text.stdout.contains("version:  \(MtrnnWatchVersion.string)"))

        #expect(ctl(box, ["pause"]).status == 0)
        for i in 0..<3 { box.write("inbox/q\(i).jpg", fakeJPEG("q\(i)")) }
        #expect(await eventually { ctl(box, ["status"]).stdout.contains("queued:   3") }, "\(ctl(box, ["status"]).stdout)")
        #expect(ctl(box, ["status"]).stdout.contains("mtrnn-watch: paused"))
        try await Task.sleep(for: .milliseconds(400))
        #expect(box.list("outbox").isEmpty, "processed while paused")
        #expect(ctl(box, ["resume"]).status == 0)
        #expect(await eventually { box.list("outbox").count == 3 })

        // retry: a bad photo, repaired in failed/, then retried from there.
        box.write("inbox/bad.jpg", Array("nope".utf8))
        #expect(await eventually { FileManager.default.fileExists(atPath: box.path("failed/bad.jpg.reason")) })
        box.write("failed/bad.jpg", fakeJPEG("fixed"))
        let retry = ctl(box, ["retry", "bad.jpg"])
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(await eventually { box.read("outbox/bad.jpg") == fakeJPEG("fixed") }, "\(d.log)")
        #expect(await eventually { box.list("failed").isEmpty })
        #expect(await eventually { box.list("archive").contains("bad.jpg") })
        let missing = ctl(box, ["retry", "nothing.jpg"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no failed photo nothing.jpg"))
        #expect(ctl(box, ["retry", "../inbox/x.jpg"]).status == 1)

        // rescan finds what no event announced (a link raises IN_CREATE only; a
        // file moved in from a directory the kernel does not watch, here: created with events off).
        #expect(ctl(box, ["rescan"]).status == 0)
        #expect(await d.stop() == 0)
    }

    /// Issue 16: one byte every 1.5 s from any local user kept root's
    /// `mtrnnctl status` from an answer.
    @Test(.timeLimit(.minutes(1))) func statusAnswersWhileAnotherClientTricklesBytes() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let loris = try ControlServerTests.SlowSender(path: box.socket, bytes: Array("{\"version\":1,".utf8), every: .milliseconds(1500))
        try await Task.sleep(for: .milliseconds(300))
        expectStatusAnswersWithinASecond(box, behind: "a slow client")
        #expect(loris.closedAfter == nil || loris.closedAfter! < .seconds(3))
        await d.stop()
    }

    /// Idle connections past the daemon's file descriptors (EMFILE on accept)
    /// make room rather than leave a client waiting in the backlog.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")), .timeLimit(.minutes(1)))
    func idleConnectionsPastTheDescriptorLimitDoNotStarveStatus() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, launcher: ["/usr/bin/prlimit", "--nofile=40"])
        #expect(await d.waitReady())
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        let giveUp = ContinuousClock.now + .seconds(3)
        while idle.count < 200 && ContinuousClock.now < giveUp {
            if let fd = try? ControlServerTests.connectNonBlocking(box.socket) { idle.append(fd) } else { usleep(1000) }
        }
        expectStatusAnswersWithinASecond(box, behind: "\(idle.count) idle connections")
        #expect(d.log.contains("connections open"), "\(d.log)")
        await d.stop()
    }

    @Test func aSecondDaemonOnTheSameStateRefusesToStart() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let second = try DaemonProcess(box, logName: "second.log")
        #expect(await eventually { !second.process.isRunning })
        #expect(second.process.terminationStatus == 1)
        #expect(second.log.contains("another mtrnn-watch"))
        #expect(ctl(box, ["status"]).status == 0)
        await d.stop()
    }
}

/// `mtrnnctl status`, twice, must succeed within a second each time while
/// `behind` (what else holds the socket) is going on.
func expectStatusAnswersWithinASecond(_ box: Sandbox, behind: String) {
    for _ in 0..<2 {
        let start = ContinuousClock.now
        let r = ctl(box, ["status"])
        let took = ContinuousClock.now - start
        #expect(r.status == 0, "\(r.stderr)")
        #expect(took < .seconds(1), "mtrnnctl status took \(took) behind \(behind)")
    }
}
