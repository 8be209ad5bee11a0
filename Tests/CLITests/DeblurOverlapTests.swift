import Foundation
import PhotoIO
import Testing

/// A batch with decode and encode overlapped with the network (issue 21),
/// against the same batch one photo at a time (`MTRNN_BATCH_OVERLAP=0`):
/// the same files, byte for byte, the same lines in the same order, a bad
/// photo reported in its place and the rest done.
@Suite struct DeblurOverlapTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DeblurTests/BlurExtentFixtures")

    /// A folder of photos that take different paths: a sharp one (copied),
    /// a long blur (`--scale auto`: 1/2), small ones in each format and
    /// depth, and a corrupt one in the middle, which fails at once while the
    /// photo before it is still in the network.
    static func batch(_ dir: TempDir) throws -> [String] {
        try FileManager.default.createDirectory(atPath: dir.path("in"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("sharp.png").path,
                                         toPath: dir.path("in/a-sharp.png"))
        try FileManager.default.copyItem(atPath: fixtures.appendingPathComponent("line45.png").path,
                                         toPath: dir.path("in/b-long-blur.png"))
        try dir.photo("in/c.jpg", format: .jpeg, width: 120, height: 90)
        dir.write("in/d-corrupt.jpg", Data([0xFF, 0xD8, 0xFF, 0xE0] + Array("not a JPEG at all".utf8)))
        try dir.photo("in/e.png", format: .png, channels: 4, bitDepth: 16)
        try dir.photo("in/f.tif", format: .tiff, channels: 1, bitDepth: 16)
        try dir.photo("in/g.jpg", format: .jpeg, channels: 1)
        return ["a-sharp.png", "b-long-blur.png", "c.jpg", "d-corrupt.jpg", "e.png", "f.tif", "g.jpg"]
    }

    static func run(_ dir: TempDir, overlap: String?, into out: String, json: Bool = true) throws -> CLIResult {
        try FileManager.default.createDirectory(atPath: dir.path(out), withIntermediateDirectories: true)
        return try CLI.run(["deblur", dir.path("in"), "--output-dir", dir.path(out), "--scale", "auto"]
                            + (json ? ["--json"] : []) + CLI.fast,
                           environment: ["MTRNN_BATCH_OVERLAP": overlap], timeout: 180)
    }

    @Test("overlapped and one at a time: the same files, byte for byte, and the same --json lines in order")
    func sameOutputsAndOrder() throws {
        let dir = try TempDir()
        let names = try Self.batch(dir)
        let sequential = try Self.run(dir, overlap: "0", into: "seq")
        let overlapped = try Self.run(dir, overlap: nil, into: "ovl")
        for r in [sequential, overlapped] {
            // The corrupt photo fails (1); every other photo is done.
            #expect(r.status == 1, "\(r)")
            #expect(r.stderr.contains("d-corrupt.jpg"), "\(r)")
        }
        let expected = names.filter { $0 != "d-corrupt.jpg" }
        #expect(dir.list("seq") == expected, "\(sequential)")
        #expect(dir.list("ovl") == expected, "\(overlapped)")
        for name in expected {
            let a = try #require(dir.bytes("seq/" + name)), b = try #require(dir.bytes("ovl/" + name))
            #expect(a == b, "\(name) differs between the overlapped and the one-at-a-time batch")
        }
        // The copy is the photo itself; the others were deblurred (not copied).
        #expect(dir.bytes("ovl/a-sharp.png") == dir.bytes("in/a-sharp.png"))
        #expect(dir.bytes("ovl/c.jpg") != dir.bytes("in/c.jpg"))

        let seqRows = try DeblurBatchTests.jsonLines(sequential.stdout)
        let ovlRows = try DeblurBatchTests.jsonLines(overlapped.stdout)
        // In the batch's order (a folder's photos by name), the failure in its place.
        let order = names.map { dir.path("in/" + $0) }
        #expect(seqRows.map { $0["input"] as? String } == order, "\(sequential)")
        #expect(ovlRows.map { $0["input"] as? String } == order, "\(overlapped)")
        let statuses = ["copied_sharp", "deblurred", "deblurred", "failed", "deblurred", "deblurred", "deblurred"]
        #expect(seqRows.map { $0["status"] as? String } == statuses, "\(sequential)")
        #expect(ovlRows.map { $0["status"] as? String } == statuses, "\(overlapped)")
        // The same messages (the copy's names its output folder).
        func messages(_ rows: [[String: Any]], _ out: String) -> [String?] {
            rows.map { ($0["message"] as? String)?.replacingOccurrences(of: dir.path(out), with: "OUT") }
        }
        #expect(messages(seqRows, "seq") == messages(ovlRows, "ovl"))
        let failure = try #require(ovlRows[3]["message"] as? String)
        #expect(failure.contains("d-corrupt.jpg"), "\(failure)")
    }

    @Test("--json: seconds per stage; a photo left alone has no network or encode of its own", arguments: ["0", "1"])
    func stageSeconds(overlap: String) throws {
        let dir = try TempDir()
        _ = try Self.batch(dir)
        let r = try Self.run(dir, overlap: overlap, into: "out")
        let rows = try DeblurBatchTests.jsonLines(r.stdout)
        #expect(rows.count == 7, "\(r)")
        for row in rows {
            let status = row["status"] as? String
            guard status != "failed" else {
                #expect(row["stage_seconds"] is NSNull, "\(row)")
                continue
            }
            let stages = try #require(row["stage_seconds"] as? [String: Any], "\(row)")
            #expect(Set(stages.keys) == ["decode", "score", "network", "encode", "write"], "\(row)")
            // Every stage ran (the score: --scale auto wants the blur estimate).
            let ran = status == "copied_sharp" ? ["decode", "score", "encode", "write"]
                                               : ["decode", "score", "network", "encode", "write"]
            for key in ran {
                let s = try #require(stages[key] as? Double, "\(key) of \(row)")
                #expect(s >= 0 && s < 120, "\(key) of \(row)")
            }
            if status == "copied_sharp" { #expect(stages["network"] is NSNull, "\(row)") }
            // `seconds` is the pipeline's stages (the write is not in it).
            let sum = ["decode", "score", "network", "encode"].compactMap { stages[$0] as? Double }.reduce(0, +)
            let seconds = try #require(row["seconds"] as? Double)
            #expect(abs(seconds - sum) < 0.05 + 0.1 * seconds, "\(row)")
        }
    }

    @Test("without --json: the same lines for people, in the same order, and the counts")
    func sameLines() throws {
        let dir = try TempDir()
        _ = try Self.batch(dir)
        let sequential = try Self.run(dir, overlap: "0", into: "seq", json: false)
        let overlapped = try Self.run(dir, overlap: "1", into: "ovl", json: false)
        // The lines name the output folder and the times differ; the rest is the same.
        func shape(_ r: CLIResult, _ out: String) -> [String] {
            r.stdout.split(separator: "\n").map {
                $0.replacingOccurrences(of: dir.path(out), with: "OUT")
                    .replacingOccurrences(of: #"[0-9.]+ s( \([0-9.]+ s/MP\))?"#, with: "T", options: .regularExpression)
            }
        }
        #expect(shape(sequential, "seq") == shape(overlapped, "ovl"), "\(sequential)\n\(overlapped)")
        #expect(overlapped.stdout.contains("5 deblurred, 1 sharp already (left alone), 1 failed"), "\(overlapped)")
        #expect(overlapped.stderr.contains("1 of 7 photos failed"), "\(overlapped)")
        #expect(sequential.stderr == overlapped.stderr, "\(sequential)\n\(overlapped)")
    }

    @Test("--skip-existing and an output that exists: the same skips and failures in both modes", arguments: ["0", "1"])
    func existingOutputs(overlap: String) throws {
        let dir = try TempDir()
        _ = try Self.batch(dir)
        try FileManager.default.createDirectory(atPath: dir.path("out"), withIntermediateDirectories: true)
        dir.write("out/c.jpg", Data("done before".utf8))
        let skipping = try CLI.run(["deblur", dir.path("in"), "--output-dir", dir.path("out"), "--skip-existing",
                                    "--json"] + CLI.fast, environment: ["MTRNN_BATCH_OVERLAP": overlap], timeout: 180)
        #expect(skipping.status == 1, "\(skipping)")
        #expect(dir.bytes("out/c.jpg") == Data("done before".utf8))
        let rows = try DeblurBatchTests.jsonLines(skipping.stdout)
        // Skips are said first, before any work; then the photos in order.
        #expect(rows.map { ($0["input"] as? String).map { ($0 as NSString).lastPathComponent } }
                == ["c.jpg", "a-sharp.png", "b-long-blur.png", "d-corrupt.jpg", "e.png", "f.tif", "g.jpg"], "\(skipping)")
        #expect(rows.first?["status"] as? String == "skipped_existing")
        // Without --skip-existing the existing output is that photo's failure, and the batch goes on.
        dir.write("out/e.png", Data("mine".utf8))
        try FileManager.default.removeItem(atPath: dir.path("out/g.jpg"))
        let refusing = try CLI.run(["deblur", dir.path("in"), "--output-dir", dir.path("out")] + CLI.fast,
                                   environment: ["MTRNN_BATCH_OVERLAP": overlap], timeout: 180)
        #expect(refusing.status == 1, "\(refusing)")
        #expect(refusing.stderr.contains("out/e.png: the output already exists"), "\(refusing)")
        #expect(dir.bytes("out/e.png") == Data("mine".utf8))
        #expect(dir.exists("out/g.jpg"), "\(refusing)")
    }

    @Test("MTRNN_BATCH_OVERLAP other than 0 or 1 is refused before any work")
    func badSetting() throws {
        let dir = try TempDir()
        let a = try dir.photo("a.png", format: .png)
        let r = try CLI.run(["deblur", a] + CLI.fast, environment: ["MTRNN_BATCH_OVERLAP": "yes"])
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains("MTRNN_BATCH_OVERLAP=yes"), "\(r)")
        #expect(dir.list() == ["a.png"])
    }
}
