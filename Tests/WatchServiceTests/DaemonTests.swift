import Foundation
@preconcurrency import Glibc
import Testing

/// The built `mtrnn-watch` and `mtrnnctl` on temporary directories, with the
/// fake copy processor (MTRNN_WATCH_TEST_PROCESSOR) instead of the deblur pipeline.
@Suite(.serialized) struct DaemonTests {
    @Test func copiedPhotoIsProcessedAndArchived() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let photo = fakeJPEG("cp")
        box.write("inbox/IMG_0001.jpg", photo)
        #expect(await eventually { box.read("outbox/IMG_0001.jpg") == photo }, "\(d.log)")
        #expect(await eventually { box.list("archive") == ["IMG_0001.jpg"] })
        #expect(box.list("inbox").isEmpty)
        #expect(box.list("outbox") == ["IMG_0001.jpg"])
        #expect(await d.stop() == 0)
        // A file is not systemd: plain lines, no <N> priorities.
        #expect(d.log.contains("\nDeblurred IMG_0001.jpg") && !d.log.contains("<6>"), "\(d.log)")
        #expect(d.log.contains("MTRNN_OUTCOME=done"))
    }

    @Test func rsyncStyleTempNameThenRenameAndTempNamesIgnored() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let photo = fakeJPEG("rsync", size: 5000)
        box.write("inbox/.IMG_0002.jpg.Ab12Cd", photo)
        for name in ["upload.jpg.part", "x.jpg.tmp", "y.jpg.crdownload", "~lock.jpg", ".hidden.jpg"] {
            box.write("inbox/" + name, fakeJPEG(name))
        }
        try await Task.sleep(for: .milliseconds(600))
        #expect(box.list("outbox").isEmpty, "a temporary name was taken")
        #expect(rename(box.path("inbox/.IMG_0002.jpg.Ab12Cd"), box.path("inbox/IMG_0002.jpg")) == 0)
        #expect(await eventually { box.read("outbox/IMG_0002.jpg") == photo }, "\(d.log)")
        try await Task.sleep(for: .milliseconds(400))
        #expect(box.list("outbox") == ["IMG_0002.jpg"])
        #expect(box.list("inbox").count == 5)
        await d.stop()
    }

    @Test func manyAtOnce() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        let names = (0..<40).map { String(format: "IMG_%04d.jpg", $0) }
        for n in names { box.write("inbox/" + n, fakeJPEG(n)) }
        #expect(await eventually(60) { box.list("archive").count == names.count }, "\(d.log)")
        #expect(box.list("outbox") == names.sorted())
        for n in names { #expect(box.read("outbox/" + n) == fakeJPEG(n)) }
        let status = ctl(box, ["status", "--json"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("\"done\" : 40"))
        await d.stop()
    }

    /// Written, closed, then appended to before the settle time is up: the
    /// daemon must take the final version, not the first close.
    @Test func waitsForSizeAndMtimeToSettle() async throws {
        let box = try Sandbox()
        // 3 s to settle against 0.4 s between the writes: the margin a loaded
        // machine needs (1 s failed when the test process was descheduled).
        let d = try DaemonProcess(box, arguments: ["--settle", "3.0"])
        #expect(await d.waitReady())
        let full = fakeJPEG("settle", size: 4000)
        box.write("inbox/slow.jpg", Array(full.prefix(1000)))
        try await Task.sleep(for: .milliseconds(400))
        #expect(box.list("outbox").isEmpty)
        let h = try #require(FileHandle(forWritingAtPath: box.path("inbox/slow.jpg")))
        h.seekToEndOfFile()
        h.write(Data(full.dropFirst(1000)))
        try h.close()
        #expect(await eventually { box.read("outbox/slow.jpg") != nil }, "\(d.log)")
        #expect(box.read("outbox/slow.jpg") == full)
        await d.stop()
    }

    @Test func badFilesGoToFailedWithAReasonAndTheDaemonKeepsRunning() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        box.write("inbox/text.jpg", Array("this is not a photo\n".utf8))
        box.write("inbox/empty.png", [])
        // A folder is not a failure (issue 19): it stays, with a hint (InputFilteringTests).
        mkdir(box.path("inbox/folder.jpg"), 0o755)
        #expect(await eventually { box.list("failed").filter { $0.hasSuffix(".reason") }.count >= 2 }, "\(d.log)")
        // The three may be filed in any order: wait for the one read next.
        #expect(await eventually { box.list("failed").contains("text.jpg.reason") }, "\(d.log)")
        let reason = try String(contentsOfFile: box.path("failed/text.jpg.reason"), encoding: .utf8)
        #expect(reason.contains("not a JPEG, PNG or TIFF"))
        #expect(ctl(box, ["rescan"]).status == 0)
        box.write("inbox/good.jpg", fakeJPEG("good"))
        #expect(await eventually { box.read("outbox/good.jpg") != nil })
        #expect(!box.list("failed").contains("folder.jpg"))
        let status = ctl(box, ["status", "--json"])
        #expect(status.stdout.contains("\"failed\" : 2"), "\(status.stdout)")
        #expect(status.stdout.contains("\"last_error\" : \""), "\(status.stdout)")
        #expect(d.log.contains("MTRNN_OUTCOME=failed"))
        // A second photo with a failed one's name must not overwrite it in failed/.
        box.write("inbox/text.jpg", Array("still not a photo\n".utf8))
        #expect(await eventually { box.list("failed").contains("text-1.jpg.reason") }, "\(box.list("failed"))")
        #expect(box.read("failed/text.jpg") == Array("this is not a photo\n".utf8))
        await d.stop()
    }

    @Test func symlinkOutOfTheInboxIsRefused() async throws {
        let box = try Sandbox()
        let secret = fakeJPEG("secret")
        box.write("secret.jpg", secret)
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        #expect(symlink(box.path("secret.jpg"), box.path("inbox/link.jpg")) == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: box.path("failed/link.jpg.reason")) }, "\(d.log)")
        let reason = try String(contentsOfFile: box.path("failed/link.jpg.reason"), encoding: .utf8)
        #expect(reason.contains("symbolic link"))
        #expect(box.list("outbox").isEmpty)
        #expect(box.read("secret.jpg") == secret)
        await d.stop()
    }

    /// SIGKILL in the middle of a slow queue, restart: every photo ends in the
    /// outbox exactly once, none half-written, every original archived once.
    @Test func restartMidQueueLosesNothingAndShowsNothingHalfWritten() async throws {
        let box = try Sandbox()
        let names = (0..<6).map { "P\($0).jpg" }
        for n in names { box.write("inbox/" + n, fakeJPEG(n, size: 3000)) }
        let first = try DaemonProcess(box, processor: "copy:0.4", logName: "first.log")
        #expect(await eventually { box.list("archive").count >= 2 }, "\(first.log)")
        try await Task.sleep(for: .milliseconds(150))  // somewhere inside the next photo
        await first.kill9()
        // What a user sees under final names is complete even now.
        for n in box.list("outbox") where !n.hasPrefix(".") { #expect(box.read("outbox/" + n) == fakeJPEG(n, size: 3000)) }
        let second = try DaemonProcess(box, processor: "copy:0.1", logName: "second.log")
        #expect(await eventually(60) { box.list("archive").count == names.count }, "\(second.log)")
        #expect(box.list("outbox") == names, "temp files or duplicates left: \(box.list("outbox"))")
        #expect(box.list("archive") == names)
        #expect(box.list("inbox").isEmpty)
        for n in names { #expect(box.read("outbox/" + n) == fakeJPEG(n, size: 3000)) }
        #expect(await second.stop() == 0)
    }

    /// SIGTERM while a photo is processed: it is abandoned cleanly and stays in the inbox.
    @Test func sigtermAbandonsTheCurrentPhotoCleanly() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "copy:3")
        #expect(await d.waitReady())
        box.write("inbox/long.jpg", fakeJPEG("long"))
        #expect(await eventually { ctl(box, ["status"]).stdout.contains("current:  long.jpg") })
        #expect(await d.stop() == 0)
        #expect(box.list("inbox") == ["long.jpg"])
        #expect(box.list("outbox").isEmpty)
        #expect(d.log.contains("MTRNN_OUTCOME=abandoned"))
    }
}
