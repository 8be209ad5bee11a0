import Foundation
@preconcurrency import Glibc
import PhotoIO
import Testing

/// Issue 7's bad-input corpus against the built daemon: every case must end in
/// the outbox (a photo that reads back at its own size, original archived) or
/// in failed/ with a .reason, be named in the journal and the status, and the
/// daemon must keep running. Runs with PhotoIO's real decoders
/// (ReliabilityPipeline: MTRNN_RELIABILITY_PIPELINE=real for the deblur pipeline).
@Suite(.serialized) struct BadInputCorpusTests {
    enum Expect { case processed, failed(anyOf: [String]), processedOrFailed }

    struct Case {
        var name: [UInt8]
        var expect: Expect
        var make: (_ inbox: String, _ outside: String) -> Void
        /// The bytes written, when the case is a plain file: its output must decode to their size.
        var source: [UInt8]?
        /// The name it is filed under in failed/ when that differs (names that are not UTF-8).
        var filedAs: [UInt8]?
        var failedName: [UInt8] { filedAs ?? name }

        init(_ name: String, _ expect: Expect, _ make: @escaping (String, String) -> Void) {
            self.init(bytes: Array(name.utf8), expect, make)
        }
        init(bytes: [UInt8], _ expect: Expect, _ make: @escaping (String, String) -> Void) {
            self.name = bytes
            self.expect = expect
            self.make = make
        }
        /// A case whose content is plain bytes written under its name.
        static func file(_ name: String, _ expect: Expect, _ bytes: [UInt8]) -> Case {
            var c = Case(name, expect) { inbox, _ in RawNames.write(inbox, Array(name.utf8), bytes) }
            c.source = bytes
            return c
        }
        static func named(_ name: [UInt8], _ bytes: [UInt8] = BadInputFixtures.jpeg) -> Case {
            var c = Case(bytes: name, .processed) { inbox, _ in RawNames.write(inbox, name, bytes) }
            c.source = bytes
            return c
        }
    }

