import Foundation
@preconcurrency import Glibc
import Testing

/// Configurable behaviours of the built daemon: recursion, polling, originals
/// kept, and who may change state.
@Suite(.serialized) struct ModesTests {
    @Test func recursiveInboxIsMirroredInTheOutboxAndArchive() async throws {
        let box = try Sandbox()
        mkdir(box.path("inbox/before"), 0o755)
        box.write("inbox/before/a.jpg", fakeJPEG("a"))
        let d = try DaemonProcess(box, arguments: ["--recursive"])
        #expect(await d.waitReady())
        #expect(await eventually { box.read("outbox/before/a.jpg") == fakeJPEG("a") }, "\(d.log)")
        // A directory made after start, and a file in it at once.
        mkdir(box.path("inbox/2024"), 0o755)
        mkdir(box.path("inbox/2024/trip"), 0o755)
        box.write("inbox/2024/trip/b.jpg", fakeJPEG("b"))
        #expect(await eventually { box.read("outbox/2024/trip/b.jpg") == fakeJPEG("b") }, "\(d.log)")
        // The result is renamed into place before the original is archived.
        #expect(await eventually { box.list("archive/2024/trip") == ["b.jpg"] }, "\(d.log)")
        // A hidden directory is not descended into.
        mkdir(box.path("inbox/.sync"), 0o755)
        box.write("inbox/.sync/c.jpg", fakeJPEG("c"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(!box.list("outbox").contains(".sync"))
        await d.stop()
    }

    /// Issue 19: folders mirrored into the outbox were made 0755 whatever the
    /// umask, so with the unit's UMask=0002 members of the group could not
    /// move results out of them. They take the umask, and the outbox's setgid.
    @Test func mirroredOutboxFoldersAreGroupWritableUnderUmask0002() async throws {
        let box = try Sandbox()
        chmod(box.path("outbox"), 0o2775)
        mkdir(box.path("inbox/shoot"), 0o755)
        box.write("inbox/shoot/a.jpg", fakeJPEG("a"))
        let d = try DaemonProcess(box, arguments: ["--recursive"],
                                  launcher: ["/bin/sh", "-c", "umask 0002; exec \"$@\"", "sh"])
        #expect(await eventually { box.read("outbox/shoot/a.jpg") != nil }, "\(d.log)")
        var st = stat()
        #expect(stat(box.path("outbox/shoot"), &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o2775, "outbox/shoot is \(String(st.st_mode & 0o7777, radix: 8))")
        await d.stop()
    }

    @Test func pollingModeFindsFilesWithoutInotify() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--poll", "0.3"])
        #expect(await d.waitReady())
        box.write("inbox/nfs.jpg", fakeJPEG("nfs"))
        #expect(await eventually { box.read("outbox/nfs.jpg") == fakeJPEG("nfs") }, "\(d.log)")
        #expect(d.log.contains("polling every"))
        await d.stop()
    }

    @Test func keptOriginalsAreNotProcessedAgainAfterRestartUnlessChanged() async throws {
        let box = try Sandbox()
        box.write("inbox/k.jpg", fakeJPEG("k1"))
        let first = try DaemonProcess(box, arguments: ["--set", "originals=keep"], logName: "first.log")
        #expect(await eventually { box.read("outbox/k.jpg") == fakeJPEG("k1") }, "\(first.log)")
        #expect(await first.stop() == 0)
        #expect(box.list("inbox") == ["k.jpg"])
        // Mark the result so a second processing would show.
        box.write("outbox/k.jpg", fakeJPEG("marker"))
        let second = try DaemonProcess(box, arguments: ["--set", "originals=keep"], logName: "second.log")
        #expect(await second.waitReady())
        try await Task.sleep(for: .milliseconds(700))
        #expect(box.read("outbox/k.jpg") == fakeJPEG("marker"), "a kept original was processed again")
        // Changed: processed again, and its result goes beside the first, which
        // is never replaced (issue 16).
        box.write("inbox/k.jpg", fakeJPEG("k2", size: 100))
        #expect(await eventually { box.read("outbox/k-1.jpg") == fakeJPEG("k2", size: 100) }, "\(second.log)")
        #expect(box.read("outbox/k.jpg") == fakeJPEG("marker"))
        await second.stop()
    }

    /// Run as root only: `mtrnnctl` as user nobody may read the status but not
    /// change state.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func stateChangesAreRefusedOutsideTheServiceGroup() async throws {
        let box = try Sandbox()
        chmod(box.root, 0o755)
        chmod(box.path("state"), 0o755)
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        func asNobody(_ args: [String]) -> CommandResult {
            runCommand(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Products.ctl] + args + ["--socket", box.socket])
        }
        let status = asNobody(["status"])
        #expect(status.status == 0, "\(status.stderr)")
        let pause = asNobody(["pause"])
        #expect(pause.status == 1)
        #expect(pause.stderr.contains("permission denied"))
        #expect(ctl(box, ["status"]).stdout.contains("mtrnn-watch: idle"))
        #expect(d.log.contains("Refused `pause` from uid 65534"))
        await d.stop()
    }

    /// `operator_group` (issue 16): its members may change state, and a reload
    /// that changes it takes effect at once.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                   && getgrnam("nogroup") != nil))
    func theOperatorGroupMayChangeState() async throws {
        let box = try Sandbox()
        chmod(box.root, 0o755)
        chmod(box.path("state"), 0o755)
        let config = box.path("watch.conf")
        box.write("watch.conf", Array("operator_group = nogroup\n".utf8))
        let d = try DaemonProcess(box, arguments: ["--config", config])
        #expect(await d.waitReady(), "\(d.log)")
        func asNobody(_ args: [String]) -> CommandResult {
            runCommand(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Products.ctl] + args + ["--socket", box.socket])
        }
        let pause = asNobody(["pause"])
        #expect(pause.status == 0, "\(pause.stderr)")
        #expect(ctl(box, ["status"]).stdout.contains("mtrnn-watch: paused"))
        #expect(asNobody(["resume"]).status == 0)
        // Another group on reload: nobody may no longer.
        box.write("watch.conf", Array("operator_group = root\n".utf8))
        d.signal(SIGHUP)
        #expect(await eventually { d.log.contains("Reloaded the configuration") }, "\(d.log)")
        let refused = asNobody(["pause"])
        #expect(refused.status == 1 && refused.stderr.contains("permission denied"), "\(refused.stderr)")
        await d.stop()
    }
}
