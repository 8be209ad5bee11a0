import Foundation
import PhotoIO
import Testing

/// `mtrnnctl deblur` as a user runs it: the built binary on temp folders.
@Suite struct DeblurCommandTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String, format: ImageFormat, channels: Int, bitDepth: Int
        var testDescription: String { "\(file) \(channels)ch \(bitDepth)-bit" }
    }

    @Test("same format, depth and channels out, named NAME-deblurred.EXT next to the input", arguments: [
        Case(file: "photo.jpg", format: .jpeg, channels: 3, bitDepth: 8),
        Case(file: "photo.JPEG", format: .jpeg, channels: 1, bitDepth: 8),
        Case(file: "photo.png", format: .png, channels: 3, bitDepth: 8),
        Case(file: "photo.png", format: .png, channels: 4, bitDepth: 16),
        Case(file: "photo.tif", format: .tiff, channels: 3, bitDepth: 8),
        Case(file: "photo.tiff", format: .tiff, channels: 1, bitDepth: 16),
    ])
    func defaultNaming(_ c: Case) throws {
        let dir = try TempDir()
        let input = try dir.photo(c.file, format: c.format, channels: c.channels, bitDepth: c.bitDepth)
        let before = dir.bytes(c.file)
        let r = try CLI.run(["deblur", input] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        let stem = (c.file as NSString).deletingPathExtension, ext = (c.file as NSString).pathExtension
        let expected = "\(stem)-deblurred.\(ext)"
        // Nothing else: no temporary file left behind.
        #expect(dir.list() == [c.file, expected].sorted())
        #expect(dir.bytes(c.file) == before, "the input was modified")
        #expect(r.stdout.contains(expected))
        let out = try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path(expected)))
        #expect(out.format == c.format)
        #expect(out.width == 40 && out.height == 30)
        #expect(out.channels == c.channels)
        #expect(out.bitDepth == c.bitDepth)
        let original = try PhotoIO.decode(contentsOf: URL(fileURLWithPath: input))
        #expect(out.samples != original.samples, "the output is the input unchanged")
    }

    /// --scale auto (issue 18): the scale comes from the photo's estimated
    /// blur (a 45 px line blur: scale 2), and the summary says so. The flat-tile
    /// threshold keeps the network out of it: only the choice is under test.
    @Test func scaleAuto() throws {
        let dir = try TempDir()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DeblurTests/BlurExtentFixtures/line45.png")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: dir.path("blurred.png"))
        let r = try CLI.run(["deblur", dir.path("blurred.png"), "-o", dir.path("out.png"), "--scale", "auto",
                             "--skip-flat", "255"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains(", scale 2 (blur about 45 px, confidence 0.77)"), "\(r)")
        let plain = try CLI.run(["deblur", dir.path("blurred.png"), "-o", dir.path("out1.png"),
                                 "--skip-flat", "255"] + CLI.fast)
        #expect(plain.status == 0, "\(plain)")
        #expect(!plain.stdout.contains("blur about"), "\(plain)")
    }

    @Test func outputOption() throws {
        let dir = try TempDir()
        let input = try dir.photo("in.png", format: .png)
        let r = try CLI.run(["deblur", input, "-o", dir.path("sharp.png")] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list() == ["in.png", "sharp.png"])
        #expect(try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("sharp.png"))).format == .png)

        let long = try CLI.run(["deblur", input, "--output", dir.path("sharp2.png")] + CLI.fast)
        #expect(long.status == 0, "\(long)")
        #expect(dir.exists("sharp2.png"))
    }

    @Test func outputDirectoryKeepsNames() throws {
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.path("out"), withIntermediateDirectories: false)
        let a = try dir.photo("a.jpg", format: .jpeg)
        let b = try dir.photo("b.tiff", format: .tiff)
        let r = try CLI.run(["deblur", a, b, "--output-dir", dir.path("out")] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list("out") == ["a.jpg", "b.tiff"])
        #expect(dir.list() == ["a.jpg", "b.tiff", "out"])
        #expect(try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("out/b.tiff"))).format == .tiff)
    }

    @Test("never writes over the input, even with --overwrite", arguments: [false, true])
    func neverOverwritesInput(overwrite: Bool) throws {
        let dir = try TempDir()
        let input = try dir.photo("keep.jpg", format: .jpeg)
        let before = dir.bytes("keep.jpg")
        let flag = overwrite ? ["--overwrite"] : []
        for target in [["-o", input], ["-o", dir.root + "/./keep.jpg"], ["--output-dir", dir.root]] {
            let r = try CLI.run(["deblur", input] + target + flag + CLI.fast)
            #expect(r.status == 1, "\(r)")
            #expect(r.stderrLines.count == 1, "\(r)")
            #expect(r.stderr.contains("keep.jpg") && r.stderr.contains("replace the input"), "\(r)")
            #expect(dir.bytes("keep.jpg") == before)
            #expect(dir.list() == ["keep.jpg"])
        }
    }

    @Test func existingOutputNeedsOverwrite() throws {
        let dir = try TempDir()
        let input = try dir.photo("p.png", format: .png)
        let stale = Data("old".utf8)
        dir.write("p-deblurred.png", stale)
        let refused = try CLI.run(["deblur", input] + CLI.fast)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.stderr.contains("p-deblurred.png") && refused.stderr.contains("--overwrite"), "\(refused)")
        #expect(dir.bytes("p-deblurred.png") == stale)

        let replaced = try CLI.run(["deblur", input, "--overwrite"] + CLI.fast)
        #expect(replaced.status == 0, "\(replaced)")
        #expect(try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("p-deblurred.png"))).format == .png)
    }

    @Test("a bad file gets one line naming it and exit 1; the others are still done")
    func badFilesDoNotStopTheRest() throws {
        let dir = try TempDir()
        let good1 = try dir.photo("good1.png", format: .png)
        dir.write("garbage.jpg", Data("this is not a photo".utf8))
        let whole = try PhotoIO.encode(TestPhoto.make(format: .jpeg, channels: 3, bitDepth: 8, width: 40, height: 30))
        dir.write("cut.jpg", Data(whole.prefix(whole.count / 2)))
        // A folder is an input too (issue 19): this one has no photos, which is said, and is no failure.
        try FileManager.default.createDirectory(atPath: dir.path("folder.jpg"), withIntermediateDirectories: false)
        let good2 = try dir.photo("good2.tif", format: .tiff)
        let inputs = [good1, dir.path("garbage.jpg"), dir.path("cut.jpg"), dir.path("missing.jpg"),
                      dir.path("folder.jpg"), good2]
        let r = try CLI.run(["deblur"] + inputs + CLI.fast)
        #expect(r.status == 1, "\(r)")
        for bad in ["garbage.jpg", "cut.jpg", "missing.jpg", "folder.jpg"] {
            let lines = r.stderrLines.filter { $0.contains(bad) }
            #expect(lines.count == 1, "expected one line about \(bad):\n\(r)")
        }
        #expect(r.stderr.contains("folder.jpg: no JPEG, PNG or TIFF photos in it"), "\(r)")
        // One line per bad file, the folder's note and one summary; nothing for the good ones.
        #expect(r.stderrLines.count == 5, "\(r)")
        #expect(r.stderr.contains("3 of 5 photos failed"), "\(r)")
        #expect(!r.stderr.contains("NSCocoaErrorDomain"), "\(r)")
        #expect(dir.exists("good1-deblurred.png") && dir.exists("good2-deblurred.tif"))
        #expect(!dir.exists("garbage-deblurred.jpg") && !dir.exists("cut-deblurred.jpg"))
        #expect(dir.list().allSatisfy { !$0.hasPrefix(".") }, "temporary file left: \(dir.list())")
    }

    @Test func missingWeightsExit2() throws {
        let dir = try TempDir()
        let input = try dir.photo("p.jpg", format: .jpeg)
        let missing = dir.path("nowhere/mtrnn.safetensors")
        let noWeights = ["--iterations", "1", "--tile", "32", "--overlap", "8"]

        let named = try CLI.run(["deblur", input, "--weights", missing] + noWeights)
        #expect(named.status == 2, "\(named)")
        #expect(named.stderrLines.count == 1 && named.stderr.contains(missing), "\(named)")

        let fromEnvironment = try CLI.run(["deblur", input] + noWeights, environment: ["MTRNN_WEIGHTS": missing])
        #expect(fromEnvironment.status == 2, "\(fromEnvironment)")
        #expect(fromEnvironment.stderr.contains(missing), "\(fromEnvironment)")

        dir.write("broken.safetensors", Data("not safetensors at all".utf8))
        let broken = try CLI.run(["deblur", input, "--weights", dir.path("broken.safetensors")] + noWeights)
        #expect(broken.status == 2, "\(broken)")
        #expect(broken.stderrLines.count == 1 && broken.stderr.contains("broken.safetensors"), "\(broken)")
        #expect(dir.list() == ["broken.safetensors", "p.jpg"])
    }

    @Test("no weights anywhere: exit 2, saying where it looked and what to do")
    func noWeightsFound() throws {
        // A copy of the binary outside the checkout finds no Models/ folder.
        let dir = try TempDir()
        try FileManager.default.createDirectory(atPath: dir.path("bin"), withIntermediateDirectories: false)
        try FileManager.default.copyItem(atPath: CLI.mtrnnctl, toPath: dir.path("bin/mtrnnctl"))
        let input = try dir.photo("p.png", format: .png)
        let r = try CLI.run(["deblur", input, "--iterations", "1"], executable: dir.path("bin/mtrnnctl"))
        #expect(r.status == 2, "\(r)")
        #expect(r.stderr.contains("no MT-RNN weights found"), "\(r)")
        #expect(r.stderr.contains("--weights") && r.stderr.contains("MTRNN_WEIGHTS"), "\(r)")
        #expect(!dir.exists("p-deblurred.png"))
    }

    @Test func bf16() throws {
        let dir = try TempDir()
        let input = try dir.photo("p.jpg", format: .jpeg)
        let r = try CLI.run(["deblur", input, "--precision", "bf16"] + CLI.fast)
        if CLI.cpuHasBF16 {
            #expect(r.status == 0, "\(r)")
        } else {
            // Refused once, before any photo, with the way out.
            #expect(r.status == 2, "\(r)")
            #expect(r.stderrLines.count == 1, "\(r)")
            #expect(r.stderr.contains("bf16") && r.stderr.contains("--precision f32"), "\(r)")
            #expect(dir.list() == ["p.jpg"])
        }
    }

    @Test("bad command lines are usage errors (64) with the option's own message", arguments: [
        (["--overlap", "-1"], "--overlap must be"),
        (["--overlap=-8"], "--overlap must be"),
        (["--overlap", "32"], "--overlap must be"),
        (["--quality", "0"], "--quality must be"),
        (["--quality", "101"], "--quality must be"),
        (["--iterations", "0"], "--iterations must be"),
        (["--iterations", "-2"], "--iterations must be"),
        (["--tile", "30"], "--tile must be"),
        (["--tile", "abc"], "--tile"),
        (["--workers", "-1"], "--workers must be"),
        (["--max-megapixels", "0"], "--max-megapixels must be"),
        (["--precision", "f16"], "--precision must be"),
        (["--scale", "5"], "--scale must be auto, 1, 2, 3 or 4"),
        (["--scale", "0"], "--scale must be auto, 1, 2, 3 or 4"),
        (["--scale", "big"], "--scale must be auto, 1, 2, 3 or 4"),
        (["--strength", "1.5"], "--strength must be a number from 0 to 1"),
        (["-o", "x.png", "--output-dir", "."], "not both"),
        (["-o", "x.png"], "keeps the input's format"),
        (["--output-dir", "/nonexistent-mtrnnctl-dir"], "not an existing folder"),
        (["-o", "."], "is a folder; use --output-dir"),
        (["--no-such-option"], "no-such-option"),
    ])
    func usageErrors(extra: [String], message: String) throws {
        let dir = try TempDir()
        let input = try dir.photo("p.jpg", format: .jpeg)
        // CLI.fast comes first so the option under test overrides it.
        let r = try CLI.run(["deblur", input] + CLI.fast + extra, in: dir.root)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains(message), "\(r)")
        #expect(!r.stderr.contains("Missing value"), "\(r)")
        #expect(dir.list() == ["p.jpg"])
    }

    @Test func usageErrorsWithoutOneInput() throws {
        let none = try CLI.run(["deblur"] + CLI.fast)
        #expect(none.status == 64, "\(none)")
        #expect(none.stderr.contains("at least one photo"), "\(none)")

        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png), b = try dir.photo("b.png", format: .png)
        let two = try CLI.run(["deblur", a, b, "-o", dir.path("x.png")] + CLI.fast)
        #expect(two.status == 64, "\(two)")
        #expect(two.stderr.contains("--output-dir"), "\(two)")
        #expect(dir.list() == ["a.png", "b.png"])
    }

    @Test("two inputs that would land on one output are refused before any work")
    func collidingOutputs() throws {
        let dir = try TempDir()
        for sub in ["one", "two", "out"] {
            try FileManager.default.createDirectory(atPath: dir.path(sub), withIntermediateDirectories: false)
        }
        let a = try dir.photo("one/p.png", format: .png), b = try dir.photo("two/p.png", format: .png)
        let r = try CLI.run(["deblur", a, b, "--output-dir", dir.path("out"), "--overwrite"] + CLI.fast)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains("would both be written to"), "\(r)")
        #expect(dir.list("out").isEmpty)
    }

    @Test("on a terminal a progress bar shows the tiles and is cleared; in a pipe stderr stays quiet",
          .enabled(if: CLI.which("script") != nil, "script(1) is not installed (util-linux)"))
    func progressBar() throws {
        let dir = try TempDir()
        let input = try dir.photo("bar.png", format: .png)
        let command = ([CLI.mtrnnctl, "deblur", input] + CLI.fast).map { "'\($0)'" }.joined(separator: " ")
        // script(1) gives the command a pseudo-terminal, as a user's shell would.
        let tty = try CLI.run(["-qec", command, "/dev/null"], executable: try #require(CLI.which("script")))
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("bar.png [") && tty.stdout.contains("2/2 tiles"), "\(tty)")
        // The bar is erased before the result line, so the terminal keeps only that.
        #expect(tty.stdout.contains("\r\u{1B}[K" + input + " -> "), "\(tty)")

        let piped = try CLI.run(["deblur", input, "--overwrite"] + CLI.fast)
        #expect(piped.status == 0, "\(piped)")
        #expect(piped.stderr.isEmpty, "\(piped)")
        #expect(piped.stdout.split(separator: "\n").count == 1, "\(piped)")
    }

    @Test("metadata survives: exiftool's Artist on the input reads the same on the output",
          .enabled(if: CLI.which("exiftool") != nil, "exiftool is not installed (Debian: libimage-exiftool-perl)"),
          arguments: [("m.jpg", ImageFormat.jpeg), ("m.png", .png), ("m.tif", .tiff)])
    func metadataKept(file: String, format: ImageFormat) throws {
        let exiftool = try #require(CLI.which("exiftool"))
        let dir = try TempDir()
        let input = try dir.photo(file, format: format)
        let tag = try CLI.run(["-q", "-overwrite_original", "-Artist=Ada Lovelace", "-Copyright=CC0", input],
                              executable: exiftool)
        try #require(tag.status == 0, "exiftool could not tag the input: \(tag)")
        let out = dir.path("out-" + file)
        let r = try CLI.run(["deblur", input, "-o", out] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        let read = try CLI.run(["-s3", "-Artist", "-Copyright", out], executable: exiftool)
        #expect(read.stdout.split(separator: "\n") == ["Ada Lovelace", "CC0"], "\(read)")
        // The processing note says who changed the pixels, and how.
        let all = try CLI.run(["-a", "-Software", "-Comment", "-s3", out], executable: exiftool)
        #expect(all.stdout.contains("mtrnn-watch") && all.stdout.contains("1 iteration"), "\(all)")
    }
}