    static let damaged = ["damaged", "incomplete", "truncated", "not a jpeg", "empty", "start marker", "header", "no jpeg"]
    static let runsAsNobody = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    static func cases() -> [Case] {
        var c: [Case] = []
        c.append(.file("empty.jpg", .failed(anyOf: ["empty"]), []))
        let j = BadInputFixtures.jpeg, p = BadInputFixtures.png, t = BadInputFixtures.tiff
        for cut in [1, 2, 3, 4, 20, 100, j.count / 2, j.count - 100, j.count - 2, j.count - 1] {
            c.append(.file("truncated-\(cut).jpg", .failed(anyOf: damaged), Array(j.prefix(cut))))
        }
        for cut in [4, 8, 16, 29, 33, 50, p.count / 2, p.count - 12, p.count - 4, p.count - 1] {
            c.append(.file("truncated-\(cut).png", .failed(anyOf: damaged + ["not a"]), Array(p.prefix(cut))))
        }
        for cut in [3, 4, 8, 10, 60, t.count / 2, t.count - 20, t.count - 1] {
            c.append(.file("truncated-\(cut).tif", .failed(anyOf: damaged + ["not a", "tiff"]), Array(t.prefix(cut))))
        }
        // Wrong or missing extensions: the content decides.
        c.append(.file("png-named.jpg", .processed, p))
        c.append(.file("jpeg-named.tif", .processed, j))
        c.append(.file("no-extension", .processed, j))
        c.append(.file("text.jpg", .failed(anyOf: ["not a jpeg"]), Array("this is a text file, not a photo\n".utf8)))
        c.append(.file("gif.jpg", .failed(anyOf: ["not a jpeg"]), BadInputFixtures.gif))
        c.append(.file("random.jpg", .failed(anyOf: damaged + ["unsupported", "not supported"]), [0xFF, 0xD8, 0xFF] + (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }))
        // A directory named like a photo is no longer a failure (issue 19): it
        // stays in the inbox with a hint about `recursive = yes` (InputFilteringTests).
        c.append(Case("fifo.jpg", .failed(anyOf: ["not a regular file"])) { inbox, _ in mkfifo(inbox + "/fifo.jpg", 0o644) })
        // Pixel bombs: 60000x60000 in the header, refused before any allocation.
        c.append(.file("bomb.png", .failed(anyOf: ["limit"]), Self.pngWithSize(p, 60000, 60000)))
        c.append(.file("bomb.jpg", .failed(anyOf: ["limit"]), Self.jpegWithSize(j, 60000, 60000)))
        c.append(.file("bomb.tif", .failed(anyOf: ["limit"]), Self.tiffWithSize(t, 60000, 60000)))
        // Tiny images: deblurred or declined with a reason, never a crash.
        c.append(.file("tiny-1x1.jpg", .processedOrFailed, BadInputFixtures.jpeg1x1))
        c.append(.file("tiny-3x3.jpg", .processedOrFailed, BadInputFixtures.jpeg3x3))
        c.append(.file("tiny-1x1.png", .processedOrFailed, BadInputFixtures.png1x1))
        c.append(.file("tiny-3x3.png", .processedOrFailed, BadInputFixtures.png3x3))
        c.append(.file("tiny-1x1.tif", .processedOrFailed, BadInputFixtures.tiff1x1))
        // Kinds PhotoIO carries or declines.
        c.append(.file("cmyk.jpg", .failed(anyOf: ["cmyk"]), BadInputFixtures.cmykJPEG))
        c.append(.file("rgba16.png", .processed, BadInputFixtures.rgba16PNG))
        c.append(.file("palette.png", .processed, BadInputFixtures.palettePNG))
        c.append(.file("huge-exif.jpg", .processed, Self.jpegWithHugeAPP1(j)))
        c.append(.file("bigtiff.tif", .failed(anyOf: ["bigtiff"]), [0x49, 0x49, 0x2B, 0x00, 8, 0, 0, 0] + [UInt8](repeating: 0, count: 64)))
        c.append(.file("animated.png", .failed(anyOf: ["animated"]), Self.pngInsertingChunk(p, "acTL", [0, 0, 0, 2, 0, 0, 0, 0], validCRC: true)))
        c.append(.file("garbage-after-end.jpg", .processed, j + Array(repeating: 0x42, count: 3000)))
        c.append(.file("bad-idat.png", .failed(anyOf: damaged + ["crc", "idat", "zlib", "data"]), Self.flippingIDAT(p)))
        c.append(.file("bad-crc-text.png", .processed, Self.pngInsertingChunk(p, "tEXt", Array("Comment\u{0}broken".utf8), validCRC: false)))
        // Links: never followed out of the inbox.
        c.append(Case("link-to-passwd.jpg", .failed(anyOf: ["symbolic link"])) { inbox, _ in symlink("/etc/passwd", inbox + "/link-to-passwd.jpg") })
        c.append(Case("link-to-photo.jpg", .failed(anyOf: ["symbolic link"])) { inbox, outside in symlink(outside + "/secret.jpg", inbox + "/link-to-photo.jpg") })
        c.append(Case("link-to-dir.jpg", .failed(anyOf: ["symbolic link"])) { inbox, outside in symlink(outside, inbox + "/link-to-dir.jpg") })
        c.append(Case("link-dangling.jpg", .failed(anyOf: ["symbolic link"])) { inbox, _ in symlink("/nonexistent/x.jpg", inbox + "/link-dangling.jpg") })
        // Unreadable: only meaningful when the daemon is not root (root reads anything).
        c.append(Case("unreadable.jpg", runsAsNobody || getuid() != 0 ? .failed(anyOf: ["may not read"]) : .processed) { inbox, _ in
            RawNames.write(inbox, Array("unreadable.jpg".utf8), BadInputFixtures.jpeg, mode: 0o000)
            chmod(inbox + "/unreadable.jpg", 0o000)
        })
        // Names: each must come out under the same name, inside the outbox.
        c.append(.named(Array("with space.jpg".utf8)))
        c.append(.named(Array("new\nline.jpg".utf8)))
        c.append(.named(Array("fake\n<0>EMERGENCY injected.jpg".utf8)))
        c.append(.named(Array("tab\there.jpg".utf8)))
        // Not UTF-8: no String can name them, so they are filed away by their bytes.
        for (bytes, shown) in [([0x66, 0xFF, 0xFE, 0x2E, 0x6A, 0x70, 0x67] as [UInt8], "f%FF%FE.jpg"),
                               ([0x63, 0x61, 0x66, 0xE9, 0x2E, 0x6A, 0x70, 0x67], "caf%E9.jpg")] {
            var u = Case.named(bytes)
            u.expect = .failed(anyOf: ["utf-8"])
            u.filedAs = Array(shown.utf8)
            c.append(u)
        }
        c.append(.named(Array("-leading-dash.jpg".utf8)))
        c.append(.named(Array("--help.jpg".utf8)))
        c.append(.named(Array("..double-dot-start.jpg".utf8.dropFirst(0))))  // a dot-name: ignored as an upload in progress
        c.append(.named(Array("Ünïcødé 写真.jpg".utf8)))
        c.append(.named(Array("quote\"s and 'apostrophes' $(id) ;rm -rf.jpg".utf8)))
        c.append(.named(Array("back\\slash.jpg".utf8)))
        c.append(.named(Array((String(repeating: "L", count: 251) + ".jpg").utf8)))  // NAME_MAX
        // Issue 16: one-character names crashed the daemon (SIGILL in Foundation),
        // and names could inject sd_notify commands or terminal sequences.
        c.append(.named(Array("y".utf8)))
        c.append(.named(Array("ab".utf8)))
        c.append(.named(Array("abc".utf8)))
        c.append(.named(Array("inj\nWATCHDOG_USEC=1\nSTOPPING=1\n.jpg".utf8)))
        c.append(.named(Array("\u{1B}]0;owned\u{07}\u{1B}[2J.jpg".utf8)))
        c.append(.named(Array("rtl\u{202E}gpj.exe".utf8)))
        // Issue 16: metadata bombs (memory grew with the square of the segment
        // count; 100,000 empty COM segments crashed the daemon at every restart).
        let com = [UInt8]([0xFF, 0xFE, 0x00, 0x02])
        c.append(.file("com-100000.jpg", .failed(anyOf: ["too much metadata"]),
                       Array(j[0..<2]) + Array([[UInt8]](repeating: com, count: 100_000).joined()) + Array(j[2...])))
        c.append(.file("com-3000.jpg", .processed,
                       Array(j[0..<2]) + Array([[UInt8]](repeating: com, count: 3000).joined()) + Array(j[2...])))
        var chunky = p
        for _ in 0..<5000 { chunky = Self.pngInsertingChunk(chunky, "tEXt", Array("k\u{0}v".utf8), validCRC: true) }
        c.append(.file("chunks-5000.png", .failed(anyOf: ["too much metadata"]), chunky))
        return c
    }

