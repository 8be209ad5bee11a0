import Deblur
import Foundation
@preconcurrency import Glibc
import Identity
import Logging
import PhotoIO
import Testing
import WatchControl
@testable import WatchService

/// `sha256sum`'s answer for `path`, to check our own SHA-256 against.
func systemSHA256(_ path: String) -> String? {
    let r = runCommand(["/usr/bin/sha256sum", path])
    guard r.status == 0 else { return nil }
    return r.stdout.split(separator: " ").first.map(String.init)
}

/// The version, the weights' SHA-256 and where they show.
@Suite struct IdentityTests {
    @Test func sha256MatchesTheStandardVectorsAndSha256sum() throws {
        #expect(SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c0262693c93c12a44a5c2f5b05d2e3b82f4b21ee2e6ec3")
        // Fed in pieces that straddle the 64-byte blocks: the same digest.
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        var s = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 127, 1000, 4096] where i < million.count {
            s.update(Array(million[i..<min(i + size, million.count)])); i += size
        }
        s.update(Array(million[i...]))
        #expect(s.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        let weights = DeblurProcessorTests.weights.path
        let expected = try #require(systemSHA256(weights))
        #expect(try WeightsIdentity(hashing: weights).sha256 == expected)
    }

    @Test func bothExecutablesPrintTheVersionAndTheWeightsHash() throws {
        let weights = DeblurProcessorTests.weights.path
        let sha = try #require(systemSHA256(weights))
        for exe in [Products.ctl, Products.watch] {
            let r = runCommand([exe, "--version"], environment: ["MTRNN_WEIGHTS": weights])
            #expect(r.status == 0, "\(exe): \(r.stderr)")
            #expect(r.stdout.hasPrefix("\((exe as NSString).lastPathComponent) \(MtrnnWatchVersion.string)\n"), "\(r.stdout)")
            #expect(r.stdout.contains("weights sha256: \(sha)"), "\(r.stdout)")
            // Weights that are not there: the version still, and how to name weights.
            let missing = runCommand([exe, "--version"], environment: ["MTRNN_WEIGHTS": "/nonexistent/w.safetensors"])
            #expect(missing.status == 0)
            #expect(missing.stdout.contains(MtrnnWatchVersion.string) && missing.stdout.contains("sha256sum"), "\(missing.stdout)")
        }
    }

    @Test func theProcessingNoteNamesTheVersionAndTheWeights() async throws {
        let box = try Sandbox()
        let processor = try DeblurProcessor(options: DeblurProcessorTests.options())
        let sha = try #require(systemSHA256(DeblurProcessorTests.weights.path))
        #expect(processor.weights?.sha256 == sha)
        let photo = try await processor.process(input: try DeblurProcessorTests.photo(box)) { _ in }
        let text = String(decoding: photo.bytes, as: UTF8.self)
        #expect(text.contains("mtrnn-watch \(MtrnnWatchVersion.string): deblurred with MT-RNN"))
        #expect(text.contains("weights sha256:\(sha.prefix(12)), 1 iteration"))
    }

    @Test func journalRecordsCarryTheirKindTheOutputAndTheIdentity() throws {
        var r = ProcessingReport(megapixels: 2, tiles: 4, seconds: 10)
        var done = JournalRecord.of("a/b.jpg", .done(r), retryDelay: nil, settleSeconds: 2, outbox: "/srv/out")
        #expect(done.fields[JournalField.output] == "/srv/out/a/b.jpg")
        #expect(done.fields[JournalField.messageID] == MessageID.photoDone.field)
        #expect(done.fields[JournalField.version] == "\(MtrnnWatchVersion.string)")
        done.identify(weights: WeightsIdentity(path: "w", sha256: String(repeating: "ab", count: 32)))
        #expect(done.fields[JournalField.weightsSHA256] == "\(String(repeating: "ab", count: 32))")
        r.outputName = "a/b-1.jpg"
        #expect(JournalRecord.of("a/b.jpg", .done(r), retryDelay: nil, settleSeconds: 2, outbox: "/srv/out")
            .fields[JournalField.output] == "/srv/out/a/b-1.jpg")
        let failed = JournalRecord.of("x.jpg", .failed(reason: "not a photo", movedTo: nil), retryDelay: nil, settleSeconds: 2, outbox: "/o")
        #expect(failed.fields[JournalField.messageID] == MessageID.photoFailed.field && failed.fields[JournalField.output] == nil)
        var sharp = r
        sharp.leftAloneAsSharp = 0.9
        #expect(JournalRecord.of("s.jpg", .leftAlone(sharp), retryDelay: nil, settleSeconds: 2)
            .fields[JournalField.messageID] == MessageID.photoSharp.field)
        #expect(JournalRecord.of("v.jpg", .vanished, retryDelay: nil, settleSeconds: 2)
            .fields[JournalField.messageID] == MessageID.photoSkipped.field)
        #expect(JournalRecord.crashed("c.jpg").fields[JournalField.messageID] == MessageID.photoCrashed.field)
        // Every id is 128 bits in journald's spelling, and no two kinds share one.
        let ids = MessageID.allCases.map(\.rawValue)
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 32 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
    }

    @Test func everyMessageIDIsListedInTheManPage() throws {
        let page = try String(contentsOfFile: CLIPaths.packageRoot + "/man/mtrnn-watch.8", encoding: .utf8)
        for id in MessageID.allCases { #expect(page.contains(id.rawValue), "\(id) is not in man/mtrnn-watch.8") }
    }
}

