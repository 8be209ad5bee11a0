import DurableFiles
import Foundation
@preconcurrency import Glibc
import Testing
import WatchControl
@testable import WatchService

/// What an uploader (anyone who may write to the inbox and failed/) can do to
/// the daemon, from the security review of issue 16: each test failed before
/// its fix. The daemon must stay alive, lose nothing and write only where it
/// means to.
@Suite(.serialized) struct HostileUploaderTests {
    /// Item 1: `cp ok.jpg /srv/inbox/y` crashed the daemon (SIGILL in Foundation's
    /// NSString path code), and again after every restart.
    @Test func shortAndStrangeNamesAreProcessed() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let names = ["y", "ab", "abc", ".", "a b", "new\nline.jpg", "tab\there", "x.", "-", "\u{1B}[2J.jpg", "é"]
        for (i, name) in names.enumerated() where name != "." { box.write("inbox/" + name, fakeJPEG("n\(i)")) }
        #expect(await eventually(30) { box.list("inbox").isEmpty }, "\(d.log)")
        for (i, name) in names.enumerated() where name != "." {
            #expect(box.read("outbox/" + name) == fakeJPEG("n\(i)"), "\(name.debugDescription): \(d.log)")
        }
        #expect(d.process.isRunning)
        #expect(await d.stop() == 0)
    }

    /// The path helpers that replaced NSString's, on names of every length 1-3.
    @Test func pathNamesOfEveryShortLength() {
        let alphabet: [Character] = ["a", ".", "/", "\n", "é", "~"]
        var names = alphabet.map { String($0) }
        for a in alphabet { for b in alphabet { names.append(String([a, b])); for c in alphabet { names.append(String([a, b, c])) } } }
        for n in names {
            let last = PathName.last(n), parent = PathName.parent(n)
            #expect(!last.contains("/"))
            if n.contains("/") { #expect(n.hasSuffix("/" + last) && n.hasPrefix(parent), "\(n.debugDescription)") }
            else { #expect(parent.isEmpty && last == n) }
            let ext = PathName.pathExtension(n)
            #expect(!ext.contains("."))
            if !ext.isEmpty { #expect(PathName.stem(n) + "." + ext == last) }
        }
        #expect(PathName.components("a/b") == ["a", "b"])
        for bad in ["", "/a", "a//b", "a/./b", "../a", "a/.."] { #expect(PathName.components(bad) == nil, "\(bad)") }
    }

    /// Item 7: a later photo with the same name (camera counters repeat) took
    /// the outbox name of an earlier result and replaced it.
    @Test func aResultIsNeverOverwritten() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        box.write("inbox/IMG_0001.jpg", fakeJPEG("first"))
        #expect(await eventually(30) { box.read("outbox/IMG_0001.jpg") == fakeJPEG("first") }, "\(d.log)")
        box.write("inbox/IMG_0001.jpg", fakeJPEG("second"))
        #expect(await eventually(30) { box.read("outbox/IMG_0001-1.jpg") == fakeJPEG("second") }, "\(d.log) \(box.list("outbox")) \(box.list("inbox"))")
        box.write("inbox/IMG_0001.jpg", fakeJPEG("third"))
        #expect(await eventually(30) { box.read("outbox/IMG_0001-2.jpg") == fakeJPEG("third") }, "\(d.log)")
        #expect(box.read("outbox/IMG_0001.jpg") == fakeJPEG("first"))
        // The original is archived just after its result is renamed into place.
        #expect(await eventually { box.list("archive") == ["IMG_0001-1.jpg", "IMG_0001-2.jpg", "IMG_0001.jpg"] }, "\(box.list("archive"))")
        #expect(d.log.contains("IMG_0001-1.jpg, an earlier result has its name"))
        #expect(await d.stop() == 0)
    }

    /// Item 8: `ln -s OUTBOX failed/evil; mtrnnctl retry evil/IMG.jpg` made the
    /// daemon create files in the outbox; retry into the state folder created
    /// files there.
    @Test func retryNeverFollowsALinkOutOfFailed() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        box.write("outbox/IMG.jpg", fakeJPEG("someone else's result"))
        #expect(symlink(box.path("outbox"), box.path("failed/evil")) == 0)
        #expect(symlink(box.path("state"), box.path("failed/st")) == 0)
        let state = box.list("state")
        for target in ["evil/IMG.jpg", "st/x.jpg", box.path("failed/evil/IMG.jpg"), "../outbox/IMG.jpg", "evil"] {
            let r = ctl(box, ["retry", target])
            #expect(r.status != 0, "\(target): \(r.stdout)")
            #expect(r.stderr.contains("no failed photo") || r.stderr.contains("not in the failed directory"), "\(r.stderr)")
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(box.list("outbox") == ["IMG.jpg"])
        #expect(box.read("outbox/IMG.jpg") == fakeJPEG("someone else's result"))
        #expect(box.list("state") == state)
        #expect(await d.stop() == 0)
    }

    /// Item 8, recursive mode: an uploader's file moved to failed/ through a link
    /// the uploader planted there landed in the outbox, still theirs to rewrite.
    @Test func failingNeverMovesAFileThroughALinkInFailed() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--recursive"])
        #expect(await d.waitReady())
        mkdir(box.path("outbox/b"), 0o755)
        #expect(symlink(box.path("outbox/b"), box.path("failed/b")) == 0)
        mkdir(box.path("inbox/b"), 0o755)
        box.write("inbox/b/evil.jpg", Array("<html><script>alert(1)</script></html>".utf8))
        #expect(await eventually { box.list("failed").contains("evil.jpg.reason") }, "\(d.log)")
        #expect(box.list("outbox/b").isEmpty, "written through the link")
        #expect(box.list("failed").contains("evil.jpg"))
        #expect(await d.stop() == 0)
    }

    /// Item 8, names that are not UTF-8 (filed by their bytes): a link planted
    /// two levels down in failed/ does not take them into the outbox.
    @Test func undecodableNamesAreNotFiledThroughALink() async throws {
        let box = try Sandbox()
        mkdir(box.path("outbox/b"), 0o755)
        #expect(symlink(box.path("outbox"), box.path("failed/a")) == 0)
        for d in ["inbox/a", "inbox/a/b"] { mkdir(box.path(d), 0o755) }
        #expect(RawNames.write(box.path("inbox/a/b"), [0x66, 0xFF, 0x2E, 0x6A, 0x70, 0x67], fakeJPEG("raw")))
        let d = try DaemonProcess(box, arguments: ["--recursive"])
        #expect(await d.waitReady())
        #expect(await eventually { box.list("failed").contains("f%FF.jpg.reason") }, "\(d.log)")
        #expect(box.list("outbox/b").isEmpty, "filed through the link")
        #expect(await d.stop() == 0)
    }

    /// Item 8: swapping an inbox folder for a link to the outbox, while a photo
    /// in it waited, moved another user's result into failed/.
    @Test func aFolderSwappedForALinkRedirectsNothing() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--recursive"], processor: "copy:1")
        #expect(await d.waitReady())
        box.write("inbox/first.jpg", fakeJPEG("first"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("first.jpg") }, "\(d.log)")
        mkdir(box.path("inbox/a"), 0o755)
        box.write("inbox/a/victim.jpg", Array("not a photo".utf8))
        try await Task.sleep(for: .milliseconds(400))   // settled and queued behind first.jpg
        box.write("outbox/victim.jpg", fakeJPEG("another user's result"))
        #expect(rename(box.path("inbox/a"), box.path("inbox/.moved")) == 0)
        #expect(symlink(box.path("outbox"), box.path("inbox/a")) == 0)
        #expect(await eventually { box.list("inbox").contains("a") == false }, "\(d.log)")   // the link itself is filed
        try await Task.sleep(for: .milliseconds(500))
        #expect(box.read("outbox/victim.jpg") == fakeJPEG("another user's result"), "\(d.log)")
        #expect(!box.list("failed").contains("victim.jpg"))
        #expect(d.process.isRunning)
        #expect(await d.stop() == 0)
    }

    /// Item 9: a queued photo rewritten in place (scp does that) was read half
    /// written, and the complete photo sat in failed/ with a wrong reason.
    @Test(.timeLimit(.minutes(1)))
    func aQueuedPhotoRewrittenInPlaceIsReadWhenItSettlesAgain() async throws {
        let box = try Sandbox()
        // A settle time well above the pauses between writes, even on a loaded
        // machine (with 0.2 s, a CI run once saw a pause long enough to settle).
        let d = try DaemonProcess(box, arguments: ["--settle", "1"], processor: "copy:2")
        #expect(await d.waitReady())
        box.write("inbox/first.jpg", fakeJPEG("first"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("first.jpg") }, "\(d.log)")
        box.write("inbox/b.jpg", fakeJPEG("old version"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("\"queued\" : 1") }, "\(d.log)")
        // Rewrite it in place, slowly, across the moment its turn comes.
        let full = fakeJPEG("new version", size: 4000)
        let fd = open(box.path("inbox/b.jpg"), O_WRONLY | O_TRUNC)
        #expect(fd >= 0)
        for chunk in stride(from: 0, to: full.count, by: 250) {
            _ = full[chunk..<min(chunk + 250, full.count)].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            try await Task.sleep(for: .milliseconds(100))
        }
        close(fd)
        #expect(await eventually(30) { box.read("outbox/b.jpg") != nil && box.list("inbox").isEmpty }, "\(d.log)")
        #expect(box.read("outbox/b.jpg") == full, "read before it was complete")
        #expect(d.log.contains("b.jpg changed after it settled"))
        #expect(await d.stop() == 0)
    }

    /// Items 5 and 6: a name with newlines injected sd_notify commands into
    /// STATUS=, and escape sequences reached `mtrnnctl status`'s terminal.
    @Test func namesCannotInjectNotifyCommandsOrTerminalSequences() async throws {
        let box = try Sandbox()
        let notify = try FakeNotifySocket(path: box.path("notify.sock"))
        defer { notify.finish() }
        let d = try DaemonProcess(box, environment: ["NOTIFY_SOCKET": notify.path], processor: "copy:1")
        #expect(await eventually { notify.contains("READY=1") }, "\(d.log)")
        let evil = "inj\nWATCHDOG_USEC=1\nSTOPPING=1\nX_INJECTED=1\n\u{1B}]0;owned\u{07}\u{1B}[2J.jpg"
        box.write("inbox/" + evil, Array("not a photo".utf8))   // fails: the name reaches "last error" too
        box.write("inbox/" + evil + "2.jpg", fakeJPEG("ok"))
        #expect(await eventually { notify.messages.contains { $0.contains("Deblurring inj") } }, "\(notify.messages)")
        #expect(await eventually { box.list("inbox").isEmpty }, "\(d.log)")
        let status = ctl(box, ["status"])
        #expect(status.status == 0)
        #expect(!status.stdout.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 }, "\(status.stdout.debugDescription)")
        #expect(status.stdout.contains("inj\\nWATCHDOG_USEC=1"))
        let lines = notify.messages.flatMap { $0.split(separator: "\n", omittingEmptySubsequences: false) }
        #expect(!lines.contains("STOPPING=1"), "\(notify.messages)")
        #expect(!lines.contains("X_INJECTED=1"))
        #expect(!lines.contains { $0.hasPrefix("WATCHDOG_USEC") })
        #expect(d.process.isRunning)
        #expect(await d.stop() == 0)
        #expect(Printable.escaped("a\u{1B}[31mb\u{9B}c\u{202E}d\te\n") == "a\\u{1B}[31mb\\u{9B}c\\u{202E}d\\te\\n")
        #expect(Printable.escaped("Ünïcödé 写真.jpg") == "Ünïcödé 写真.jpg")
    }

    /// Item 4: a photo that crashes the daemon kept crashing it after every
    /// restart (systemd restarts it: Restart=on-failure), and later photos
    /// were never processed. At the second crash it goes to failed/.
    @Test(.timeLimit(.minutes(1)))
    func aPhotoThatCrashesTheDaemonTwiceGoesToFailed() async throws {
        let box = try Sandbox()
        box.write("inbox/boom.jpg", Array("MTRNN-TEST-CRASH and more".utf8))
        for run in 1...2 {
            let d = try DaemonProcess(box, logName: "run\(run).log")
            #expect(await eventually { !d.process.isRunning }, "run \(run) did not crash: \(d.log)")
            #expect(d.process.terminationReason == .uncaughtSignal)
            #expect(box.list("inbox") == ["boom.jpg"])
        }
        box.write("inbox/later.jpg", fakeJPEG("later"))
        let d = try DaemonProcess(box, logName: "run3.log")
        #expect(await d.waitReady())
        #expect(await eventually { box.read("outbox/later.jpg") == fakeJPEG("later") }, "\(d.log)")
        #expect(box.list("failed") == ["boom.jpg", "boom.jpg.reason"])
        let reason = String(decoding: box.read("failed/boom.jpg.reason") ?? [], as: UTF8.self)
        #expect(reason.contains("crashed the daemon twice"), "\(reason)")
        #expect(ctl(box, ["status"]).stdout.contains("crashed the daemon twice"))
        // Retried by hand, it crashes once more: then it stays in failed/ and says so.
        // The answer may lose the race with the abort it sets off: then the
        // connection just closes. Either way the daemon goes down on it.
        let retry = ctl(box, ["retry", "boom.jpg"])
        let died = await eventually { !d.process.isRunning }
        #expect(retry.status == 0 || died, "\(retry.stderr) \(d.log)")
        #expect(await eventually { !d.process.isRunning }, "\(d.log)")
        let e = try DaemonProcess(box, logName: "run4.log")
        #expect(await e.waitReady())
        #expect(await eventually {
            String(decoding: box.read("failed/boom.jpg.reason") ?? [], as: UTF8.self).contains("when it was retried")
        }, "\(e.log)")
        #expect(box.list("failed") == ["boom.jpg", "boom.jpg.reason"])
        #expect(await e.stop() == 0)
    }

    /// Item 15: a photo left in the inbox by a resource fault (here: the
    /// outbox folder it needs cannot be made) was tried again only after a
    /// restart. Now again after 5 s, 10 s, ...
    @Test(.timeLimit(.minutes(1)))
    func anAbandonedPhotoIsTriedAgainWithoutARestart() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--recursive"])
        #expect(await d.waitReady())
        box.write("outbox/sub", Array("a file where the folder must go".utf8))
        mkdir(box.path("inbox/sub"), 0o755)
        box.write("inbox/sub/a.jpg", fakeJPEG("a"))
        #expect(await eventually { d.log.contains("Left sub/a.jpg where it is") }, "\(d.log)")
        #expect(d.log.contains("trying again in 5 s"))
        unlink(box.path("outbox/sub"))
        #expect(await eventually(30) { box.read("outbox/sub/a.jpg") == fakeJPEG("a") }, "\(d.log)")
        #expect(await d.stop() == 0)
        #expect(JobQueue.retryDelay(attempts: 1) == 5)
        #expect(JobQueue.retryDelay(attempts: 3) == 20)
        #expect(JobQueue.retryDelay(attempts: 50) == 300)
    }

    /// Two crashes while a photo was in progress, the second after its result
    /// was already in the outbox: that photo is done, not quarantined (the
    /// crash harness found it filed in failed/ beside its own result).
    @Test(.timeLimit(.minutes(1)))
    func aPhotoWhoseResultWasWrittenIsFiledNotQuarantined() async throws {
        let box = try Sandbox()
        box.write("inbox/a.jpg", fakeJPEG("a"))
        for (run, point) in [(1, "recorded"), (2, "renamed")] {
            let d = try DaemonProcess(box, environment: ["MTRNN_WATCH_TEST_KILL_AT": point], logName: "run\(run).log")
            #expect(await eventually { !d.process.isRunning }, "run \(run) was not killed at \(point): \(d.log)")
        }
        #expect(box.read("outbox/a.jpg") == fakeJPEG("a"))
        let d = try DaemonProcess(box, logName: "run3.log")
        #expect(await eventually { box.list("archive") == ["a.jpg"] }, "\(d.log)")
        #expect(box.list("failed").isEmpty)
        #expect(box.list("outbox") == ["a.jpg"])
        #expect(await d.stop() == 0)
    }

    /// A crash once is not the photo's fault: it is tried again (a kill -9, an
    /// out-of-memory kill of another process's making).
    @Test func oneCrashIsTriedAgain() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "copy:3")
        #expect(await d.waitReady())
        box.write("inbox/a.jpg", fakeJPEG("a"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("a.jpg") }, "\(d.log)")
        await d.kill9()
        let e = try DaemonProcess(box, logName: "second.log")
        #expect(await eventually { box.read("outbox/a.jpg") == fakeJPEG("a") }, "\(e.log)")
        #expect(e.log.contains("stopped unexpectedly while processing a.jpg"))
        #expect(box.list("failed").isEmpty)
        #expect(await e.stop() == 0)
    }
}