    @Test(.timeLimit(.minutes(3)))
    func everyBadInputEndsInTheOutboxOrFailedWithAReason() async throws {
        let box = try Sandbox()
        let outside = box.path("outside")
        mkdir(outside, 0o755)
        RawNames.write(outside, Array("secret.jpg".utf8), BadInputFixtures.jpeg)
        var launcher: [String] = []
        if Self.runsAsNobody {
            for d in ["", "/inbox", "/outbox", "/archive", "/failed", "/state"] { chown(box.root + d, 65534, 65534) }
            chmod(box.root, 0o755)
            launcher = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        }
        let d = try DaemonProcess(box, arguments: ReliabilityPipeline.arguments, processor: ReliabilityPipeline.processor,
                                  launcher: launcher)
        #expect(await d.waitReady(), "\(d.log)")
        let all = Self.cases()
        #expect(all.count >= 50)
        let inbox = box.path("inbox")
        for c in all { c.make(inbox, outside) }
        let ignored = all.filter { $0.name.first == UInt8(ascii: ".") }
        let counted = all.filter { $0.name.first != UInt8(ascii: ".") }

        func settled(_ c: Case) -> Bool {
            RawNames.exists(box.path("outbox"), c.name) && RawNames.exists(box.path("archive"), c.name)
                || RawNames.exists(box.path("failed"), c.failedName + Array(".reason".utf8))
        }
        let finished = await eventually(ReliabilityPipeline.isReal ? 600 : 90) { counted.allSatisfy(settled) }
        let open = counted.filter { !settled($0) }.map { RawNames.show($0.name) }
        #expect(finished, "not finished: \(open)\ninbox: \(RawNames.list(inbox).map(RawNames.show))\n\(d.log)")

        let log = d.log
        for c in counted {
            let shown = RawNames.show(c.name)
            let failedReason = RawNames.read(box.path("failed"), c.failedName + Array(".reason".utf8)).map { String(decoding: $0, as: UTF8.self) }
            let output = RawNames.read(box.path("outbox"), c.name)
            switch c.expect {
            case .processed:
                #expect(failedReason == nil, "\(shown) failed: \(failedReason ?? "")")
                #expect(output != nil, "\(shown) has no output")
            case .failed(let words):
                #expect(output == nil, "\(shown) was processed but should have failed")
                let reason = failedReason?.split(separator: "\n").first { $0.hasPrefix("reason: ") }.map(String.init) ?? ""
                #expect(words.contains { reason.lowercased().contains($0) }, "\(shown): reason `\(reason)` names none of \(words)")
                // It names the file the user dropped, not the daemon's private copy of it.
                #expect(!reason.contains(box.path("state")), "\(shown): reason `\(reason)` names the staged copy")
                #expect(RawNames.exists(box.path("failed"), c.failedName), "\(shown): the original is not in failed/")
            case .processedOrFailed:
                #expect((output != nil) != (failedReason != nil), "\(shown): both or neither outcome")
            }
            if let output, let input = Self.decodable(c) {
                // The result reads back as a photo of the same size.
                let decoded = try? PhotoIO.decode(data: output, name: shown)
                #expect(decoded?.width == input.width && decoded?.height == input.height, "\(shown): output does not decode to \(input.width)x\(input.height)")
            }
            if failedReason != nil, let filed = String(validating: c.failedName, as: UTF8.self), !filed.contains("\n") {
                #expect(log.contains("Cannot deblur \(filed)"), "\(filed) is not named in the journal")
            }
        }
        // Upload-style dot-names are left alone, not taken and not lost.
        for c in ignored { #expect(RawNames.exists(inbox, c.name), "\(RawNames.show(c.name)) was taken or lost") }
        // Nothing left in the inbox but those, nothing escaped the outbox tree.
        #expect(RawNames.list(inbox).count == ignored.count, "\(RawNames.list(inbox).map(RawNames.show))")
        #expect(RawNames.list(outside).map(RawNames.show) == ["secret.jpg"])
        #expect(RawNames.list(box.path("outbox")).allSatisfy { !String(decoding: $0, as: UTF8.self).hasSuffix(".mtrnn-tmp") })

        // The daemon is alive and the status counts what happened and names the last error.
        #expect(d.process.isRunning)
        let status = ctl(box, ["status", "--json"])
        #expect(status.status == 0)
        let report = try JSONDecoder().decode(StatusJSON.self, from: Data(status.stdout.utf8))
        let failedCount = counted.filter { RawNames.exists(box.path("failed"), $0.failedName + Array(".reason".utf8)) }.count
        #expect(report.failed == failedCount)
        // Sharp photos (the real pipeline's sharp_photos = copy) are counted apart from done.
        #expect(report.done + (report.sharp ?? 0) == counted.count - failedCount)
        #expect(report.lastError?.isEmpty == false)
        #expect(await d.stop() == 0)
    }

    /// Deleted while queued: nothing to do, said so. Replaced while processed:
    /// the result of the old version is kept, the new version is processed too,
    /// its result beside the first (results are never replaced: issue 16).
    /// A slow fake processor (3 s per photo) makes the moments reliable, also
    /// on a loaded machine (1 s per photo left too small a window).
    @Test(.timeLimit(.minutes(2)))
    func deletedWhileQueuedAndReplacedWhileProcessed() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, processor: "copy:3")
        #expect(await d.waitReady())
        box.write("inbox/a.jpg", fakeJPEG("a"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("\"file\" : \"a.jpg\"") }, "\(d.log)")
        box.write("inbox/b.jpg", fakeJPEG("b"))
        box.write("inbox/c.jpg", fakeJPEG("c-old"))
        try await Task.sleep(for: .milliseconds(400))  // settled and queued behind a.jpg
        unlink(box.path("inbox/b.jpg"))
        #expect(await eventually { ctl(box, ["status", "--json"]).stdout.contains("\"file\" : \"c.jpg\"") }, "\(d.log)")
        // Replace c.jpg the way an uploader does: new inode renamed over the old one.
        box.write("inbox/.c.jpg.part", fakeJPEG("c-new"))
        #expect(rename(box.path("inbox/.c.jpg.part"), box.path("inbox/c.jpg")) == 0)
        #expect(await eventually(40) { box.read("outbox/c-1.jpg") == fakeJPEG("c-new") && box.list("inbox").isEmpty }, "\(d.log)")
        #expect(box.read("outbox/c.jpg") == fakeJPEG("c-old"))
        #expect(box.read("archive/c.jpg") == fakeJPEG("c-new"))
        #expect(box.list("archive") == ["a.jpg", "c.jpg"])
        #expect(box.list("outbox") == ["a.jpg", "c-1.jpg", "c.jpg"])
        #expect(box.list("failed").isEmpty)
        #expect(d.log.contains("b.jpg disappeared from the inbox"))
        #expect(d.log.contains("c.jpg was replaced while it was processed"))
        #expect(await d.stop() == 0)
    }

    struct StatusJSON: Decodable {
        var done: Int; var failed: Int; var lastError: String?; var sharp: Int?
        enum CodingKeys: String, CodingKey { case done, failed, lastError = "last_error", sharp }
    }

    static func decodable(_ c: Case) -> Image? {
        c.source.flatMap { try? PhotoIO.decode(data: $0, name: "source") }
    }

    // MARK: corpus makers

    static func pngWithSize(_ png: [UInt8], _ w: UInt32, _ h: UInt32) -> [UInt8] {
        var b = png
        for (i, v) in [w, h].enumerated() { for k in 0..<4 { b[16 + 4 * i + k] = UInt8(truncatingIfNeeded: v >> (24 - 8 * k)) } }
        let crc = crc32(b[12..<29])
        for k in 0..<4 { b[29 + k] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * k)) }
        return b
    }

    static func jpegWithSize(_ jpeg: [UInt8], _ w: UInt16, _ h: UInt16) -> [UInt8] {
        var b = jpeg
        var i = 2
        while i + 9 < b.count {
            let m = b[i + 1], len = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if m == 0xC0 || m == 0xC2 {
                b[i + 5] = UInt8(h >> 8); b[i + 6] = UInt8(h & 0xFF); b[i + 7] = UInt8(w >> 8); b[i + 8] = UInt8(w & 0xFF)
                return b
            }
            i += 2 + len
        }
        return b
    }

    /// Little-endian TIFF (Pillow writes II): ImageWidth/ImageLength as SHORT or LONG in the first directory.
    static func tiffWithSize(_ tiff: [UInt8], _ w: UInt32, _ h: UInt32) -> [UInt8] {
        var b = tiff
        func u16(_ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
        let ifd = Int(b[4]) | Int(b[5]) << 8 | Int(b[6]) << 16 | Int(b[7]) << 24
        for e in 0..<u16(ifd) {
            let at = ifd + 2 + 12 * e
            let tag = u16(at)
            guard tag == 256 || tag == 257 else { continue }
            let v = tag == 256 ? w : h
            b[at + 2] = 4; b[at + 3] = 0  // LONG
            for k in 0..<4 { b[at + 8 + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
        }
        return b
    }

    static func jpegWithHugeAPP1(_ jpeg: [UInt8]) -> [UInt8] {
        // A maximal EXIF APP1 (65533 bytes of payload) and 15 more maximal APP1s: about 1 MB of metadata.
        var segments: [UInt8] = []
        for n in 0..<16 {
            var payload: [UInt8] = n == 0 ? Array("Exif\u{0}\u{0}".utf8) + [0x49, 0x49, 0x2A, 0x00, 8, 0, 0, 0, 0, 0] : Array("http://example.com/blob\u{0}".utf8)
            while payload.count < 65533 { payload.append(UInt8(truncatingIfNeeded: payload.count * 7 + n)) }
            segments += [0xFF, 0xE1, 0xFF, 0xFF] + payload
        }
        return Array(jpeg[0..<2]) + segments + Array(jpeg[2...])
    }

    static func pngInsertingChunk(_ png: [UInt8], _ type: String, _ data: [UInt8], validCRC: Bool) -> [UInt8] {
        let body = Array(type.utf8) + data
        var crc = crc32(body[...])
        if !validCRC { crc ^= 0xDEAD_BEEF }
        let len = UInt32(data.count)
        let chunk = (0..<4).map { UInt8(truncatingIfNeeded: len >> (24 - 8 * $0)) } + body + (0..<4).map { UInt8(truncatingIfNeeded: crc >> (24 - 8 * $0)) }
        return Array(png[0..<33]) + chunk + Array(png[33...])  // right after IHDR
    }

    static func flippingIDAT(_ png: [UInt8]) -> [UInt8] {
        var b = png
        var i = 8
        while i + 8 < b.count {
            let len = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            if String(decoding: b[i + 4..<i + 8], as: UTF8.self) == "IDAT" {
                for k in 0..<min(len, 8) { b[i + 8 + k] ^= 0x5A }
                return b
            }
            i += 12 + len
        }
        return b
    }

    static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }
}