enum CLIPaths {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
}

/// `mtrnnctl status --json`: the schema scripts read.
@Suite struct StatusJSONTests {
    @Test func snakeCaseKeysExplicitNullsAndASchemaVersion() throws {
        let s = StatusReport(state: .idle, pid: 7, model: "m", inbox: "/srv/in", outbox: "/srv/out", queued: 0,
                             current: .init(file: "a/b.jpg", fractionDone: 0.5, tilesDone: 1, tilesTotal: 2, elapsedSeconds: 3),
                             done: 0, failed: 0, uptimeSeconds: 1, softwareVersion: "9.9")
        let json = s.json
        #expect(!json.contains("\\/"), "slashes escaped: \(json)")
        #expect(json.contains("\"inbox\" : \"/srv/in\""))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == StatusReport.schemaVersion)
        #expect(object["software_version"] as? String == "9.9")
        for key in ["last_error", "last_error_file", "watching", "sharp", "seconds_per_photo", "megapixels_per_minute",
                    "seconds_per_megapixel", "queue_eta_seconds", "weights_sha256"] {
            #expect(object.keys.contains(key), "\(key) missing")
            #expect(object[key] is NSNull, "\(key) is not null")
        }
        #expect(!object.keys.contains { $0.contains { $0.isUppercase } }, "\(object.keys)")
        let current = try #require(object["current"] as? [String: Any])
        #expect(current["fraction_done"] as? Double == 0.5 && current["tiles_total"] as? Int == 2)
        #expect(current["eta_seconds"] is NSNull)
        // It reads back as it was, and another schema is refused by name.
        #expect(try JSONDecoder().decode(StatusReport.self, from: Data(json.utf8)) == s)
        let other = json.replacingOccurrences(of: "\"version\" : 1", with: "\"version\" : 2")
        #expect(throws: StatusReport.SchemaMismatch.self) { try JSONDecoder().decode(StatusReport.self, from: Data(other.utf8)) }
    }
}

/// The queue's ETA: the recent photos' seconds per megapixel.
@Suite struct QueueETATests {
    @Test func etaComesFromTheRecentSecondsPerMegapixel() {
        var rate = RecentRate()
        #expect(rate.untilEmpty(queued: 0, current: nil) == 0)
        #expect(rate.untilEmpty(queued: 3, current: nil) == nil)
        rate.add(seconds: 20, megapixels: 2)   // 10 s/MP
        rate.add(seconds: 60, megapixels: 6)   // 10 s/MP; mean photo 4 MP = 40 s
        rate.add(seconds: 5, megapixels: 0)    // no pixels: not a rate
        #expect(rate.secondsPerMegapixel == 10)
        #expect(rate.untilEmpty(queued: 3, current: nil) == 120)
        // The current photo: its own tile estimate, else the mean photo less what it ran.
        #expect(rate.untilEmpty(queued: 1, current: (elapsed: 30, remaining: 5)) == 45)
        #expect(rate.untilEmpty(queued: 1, current: (elapsed: 30, remaining: nil)) == 50)
        #expect(rate.untilEmpty(queued: 0, current: (elapsed: 50, remaining: nil)) == 0)
        // Only the recent photos count.
        for _ in 0..<RecentRate.window { rate.add(seconds: 2, megapixels: 1) }
        #expect(rate.secondsPerMegapixel == 2)
    }

