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
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
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
        // Outside the checkout: no ./Models/ for mtrnn-watch's built-in default.
        let box = try Sandbox()
        for exe in [Products.ctl, Products.watch] {
            let r = runCommand([exe, "--version"], in: box.root, environment: ["MTRNN_WEIGHTS": weights])
            #expect(r.status == 0, "\(exe): \(r.stderr)")
            #expect(r.stdout.hasPrefix("\((exe as NSString).lastPathComponent) \(MtrnnWatchVersion.string)\n"), "\(r.stdout)")
            #expect(r.stdout.contains("weights sha256: \(sha)"), "\(r.stdout)")
            // Weights that are not there: the version still, and how to name weights.
            let missing = runCommand([exe, "--version"], in: box.root, environment: ["MTRNN_WEIGHTS": "/nonexistent/w.safetensors"])
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
        #expect(text.contains("mtrnn-watch: version \(MtrnnWatchVersion.string), deblurred with MT-RNN"))
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

    @Test func outputPathsAreAbsolute() {
        let cwd = FileManager.default.currentDirectoryPath
        #expect(WatchDaemon.absolute("/srv/out") == "/srv/out")
        #expect(WatchDaemon.absolute("./outbox") == cwd + "/outbox")
        #expect(WatchDaemon.absolute("out/x") == cwd + "/out/x")
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
        #expect(abs((report.queueEtaSeconds ?? 0) - (50 + 4 * 90)) < 1e-9, "\(String(describing: report.queueEtaSeconds))")
        #expect(report.text.contains("queued:   4 (empty in about 6 min 50 s)"), "\(report.text)")
        #expect(live.statusLine() == "Deblurring IMG_0042.jpg: 37%, 4 queued, queue empty in about 6 min 50 s")
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

    @Test func aReloadChangesTheLogLevel() async throws {
        let box = try Sandbox()
        let config = box.path("watch.conf")
        try "settle_seconds = 0.2\nlog_level = warning\n".write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", config], environment: ["INVOCATION_ID": ""])
        #expect(await d.waitReady())
        #expect(!d.log.contains("watching"), "\(d.log)")
        try "settle_seconds = 0.2\nlog_level = info\n".write(toFile: config, atomically: true, encoding: .utf8)
        d.signal(SIGHUP)
        #expect(await eventually { d.log.contains("Reloaded the configuration") }, "\(d.log)")
        #expect(await d.stop() == 0)
    }
}

/// The node_exporter textfile: its format, its counters across restarts.
@Suite struct MetricsTests {
    /// prometheus_client's own parser, the reference for the text format;
    /// prints one JSON object: {"name{labels}": value, ...} and the families' types.
    static func parse(_ path: String) -> (status: Int32, samples: [String: Double], types: [String: String], error: String) {
        let script = """
            import json, math, sys
            from prometheus_client.parser import text_string_to_metric_families
            samples, types = {}, {}
            for f in text_string_to_metric_families(open(sys.argv[1]).read()):
                types[f.name] = f.type
                for s in f.samples:
                    key = s.name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items())) + "}" if s.labels else "")
                    samples[key] = None if math.isnan(s.value) else s.value
            print(json.dumps({"samples": samples, "types": types}))
            """
        let r = runCommand(["/usr/bin/env", "python3", "-c", script, path])
        guard r.status == 0, let object = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] else {
            return (r.status == 0 ? 1 : r.status, [:], [:], r.stderr)
        }
        let samples = (object["samples"] as? [String: Any] ?? [:]).mapValues { ($0 as? Double) ?? .nan }
        return (0, samples, object["types"] as? [String: String] ?? [:], "")
    }

    @Test func countersCountFinalOutcomesAndReadBack() throws {
        var c = MetricsCounters()
        do { let counted = c.record(.done(ProcessingReport(megapixels: 2, tiles: 1, seconds: 3)), at: 100); #expect(counted) }
        var sharp = ProcessingReport(megapixels: 2, tiles: 0, seconds: 0)
        sharp.leftAloneAsSharp = 0.5
        do { let counted = c.record(.done(sharp), at: 200); #expect(counted) }
        do { let counted = c.record(.leftAlone(sharp), at: 200); #expect(counted) }
        do { let counted = c.record(.failed(reason: "x", movedTo: nil), at: 300); #expect(counted) }
        do { let counted = c.record(.abandoned(reason: "stopped"), at: 400); #expect(!counted) }
        do { let counted = c.record(.vanished, at: 400); #expect(!counted) }
        #expect(c.done == 1 && c.sharp == 2 && c.failed == 1 && c.seconds == 3 && c.megapixels == 2 && c.lastSuccess == 100)
        #expect(MetricsCounters(text: c.text) == c)
        #expect(MetricsCounters(text: "done 1\nbogus 2\n") == nil)
        let box = try Sandbox()
        try c.save(stateDirectory: box.path("state"))
        #expect(MetricsCounters.load(stateDirectory: box.path("state")).0 == c)
        box.write("state/" + MetricsCounters.fileName, Array("garbage".utf8))
        let (zero, problem) = MetricsCounters.load(stateDirectory: box.path("state"))
        #expect(zero == MetricsCounters() && problem != nil)
    }

    @Test func theFileFollowsTheTextFormat() throws {
        var c = MetricsCounters()
        c.record(.done(ProcessingReport(megapixels: 12.5, tiles: 8, seconds: 90.25)), at: 1_764_489_600.5)
        let g = MetricsFile.Gauges(up: true, paused: false, busy: true, queued: 3, queueEtaSeconds: nil, startTime: 1_764_480_000,
                                   version: "1.2\"x", weightsSHA256: "ab")
        let text = MetricsFile.render(c, g)
        // Every family has HELP and TYPE before its samples, and no sample is left without them.
        var typed = Set<String>()
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { typed.insert(String(line.split(separator: " ")[2])) }
            else if !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                #expect(typed.contains(name), "\(name) has no TYPE line before it")
                #expect(name.hasPrefix("mtrnn_watch_"))
            }
        }
        #expect(text.contains("mtrnn_watch_model_info{version=\"1.2\\\"x\",weights_sha256=\"ab\"} 1\n"))
        #expect(text.contains("mtrnn_watch_queue_eta_seconds NaN\n"))
        let box = try Sandbox()
        try MetricsFile.write(text, to: box.path("m.prom"))
        let parsed = Self.parse(box.path("m.prom"))
        try #require(parsed.status == 0, "prometheus_client could not parse it (install it: scripts/setup.sh --test): \(parsed.error)\n\(text)")
        #expect(parsed.samples["mtrnn_watch_photos_total{outcome=\"done\"}"] == 1)
        #expect(parsed.samples["mtrnn_watch_processing_seconds_total"] == 90.25)
        #expect(parsed.samples["mtrnn_watch_megapixels_total"] == 12.5)
        #expect(parsed.samples["mtrnn_watch_last_success_timestamp_seconds"] == 1_764_489_600.5)
        #expect(parsed.samples["mtrnn_watch_queue_photos"] == 3)
        #expect(parsed.types["mtrnn_watch_photos"] == "counter" && parsed.types["mtrnn_watch_queue_photos"] == "gauge")
    }

    @Test func theDaemonWritesTheFileAndItsCountersSurviveARestart() async throws {
        let box = try Sandbox()
        mkdir(box.path("textfile"), 0o755)
        let prom = box.path("textfile/mtrnn-watch.prom")
        let config = box.path("watch.conf")
        try "settle_seconds = 0.2\nmetrics_file = \(prom)\nmetrics_interval = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", config])
        #expect(await d.waitReady())
        #expect(await eventually { Self.parse(prom).samples["mtrnn_watch_up"] == 1 }, "\(d.log)\n\(Self.parse(prom).error)")
        box.write("inbox/good.jpg", fakeJPEG("good"))
        box.write("inbox/bad.jpg", Array("not a photo".utf8))
        #expect(await eventually { Self.parse(prom).samples["mtrnn_watch_photos_total{outcome=\"done\"}"] == 1
                                   && Self.parse(prom).samples["mtrnn_watch_photos_total{outcome=\"failed\"}"] == 1 }, "\(d.log)")
        let first = Self.parse(prom).samples
        #expect(first["mtrnn_watch_queue_photos"] == 0 && first["mtrnn_watch_paused"] == 0)
        #expect((first["mtrnn_watch_last_success_timestamp_seconds"] ?? 0) > Date().timeIntervalSince1970 - 60)
        #expect(first["mtrnn_watch_model_info{version=\"\(MtrnnWatchVersion.string)\",weights_sha256=\"\"}"] == 1, "\(first)")
        // Paused: the periodic rewrite says so.
        #expect(ctl(box, ["pause"]).status == 0)
        #expect(await eventually(5) { Self.parse(prom).samples["mtrnn_watch_paused"] == 1 })
        #expect(await d.stop() == 0)
        #expect(Self.parse(prom).samples["mtrnn_watch_up"] == 0)
        // Nothing but the file itself is left in node_exporter's folder.
        #expect(box.list("textfile") == ["mtrnn-watch.prom"])

        let again = try DaemonProcess(box, arguments: ["--config", config], logName: "again.log")
        #expect(await again.waitReady())
        box.write("inbox/next.jpg", fakeJPEG("next"))
        #expect(await eventually { Self.parse(prom).samples["mtrnn_watch_photos_total{outcome=\"done\"}"] == 2 }, "\(again.log)")
        #expect(Self.parse(prom).samples["mtrnn_watch_photos_total{outcome=\"failed\"}"] == 1)
        #expect(await again.stop() == 0)
    }

    @Test func metricsKeysAreChecked() throws {
        #expect(throws: ConfigError.self) { try WatchConfig.parse("metrics_file = /var/lib/x.txt\n", source: "t") }
        #expect(throws: ConfigError.self) { try WatchConfig.parse("metrics_interval = 0\n", source: "t") }
        let c = try WatchConfig.parse("metrics_file = /var/lib/node/x.prom\nmetrics_interval = 30\n", source: "t")
        #expect(c.metricsFile == "/var/lib/node/x.prom" && c.metricsInterval == 30)
        #expect(WatchConfig().metricsFile.isEmpty)
        // --check-config's rendering reads back.
        #expect(try WatchConfig.parse(c.rendered, source: "r").metricsFile == c.metricsFile)
    }
}
