import Foundation
@preconcurrency import Glibc
import Testing
@testable import WatchService

/// Issue 19's input filtering: sidecars travel with their photo and are never
/// photos; `include`/`exclude` leave names untouched; a folder in an inbox
/// that is not recursive gets a hint, not failed/.
@Suite struct InboxFilterRules {
    @Test(arguments: ["a.xmp", "A.XMP", "IMG_1.jpg.xmp", "IMG_1.AAE", "clip.THM", "x.Thm"])
    func sidecarsAreSidecarsInAnyCase(name: String) {
        #expect(InboxNames.isSidecar(name))
        #expect(!InboxFilter().takesPhoto(name))
    }

    @Test(arguments: ["a.jpg", "xmp", "a.xmp.jpg", "IMG_1.tif", "no-extension"])
    func photosAreNotSidecars(name: String) {
        #expect(!InboxNames.isSidecar(name))
        #expect(InboxFilter().takesPhoto(name))
    }

    @Test func aSidecarBelongsToItsPhotoByWholeNameOrStem() {
        #expect(InboxNames.sidecar("IMG_1.JPG.xmp", belongsTo: "IMG_1.JPG"))     // darktable
        #expect(InboxNames.sidecar("IMG_1.xmp", belongsTo: "IMG_1.JPG"))         // Lightroom
        #expect(InboxNames.sidecar("IMG_1.AAE", belongsTo: "IMG_1.HEIC"))        // Apple
        #expect(!InboxNames.sidecar("IMG_1.xmp", belongsTo: "IMG_10.jpg"))
        #expect(!InboxNames.sidecar("IMG_1.jpg.xmp", belongsTo: "IMG_1.tif"))
        #expect(!InboxNames.sidecar("IMG_1.xmp", belongsTo: "IMG_1.aae"))
        // Named after the result that took NAME-N, keeping the sidecar's case.
        #expect(InboxNames.sidecarName("IMG_1.JPG.XMP", of: "IMG_1.JPG", as: "IMG_1-1.JPG") == "IMG_1-1.JPG.XMP")
        #expect(InboxNames.sidecarName("IMG_1.xmp", of: "IMG_1.jpg", as: "IMG_1-2.jpg") == "IMG_1-2.xmp")
        #expect(Sidecars.originalNames(ofResult: "IMG_1-2.jpg") == ["IMG_1-2.jpg", "IMG_1.jpg"])
        #expect(Sidecars.originalNames(ofResult: "IMG-x.jpg") == ["IMG-x.jpg"])
    }

    @Test func patternsFollowFnmatchWithCaseFolded() {
        let f = InboxFilter(include: ["*.jpg", "*.tif"], exclude: ["draft-*", "raw/*", "Thumbs.db"])
        #expect(f.takesPhoto("a.JPG"))
        #expect(f.takesPhoto("sub/b.tif"))
        #expect(!f.takesPhoto("c.png"))
        #expect(!f.takesPhoto("draft-1.jpg"))
        #expect(!f.takesPhoto("sub/draft-1.jpg"))        // a pattern without "/" is the name
        #expect(!f.takesPhoto("raw/a.jpg"))
        #expect(!f.takesPhoto("raw/deeper/a.jpg"))       // the leading folders match
        #expect(f.takesPhoto("sub/raw/a.jpg"))           // a pattern with "/" is the whole path
        #expect(f.excludes("thumbs.db"))
        #expect(InboxFilter.patterns(" *.jpg ,*.tif,, ") == ["*.jpg", "*.tif"])
    }

    @Test func theKeysParseRenderAndRefuseAnEmptyInclude() throws {
        let c = try WatchConfig.parse("include = *.jpg, *.JPEG\nexclude = \n", source: "f.conf")
        #expect(c.inputFilter.include == ["*.jpg", "*.JPEG"])
        #expect(c.inputFilter.exclude.isEmpty)
        #expect(try WatchConfig.parse(c.rendered, source: "r") == c)
        #expect(WatchConfig().inputFilter.exclude == ["Thumbs.db", "desktop.ini"])
        #expect(throws: ConfigError.self) { try WatchConfig.parse("include = ,\n", source: "f.conf") }
    }
}