    @Test func statusAndStatusLineShowTheETA() {
        let live = LiveStatus()
        var snapshot = DaemonSnapshot()
        snapshot.phase = .running
        snapshot.queued = 4
        snapshot.current = "IMG_0042.jpg"
        var r = ProcessingReport(megapixels: 12, tiles: 8, seconds: 60)
        snapshot.counts.recordDone(r)
        r.seconds = 120
        snapshot.counts.recordDone(r)   // 7.5 s/MP, 90 s a photo
        live.publish(snapshot)
        live.update(DeblurProgress(deblurring: TileProgress(tilesDone: 3, tilesTotal: 8, elapsed: 30), elapsed: 31))
        let report = live.report()
        #expect(report.secondsPerMegapixel == 7.5)
        #expect(report.queueEtaSeconds == 50 + 4 * 90)
        #expect(report.text.contains("queued:   4 (empty in about 7 min 40 s)"), "\(report.text)")
        #expect(live.statusLine() == "Deblurring IMG_0042.jpg: 37%, 4 queued, queue empty in about 7 min 40 s")
        snapshot.paused = true
        live.publish(snapshot)
        #expect(live.report().queueEtaSeconds == nil)
    }
}

/// log_level, and what the handler writes where.
@Suite struct LogOutputTests {
    @Test func prefixesOnlyUnderSystemdAndLevelsFromTheConfiguration() throws {
        #expect(JournalLogHandler.output([:]) == .plain)
        #expect(JournalLogHandler.output(["INVOCATION_ID": "0123"]) == .prefixed)
        var st = stat()
        fstat(2, &st)
        #expect(JournalLogHandler.output(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)", "INVOCATION_ID": "1"]) == .journal)
        #expect(JournalLogHandler.lead(priority: 3, level: .error, output: .prefixed) == "<3>")
        #expect(JournalLogHandler.lead(priority: 3, level: .error, output: .plain) == "error: ")
        #expect(JournalLogHandler.lead(priority: 6, level: .info, output: .plain) == "")

        var c = try WatchConfig.parse("log_level = warning\n", source: "t")
        #expect(c.logLevel == "warning")
        #expect(throws: ConfigError.self) { try WatchConfig.parse("log_level = loud\n", source: "t") }
        try c.set("log_level", "err")
        #expect(JournalLogHandler.level(named: c.logLevel) == .error)
        // The threshold is shared: setting it through one logger filters them all.
        let threshold = LogThreshold(.info)
        var a = JournalLogHandler(label: "a", environment: [:], threshold: threshold)
        let b = JournalLogHandler(label: "b", environment: [:], threshold: threshold)
        a.logLevel = .warning
        #expect(b.logLevel == .warning)
    }

    @Test func aTerminalOrFileGetsNoPrioritiesAndLogLevelFilters() async throws {
        let box = try Sandbox()
        let d = try DaemonProcess(box, arguments: ["--log-level", "warning"], environment: ["INVOCATION_ID": ""])
        #expect(await d.waitReady())
        box.write("inbox/bad.jpg", Array("not a photo".utf8))
        #expect(await eventually { box.list("failed").contains("bad.jpg.reason") }, "\(d.log)")
        #expect(await eventually { d.log.contains("error: Cannot deblur bad.jpg") }, "\(d.log)")
        #expect(!d.log.contains("watching"), "a notice passed log_level = warning: \(d.log)")
        #expect(!d.log.contains("<3>") && !d.log.contains("<6>"), "\(d.log)")
        #expect(await d.stop() == 0)
        // The default level logs the start, and under systemd the lines carry <N>.
        let e = try DaemonProcess(box, environment: ["INVOCATION_ID": "abc"], logName: "systemd.log")
        #expect(await e.waitReady())
        #expect(await eventually { e.log.contains("<5>mtrnn-watch \(MtrnnWatchVersion.string) watching") }, "\(e.log)")
        #expect(await e.stop() == 0)
    }
}
