import Foundation
import PhotoIO
import Testing

/// `mtrnnctl deblur` over many photos (issue 19): folders, -r, --name,
/// --skip-existing, our own outputs passed over, --dry-run, --json,
/// --preview, --quiet and the batch progress.
@Suite struct DeblurBatchTests {
    static func mkdir(_ dir: TempDir, _ sub: String) throws {
        try FileManager.default.createDirectory(atPath: dir.path(sub), withIntermediateDirectories: true)
    }

    /// A folder with photos, things that are not photos, hidden and temporary
    /// files, and a subfolder.
    static func album(_ dir: TempDir) throws {
        try mkdir(dir, "in/sub/deeper")
        try dir.photo("in/a.jpg", format: .jpeg)
        try dir.photo("in/b.PNG", format: .png)
        dir.write("in/notes.txt", Data("not a photo".utf8))
        try dir.photo("in/.hidden.jpg", format: .jpeg)
        try dir.photo("in/~lock.jpg", format: .jpeg)
        try dir.photo("in/.a.jpg.mtrnn-tmp.k3j2.tmp", format: .jpeg)
        try dir.photo("in/sub/c.tif", format: .tiff)
        try dir.photo("in/sub/deeper/d.jpeg", format: .jpeg)
    }

    static func jsonLines(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "not an object: \($0)")
        }
    }

    @Test("a folder: its own photos only without -r, a note about the subfolders")
    func folderWithoutRecursion() throws {
        let dir = try TempDir()
        try Self.album(dir)
        let r = try CLI.run(["deblur", dir.path("in")] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list("in") == [".a.jpg.mtrnn-tmp.k3j2.tmp", ".hidden.jpg", "a-deblurred.jpg", "a.jpg",
                                   "b-deblurred.PNG", "b.PNG", "notes.txt", "sub", "~lock.jpg"], "\(r)")
        #expect(dir.list("in/sub") == ["c.tif", "deeper"])
        #expect(r.stderr.contains("1 subfolder not entered") && r.stderr.contains("-r"), "\(r)")
        #expect(r.stdout.contains("2 deblurred, 0 sharp already (left alone), 0 failed"), "\(r)")
    }

    @Test("a photo named twice (by name and in its folder) is done once; a link to a folder is not entered")
    func namedTwice() throws {
        let dir = try TempDir()
        try Self.mkdir(dir, "in")
        try Self.mkdir(dir, "elsewhere")
        let a = try dir.photo("in/a.png", format: .png)
        try dir.photo("elsewhere/e.png", format: .png)
        try FileManager.default.createSymbolicLink(atPath: dir.path("in/link"), withDestinationPath: dir.path("elsewhere"))
        let r = try CLI.run(["deblur", "-r", dir.path("in"), a, dir.root + "/in/./a.png"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list("in") == ["a-deblurred.png", "a.png", "link"], "\(r)")
        #expect(dir.list("elsewhere") == ["e.png"], "\(r)")
        #expect(r.stdout.split(separator: "\n").count == 1, "\(r)")
    }

    @Test("-r with --output-dir mirrors the subfolders, and never enters the output folder")
    func recursiveMirrors() throws {
        let dir = try TempDir()
        try Self.album(dir)
        try Self.mkdir(dir, "in/sharp")
        let r = try CLI.run(["deblur", "-r", dir.path("in"), "--output-dir", dir.path("in/sharp")] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list("in/sharp") == ["a.jpg", "b.PNG", "sub"], "\(r)")
        #expect(dir.list("in/sharp/sub") == ["c.tif", "deeper"])
        #expect(dir.list("in/sharp/sub/deeper") == ["d.jpeg"])
        #expect(try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("in/sharp/sub/c.tif"))).format == .tiff)
        // Again: the results are not taken as inputs (no in/sharp/sharp), the photos done are passed over.
        let again = try CLI.run(["deblur", "--recursive", dir.path("in"), "--output-dir", dir.path("in/sharp"),
                                 "--skip-existing"] + CLI.fast)
        #expect(again.status == 0, "\(again)")
        #expect(dir.list("in/sharp") == ["a.jpg", "b.PNG", "sub"], "\(again)")
        #expect(again.stdout.contains("0 deblurred") && again.stdout.contains("4 skipped"), "\(again)")
    }

    /// The bug of issue 19: `mtrnnctl deblur *.jpg` run twice deblurred the
    /// results of the first run into x-deblurred-deblurred.jpg.
    @Test("a second run over *.jpg does not deblur the first run's outputs")
    func ownOutputsAreNotInputs() throws {
        let dir = try TempDir()
        let x = try dir.photo("x.jpg", format: .jpeg)
        let first = try CLI.run(["deblur", x] + CLI.fast)
        #expect(first.status == 0, "\(first)")
        #expect(dir.list() == ["x-deblurred.jpg", "x.jpg"])
        // What the shell makes of *.jpg the second time (only flags the old version had).
        let second = try CLI.run(["deblur", x, dir.path("x-deblurred.jpg"), "--overwrite"] + CLI.fast)
        #expect(second.status == 0, "\(second)")
        #expect(dir.list() == ["x-deblurred.jpg", "x.jpg"], "\(second)")
        #expect(second.stdout.contains("x-deblurred.jpg: skipped: named like an output"), "\(second)")
        // In a folder too; and -o deblurs such a file when that is what the user wants.
        let folder = try CLI.run(["deblur", dir.root, "--skip-existing"] + CLI.fast)
        #expect(folder.status == 0 && dir.list() == ["x-deblurred.jpg", "x.jpg"], "\(folder)")
        let forced = try CLI.run(["deblur", dir.path("x-deblurred.jpg"), "-o", dir.path("twice.jpg")] + CLI.fast)
        #expect(forced.status == 0 && dir.exists("twice.jpg"), "\(forced)")
    }

    @Test func skipExisting() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png), b = try dir.photo("b.png", format: .png)
        let stale = Data("done before".utf8)
        dir.write("a-deblurred.png", stale)
        let r = try CLI.run(["deblur", a, b, "--skip-existing"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.bytes("a-deblurred.png") == stale)
        #expect(dir.exists("b-deblurred.png"))
        #expect(r.stdout.contains("a.png: skipped: ") && r.stdout.contains("exists already"), "\(r)")
        #expect(r.stdout.contains("1 deblurred, 0 sharp already (left alone), 0 failed, 1 skipped"), "\(r)")
        #expect(r.stderr.isEmpty, "\(r)")
    }

    @Test("--name names the outputs; %f the base name, %e the extension")
    func nameTemplate() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.jpg", format: .jpeg), b = try dir.photo("b.tif", format: .tiff)
        let r = try CLI.run(["deblur", a, b, "--name", "sharp_%f_100%%.%e"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list() == ["a.jpg", "b.tif", "sharp_a_100%.jpg", "sharp_b_100%.tif"], "\(r)")
        // Outputs of this pattern are passed over the next time.
        let again = try CLI.run(["deblur", dir.root, "--name", "sharp_%f_100%%.%e", "--skip-existing"] + CLI.fast)
        #expect(again.status == 0 && dir.list().count == 4, "\(again)")
        #expect(again.stdout.contains("sharp_a_100%.jpg: skipped"), "\(again)")
        // %f.%e is the input's own name: fine in another folder.
        try Self.mkdir(dir, "out")
        let same = try CLI.run(["deblur", a, "--name", "%f.%e", "--output-dir", dir.path("out")] + CLI.fast)
        #expect(same.status == 0 && dir.list("out") == ["a.jpg"], "\(same)")
    }

    @Test("templates that would merge outputs, change the format or hit the input are usage errors", arguments: [
        (["--name", "sharp.%e"], "has no %f"),
        (["--name", "%f-sharp.jpg"], "must end in .%e"),
        (["--name", "%f.%e"], "over its input"),
        (["--name", "%d/%f.%e"], "not a folder"),
        (["--name", "%f-%x.%e"], "only %f"),
        (["--overwrite", "--skip-existing"], "not both"),
        (["--preview-region", "10x10"], "--preview-region must be"),
        (["--preview-region", "512x512+1"], "--preview-region must be"),
        (["--preview-region", "axb"], "--preview-region must be"),
    ])
    func badTemplates(extra: [String], message: String) throws {
        let dir = try TempDir()
        let input = try dir.photo("p.jpg", format: .jpeg)
        let r = try CLI.run(["deblur", input] + CLI.fast + extra)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains(message), "\(r)")
        #expect(dir.list() == ["p.jpg"])
    }

    @Test("two photos of one name in a recursive run into one folder: 64 before any work")
    func mirroredCollision() throws {
        let dir = try TempDir()
        try Self.mkdir(dir, "one"); try Self.mkdir(dir, "two"); try Self.mkdir(dir, "out")
        try dir.photo("one/p.png", format: .png); try dir.photo("two/p.png", format: .png)
        let r = try CLI.run(["deblur", dir.path("one"), dir.path("two"), "--output-dir", dir.path("out")] + CLI.fast)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains("would both be written to"), "\(r)")
        #expect(dir.list("out").isEmpty)
    }

    @Test("--dry-run lists what would be done and loads no weights")
    func dryRun() throws {
        let dir = try TempDir()
        try Self.album(dir)
        dir.write("in/a-deblurred.jpg", Data("old".utf8))
        let noWeights = ["--weights", dir.path("nowhere.safetensors")]
        let r = try CLI.run(["deblur", "-r", dir.path("in"), "--dry-run", "--skip-existing"] + noWeights)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains(dir.path("in/b.PNG") + " -> " + dir.path("in/b-deblurred.PNG")), "\(r)")
        #expect(r.stdout.contains(dir.path("in/sub/deeper/d.jpeg") + " -> "), "\(r)")
        #expect(r.stdout.contains(dir.path("in/a.jpg") + ": skipped: "), "\(r)")
        #expect(r.stdout.contains(dir.path("in/a-deblurred.jpg") + ": skipped: named like an output"), "\(r)")
        #expect(r.stdout.contains("3 would be deblurred, 2 skipped, 0 failed"), "\(r)")
        #expect(!dir.exists("in/b-deblurred.PNG") && !dir.exists("in/sub/c-deblurred.tif"))

        // What would fail says so, and the status says so.
        let bad = try CLI.run(["deblur", dir.path("in/a.jpg"), dir.path("missing.jpg"), "--dry-run"] + noWeights)
        #expect(bad.status == 1, "\(bad)")
        #expect(bad.stderr.contains("missing.jpg: no such file"), "\(bad)")
        #expect(bad.stderr.contains("a-deblurred.jpg: the output already exists"), "\(bad)")
    }

    @Test("--json: one object per photo, snake_case, slashes as they are")
    func json() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png), b = try dir.photo("b.png", format: .png)
        dir.write("b-deblurred.png", Data("old".utf8))
        dir.write("bad.jpg", Data("not a photo".utf8))
        let ours = try dir.photo("c-deblurred.png", format: .png)
        let r = try CLI.run(["deblur", a, b, dir.path("bad.jpg"), ours, "--skip-existing",
                             "--json"] + CLI.fast)
        #expect(r.status == 1, "\(r)")
        #expect(!r.stdout.contains("\\/"), "\(r)")
        let rows = try Self.jsonLines(r.stdout)
        let byInput = Dictionary(rows.map { ($0["input"] as? String ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(rows.count == 4, "\(r)")
        for row in rows {
            #expect(Set(row.keys) == ["input", "output", "status", "seconds", "message", "stage_seconds"], "\(row)")
        }
        #expect(byInput[a]?["stage_seconds"] is [String: Any])
        #expect(byInput[b]?["stage_seconds"] is NSNull)
        #expect(byInput[a]?["status"] as? String == "deblurred")
        #expect(byInput[a]?["output"] as? String == dir.path("a-deblurred.png"))
        #expect((byInput[a]?["seconds"] as? Double).map { $0 > 0 } == true)
        #expect(byInput[b]?["status"] as? String == "skipped_existing")
        #expect(byInput[b]?["output"] is NSNull)
        #expect(byInput[dir.path("bad.jpg")]?["status"] as? String == "failed")
        #expect((byInput[dir.path("bad.jpg")]?["message"] as? String)?.contains("bad.jpg") == true)
        #expect(byInput[ours]?["status"] as? String == "skipped_own_output")
        // Errors are still said on stderr, for people.
        #expect(r.stderr.contains("bad.jpg"), "\(r)")

        let dry = try CLI.run(["deblur", a, "--json", "--dry-run", "--overwrite"] + CLI.fast)
        #expect(dry.status == 0, "\(dry)")
        #expect(try Self.jsonLines(dry.stdout).map { $0["status"] as? String } == ["would_deblur"], "\(dry)")
    }

    @Test("--preview writes the region before and after, side by side, and no output")
    func preview() throws {
        let dir = try TempDir()
        let input = try dir.photo("p.png", format: .png, width: 120, height: 90)
        let r = try CLI.run(["deblur", input, "--preview-region", "40x32+8+16"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(dir.list() == ["p-deblurred.preview.png", "p.png"], "\(r)")
        #expect(r.stdout.contains("preview of 40x32+8+16"), "\(r)")
        let preview = try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("p-deblurred.preview.png")))
        #expect(preview.width == 2 * 40 + 4 && preview.height == 32 && preview.channels == 3)
        // The left half is the photo's own region, exactly; the right half is not.
        let original = try PhotoIO.decode(contentsOf: URL(fileURLWithPath: input))
        var left: [UInt16] = [], right: [UInt16] = [], region: [UInt16] = []
        for y in 0..<32 {
            let row = y * preview.width * 3
            left += preview.samples[row..<(row + 40 * 3)]
            right += preview.samples[(row + 44 * 3)..<(row + 84 * 3)]
            let src = ((16 + y) * 120 + 8) * 3
            region += original.samples[src..<(src + 40 * 3)]
        }
        #expect(left == region)
        #expect(right != region)

        // Centred by default, cut to a small photo; a region off the photo is that photo's failure.
        let small = try dir.photo("small.jpg", format: .jpeg)
        let whole = try CLI.run(["deblur", small, "--preview"] + CLI.fast)
        #expect(whole.status == 0, "\(whole)")
        let wholePreview = try PhotoIO.decode(contentsOf: URL(fileURLWithPath: dir.path("small-deblurred.preview.png")))
        #expect(wholePreview.width == 84 && wholePreview.height == 30)
        let outside = try CLI.run(["deblur", input, "--preview-region", "64x64+500+0", "--overwrite"] + CLI.fast)
        #expect(outside.status == 1, "\(outside)")
        #expect(outside.stderr.contains("starts outside the 120x90 photo"), "\(outside)")
        // Previews are not taken as photos by the next run.
        let again = try CLI.run(["deblur", dir.root, "--dry-run"] + CLI.fast)
        #expect(again.stdout.contains("p-deblurred.preview.png: skipped: a preview"), "\(again)")
    }

    @Test func quiet() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png), b = try dir.photo("b.png", format: .png)
        let r = try CLI.run(["deblur", a, b, "-q"] + CLI.fast)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.isEmpty && r.stderr.isEmpty, "\(r)")
        #expect(dir.exists("a-deblurred.png") && dir.exists("b-deblurred.png"))
        let failing = try CLI.run(["deblur", a, dir.path("missing.png"), "--quiet", "--overwrite"] + CLI.fast)
        #expect(failing.status == 1 && failing.stderr.contains("missing.png"), "\(failing)")
    }

    @Test("on a terminal: photo N/M and the batch's time left; --quiet shows nothing",
          .enabled(if: CLI.which("script") != nil, "script(1) is not installed (util-linux)"))
    func batchProgress() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png), b = try dir.photo("b.png", format: .png)
        let command = ([CLI.mtrnnctl, "deblur", a, b] + CLI.fast).map { "'\($0)'" }.joined(separator: " ")
        let script = try #require(CLI.which("script"))
        let tty = try CLI.run(["-qec", command, "/dev/null"], executable: script)
        #expect(tty.status == 0, "\(tty)")
        #expect(tty.stdout.contains("photo 1/2 a.png [") && tty.stdout.contains("photo 2/2 b.png ["), "\(tty)")
        #expect(tty.stdout.contains("; batch ") && tty.stdout.contains(" left"), "\(tty)")
        let quiet = try CLI.run(["-qec", command + " --quiet --overwrite", "/dev/null"], executable: script)
        #expect(quiet.status == 0, "\(quiet)")
        #expect(quiet.stdout.isEmpty, "\(quiet)")
    }
}
