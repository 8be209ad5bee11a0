import Foundation
@preconcurrency import Glibc
import Testing

/// sd_notify as systemd would see it (a datagram socket bound by the test),
/// from the built `mtrnn-watch`, and reloads with good and broken configurations.
@Suite(.serialized) struct SystemdTests {
    @Test func readyStatusWatchdogReloadingStopping() async throws {
        let box = try Sandbox()
        let config = box.path("watch.conf")
        try "settle_seconds = 0.2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let notify = try FakeNotifySocket(path: box.path("notify.sock"))
        defer { notify.finish() }
        let d = try DaemonProcess(box, arguments: ["--config", config],
                                  environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"],
                                  processor: "copy:1.5")
        #expect(await eventually { notify.contains("READY=1") }, "\(d.log)")
        // READY only once the control socket (and the watch, armed before it) is up.
        #expect(FileManager.default.fileExists(atPath: box.socket))
        // Idle: the main loop pets the watchdog.
        #expect(await eventually { notify.contains("WATCHDOG=1") })

        box.write("inbox/IMG_0042.jpg", fakeJPEG("42"))
        box.write("inbox/IMG_0043.jpg", fakeJPEG("43"))
        #expect(await eventually { notify.messages.contains { $0.contains("STATUS=Deblurring IMG_0042.jpg: ") && $0.contains("1 queued") } }, "\(notify.messages)")
        let busyStart = notify.messages.count
        try await Task.sleep(for: .milliseconds(800))
        #expect(notify.messages.dropFirst(busyStart).contains("WATCHDOG=1"), "no WATCHDOG=1 from progress")

        d.signal(SIGHUP)
        #expect(await eventually { notify.messages.contains { $0.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") } }, "\(notify.messages)")
        #expect(await eventually { notify.messages.filter { $0.hasPrefix("READY=1") }.count >= 2 })

        #expect(await eventually(10) { box.list("outbox").count == 2 }, "\(d.log)")
        #expect(await d.stop() == 0)
        #expect(notify.messages.contains { $0.hasPrefix("STOPPING=1") })
    }

    /// A processor that stops making progress must stop the WATCHDOG=1 pings, so
    /// systemd's watchdog restarts the service.
    @Test func hungWorkerStopsTheWatchdog() async throws {
        let box = try Sandbox()
        let notify = try FakeNotifySocket(path: box.path("notify.sock"))
        defer { notify.finish() }
        let d = try DaemonProcess(box, environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"],
                                  processor: "hang")
        #expect(await eventually { notify.contains("READY=1") }, "\(d.log)")
        #expect(await eventually { notify.contains("WATCHDOG=1") })
        box.write("inbox/stuck.jpg", fakeJPEG("stuck"))
        #expect(await eventually { notify.messages.contains { $0.contains("Deblurring stuck.jpg") } }, "\(notify.messages)")
        try await Task.sleep(for: .milliseconds(300))
        let mark = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(1500))
        let late = notify.timedMessages.filter { $0.0 > mark && $0.1.contains("WATCHDOG=1") }
        #expect(late.isEmpty, "WATCHDOG=1 was sent while the worker made no progress")
        await d.kill9()
    }

    @Test func brokenConfigOnReloadKeepsTheOldOneAndSaysWhy() async throws {
        let box = try Sandbox()
        let config = box.path("watch.conf")
        try "settle_seconds = 0.2\noriginals = archive\n".write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", config])
        #expect(await d.waitReady())
        try "settle_seconds = 0.2\noriginals = shred\n".write(toFile: config, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(await eventually { ctl(box, ["status"]).stdout.contains("watch.conf:2") }, "\(d.log)")
        #expect(d.log.contains("keeping the previous configuration"))
        box.write("inbox/a.jpg", fakeJPEG("a"))
        #expect(await eventually { box.list("archive") == ["a.jpg"] }, "old configuration not in force: \(d.log)")
        // A good one takes effect.
        try "settle_seconds = 0.2\noriginals = delete\n".write(toFile: config, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(await eventually { d.log.contains("Reloaded the configuration") })
        box.write("inbox/b.jpg", fakeJPEG("b"))
        #expect(await eventually { box.read("outbox/b.jpg") != nil && box.list("inbox").isEmpty })
        #expect(box.list("archive") == ["a.jpg"])
        #expect(await d.stop() == 0)
    }

    @Test func badConfigAtStartExitsWithAClearMessage() async throws {
        let box = try Sandbox()
        let config = box.path("bad.conf")
        try "inbox = /x\ncolour = blue\n".write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", config])
        #expect(await eventually { !d.process.isRunning })
        #expect(d.process.terminationStatus == 78)
        #expect(d.log.contains("bad.conf:2: unknown key `colour`"))
    }
}