@Suite(.serialized) struct InputFilteringTests {
    /// darktable's whole-name and Lightroom's stem sidecars, dropped with the
    /// photo: copies beside the result, the sidecars archived beside the original.
    @Test func sidecarsFollowTheirPhoto() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        box.write("inbox/IMG_1.jpg.xmp", Array("<x:xmpmeta dt/>".utf8))
        box.write("inbox/IMG_1.XMP", Array("<x:xmpmeta lr/>".utf8))
        box.write("inbox/IMG_1.jpg", fakeJPEG("one"))
        #expect(await eventually { box.list("archive") == ["IMG_1.XMP", "IMG_1.jpg", "IMG_1.jpg.xmp"] }, "\(box.list("archive")) \(d.log)")
        #expect(box.list("outbox") == ["IMG_1.XMP", "IMG_1.jpg", "IMG_1.jpg.xmp"])
        #expect(box.read("outbox/IMG_1.jpg.xmp") == Array("<x:xmpmeta dt/>".utf8))
        #expect(box.read("archive/IMG_1.XMP") == Array("<x:xmpmeta lr/>".utf8))
        #expect(box.list("failed").isEmpty)
        #expect(box.list("inbox").isEmpty)
        // A second photo under the same name: its result is IMG_1-1.jpg, and its sidecar copy follows that name.
        box.write("inbox/IMG_1.jpg.xmp", Array("<x:xmpmeta two/>".utf8))
        box.write("inbox/IMG_1.jpg", fakeJPEG("two"))
        #expect(await eventually { box.read("outbox/IMG_1-1.jpg.xmp") == Array("<x:xmpmeta two/>".utf8) }, "\(box.list("outbox")) \(d.log)")
        #expect(box.read("outbox/IMG_1.jpg.xmp") == Array("<x:xmpmeta dt/>".utf8))
        #expect(await eventually { box.list("inbox").isEmpty }, "\(box.list("inbox"))")
        await d.stop()
    }

    /// Lightroom's IMG_5.xmp beside IMG_5.jpg and IMG_5.png: each result gets
    /// it (the same name: one copy), and it leaves the inbox with the last photo.
    @Test func aSharedStemSidecarLeavesWithTheLastPhoto() async throws {
        let box = try Sandbox()
        box.write("inbox/IMG_5.xmp", Array("<lr/>".utf8))
        box.write("inbox/IMG_5.jpg", fakeJPEG("jpg"))
        box.write("inbox/IMG_5.png", fakeJPEG("png"))
        let d = try DaemonProcess(box)
        #expect(await eventually { box.list("archive") == ["IMG_5.jpg", "IMG_5.png", "IMG_5.xmp"] }, "\(box.list("archive")) \(d.log)")
        #expect(box.list("outbox") == ["IMG_5.jpg", "IMG_5.png", "IMG_5.xmp"])
        #expect(box.list("inbox").isEmpty)
        await d.stop()
    }

    /// Before its photo: it waits in the inbox, untouched (not failed/). After
    /// its photo: it follows the recent result.
    @Test func aSidecarBeforeOrAfterItsPhotoIsNotLost() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        box.write("inbox/early.xmp", Array("early".utf8))
        try await Task.sleep(for: .milliseconds(1200))   // settled many times over (settle 0.2 s)
        #expect(box.list("inbox") == ["early.xmp"])
        #expect(box.list("failed").isEmpty)
        #expect(box.list("outbox").isEmpty)
        box.write("inbox/early.jpg", fakeJPEG("early"))
        #expect(await eventually { box.list("archive") == ["early.jpg", "early.xmp"] }, "\(box.list("archive")) \(d.log)")
        #expect(box.read("outbox/early.xmp") == Array("early".utf8))

        box.write("inbox/late.png", fakeJPEG("late"))
        #expect(await eventually { box.list("archive").contains("late.png") }, "\(d.log)")
        box.write("inbox/late.png.xmp", Array("late".utf8))
        #expect(await eventually { box.list("archive").contains("late.png.xmp") }, "\(box.list("inbox")) \(d.log)")
        #expect(box.read("outbox/late.png.xmp") == Array("late".utf8))
        #expect(box.list("failed").isEmpty)
        #expect(await eventually { d.log.contains("arrived after its photo") }, "\(d.log)")
        await d.stop()
    }

    /// originals = keep: sidecars stay with the kept photo; one that comes
    /// after the photo was done is copied beside its result, once.
    @Test func sidecarsOfKeptPhotosAreCopiedOnce() async throws {
        let box = try Sandbox()
        box.write("inbox/k.jpg", fakeJPEG("k"))
        box.write("inbox/k.XMP", Array("early".utf8))
        let d = try DaemonProcess(box, arguments: ["--set", "originals=keep", "--poll", "0.3"])
        #expect(await eventually { box.read("outbox/k.XMP") == Array("early".utf8) }, "\(box.list("outbox")) \(d.log)")
        box.write("inbox/k.jpg.xmp", Array("late".utf8))
        #expect(await eventually { box.read("outbox/k.jpg.xmp") == Array("late".utf8) }, "\(box.list("outbox")) \(d.log)")
        try await Task.sleep(for: .milliseconds(1500))   // five more polls
        #expect(box.list("outbox") == ["k.XMP", "k.jpg", "k.jpg.xmp"])
        #expect(box.list("inbox") == ["k.XMP", "k.jpg", "k.jpg.xmp"])
        #expect(d.log.components(separatedBy: "sidecar k.jpg.xmp of a kept photo").count == 2, "\(d.log)")
        await d.stop()
    }

    /// Excluded and not included names stay in the inbox, byte for byte; the
    /// default exclude keeps Windows' Thumbs.db out of failed/.
    @Test func excludedNamesAreLeftUntouched() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--set", "include=*.jpg", "--set", "exclude=draft-*, Thumbs.db"])
        #expect(await d.waitReady())
        box.write("inbox/draft-1.jpg", fakeJPEG("draft"))
        box.write("inbox/other.png", fakeJPEG("png"))
        box.write("inbox/Thumbs.db", Array("cache".utf8))
        box.write("inbox/keep.jpg", fakeJPEG("keep"))
        #expect(await eventually { box.read("outbox/keep.jpg") != nil }, "\(d.log)")
        try await Task.sleep(for: .milliseconds(800))
        #expect(box.list("inbox") == ["Thumbs.db", "draft-1.jpg", "other.png"])
        #expect(box.read("inbox/draft-1.jpg") == fakeJPEG("draft"))
        #expect(box.list("failed").isEmpty)
        #expect(box.list("outbox") == ["keep.jpg"])
        await d.stop()
    }

    /// A folder dropped into an inbox that is not recursive: no failed/, one
    /// hint in the journal and the status naming `recursive = yes`.
    @Test func aFolderInANonRecursiveInboxGetsAHintOnce() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--poll", "0.3"])
        #expect(await d.waitReady())
        mkdir(box.path("shoot.tmpdir"), 0o755)
        box.write("shoot.tmpdir/a.jpg", fakeJPEG("a"))
        #expect(rename(box.path("shoot.tmpdir"), box.path("inbox/shoot")) == 0)
        mkdir(box.path("inbox/folder.jpg"), 0o755)
        #expect(await eventually { d.log.contains("shoot/ is a folder in the inbox") && d.log.contains("folder.jpg/ is a folder") }, "\(d.log)")
        try await Task.sleep(for: .milliseconds(1000))   // three more polls
        #expect(d.log.components(separatedBy: "shoot/ is a folder in the inbox").count == 2, "hinted more than once: \(d.log)")
        #expect(d.log.contains("recursive = yes"))
        #expect(box.list("failed").isEmpty)
        #expect(box.list("inbox") == ["folder.jpg", "shoot"])
        #expect(box.list("inbox/shoot") == ["a.jpg"])
        let status = ctl(box, ["status"])
        #expect(status.stdout.contains("recursive = yes"), "\(status.stdout)")
        await d.stop()
    }

    /// The same with inotify: the folder moved in raised IN_MOVED_TO, which
    /// used to queue it and send it to failed/.
    @Test func aFolderMovedIntoAnInotifyInboxIsNotFailed() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box)
        #expect(await d.waitReady())
        mkdir(box.path("batch"), 0o755)
        #expect(rename(box.path("batch"), box.path("inbox/batch")) == 0)
        #expect(await eventually { d.log.contains("batch/ is a folder in the inbox") }, "\(d.log)")
        box.write("inbox/after.jpg", fakeJPEG("after"))
        #expect(await eventually { box.read("outbox/after.jpg") != nil }, "\(d.log)")
        // The original is archived just after its result is renamed into place.
        #expect(await eventually { box.list("inbox") == ["batch"] }, "\(box.list("inbox"))")
        #expect(box.list("failed").isEmpty)
        await d.stop()
    }
}

extension InboxFilterRules {
    @Test func everySpellingOfASidecarExtensionIsLookedUp() {
        #expect(Sidecars.caseVariants("xmp").count == 8)
        #expect(Set(Sidecars.caseVariants("aae")).contains("AaE"))
        #expect(Sidecars.caseVariants("xmp").allSatisfy { InboxNames.isSidecar("a." + $0) })
    }
}
