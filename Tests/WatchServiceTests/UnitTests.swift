import Deblur
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Testing
import WatchControl
@testable import WatchService

@Suite struct ConfigTests {
    @Test func noFileGivesTheLocalDefault() {
        let c = WatchConfig()
        #expect(c.inbox == "./inbox")
        #expect(c.outbox == "./outbox")
        #expect(c.stateDirectory == "./state")
        #expect(c.originals == .archive)
    }

    @Test func parsesKeysCommentsAndQuotes() throws {
        let c = try WatchConfig.parse("""
            # a comment
            inbox = /srv/inbox   # trailing comment
            outbox="/srv/out box"
            recursive = yes
            settle_seconds = 0.5
            originals = keep
            tile = 512
            """, source: "test.conf")
        #expect(c.inbox == "/srv/inbox")
        #expect(c.outbox == "/srv/out box")
        #expect(c.recursive)
        #expect(c.settleSeconds == 0.5)
        #expect(c.originals == .keep)
        #expect(c.pipeline.tile == 512)
    }

    /// `scale = auto` (issue 18): stored as 0, shown as "auto".
    @Test func scaleAcceptsAuto() throws {
        let auto = try WatchConfig.parse("scale = auto\n", source: "a.conf")
        #expect(auto.pipeline.scale == 0)
        #expect(WatchConfig.keys.first { $0.name == "scale" }!.show(auto) == "auto")
        let three = try WatchConfig.parse("scale = 3\n", source: "b.conf")
        #expect(three.pipeline.scale == 3)
        #expect(WatchConfig.keys.first { $0.name == "scale" }!.show(three) == "3")
        #expect(WatchConfig().pipeline.scale == 1)
    }

    @Test(arguments: [
        ("inbox /srv", "expected `key = value`"),
        ("colour = red", "unknown key `colour`"),
        ("tile = 102", "multiple of 4"),
        ("recursive = maybe", "yes or no"),
        ("originals = shred", "archive, keep, delete"),
        ("jpeg_quality = 101", "1 to 100"),
        ("scale = 5", "expected auto, 1, 2, 3 or 4"),
        ("scale = 0", "expected auto, 1, 2, 3 or 4"),
        ("scale = Auto", "expected auto, 1, 2, 3 or 4"),
        ("inbox = /a\ninbox = /b", "set twice"),
    ])
    func rejectsWithLineAndReason(text: String, expected: String) {
        do {
            _ = try WatchConfig.parse("# header\n" + text, source: "x.conf")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.hasPrefix("x.conf:"))
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    /// The keys that must fit together (issue 16): the error names the line
    /// of the key set last, and the other key's value and origin.
    @Test(arguments: [
        ("tile = 64\noverlap = 512", "x.conf:3: `overlap = 512` must be less than `tile` (64, set at x.conf:2)"),
        ("overlap = 256", "x.conf:2: `overlap = 256` must be less than `tile` (256, the default)"),
        ("inbox = /srv/p\noutbox = /srv/p/", "x.conf:3: `inbox` and `outbox` are the same directory (/srv/p)"),
        ("outbox = /srv/p/done\ninbox = /srv/p", "x.conf:3: `outbox = /srv/p/done` is inside `inbox = /srv/p`"),
        ("inbox = /srv/p\nfailed = /srv/p/../p/./bad", "x.conf:3: `failed = /srv/p/../p/./bad` is inside `inbox = /srv/p`"),
        ("inbox = /srv/state/work/in\nstate_dir = /srv/state", "x.conf:3: `inbox = /srv/state/work/in` is inside `state_dir = /srv/state`"),
        ("outbox = /srv/o\nstate_dir = /srv/o", "x.conf:3: `outbox` and `state_dir` are the same directory"),
        ("inbox = /srv/p\nruntime_dir = /srv/p/run", "x.conf:3: `runtime_dir = /srv/p/run` is in `inbox = /srv/p`"),
        ("operator_group = no-such-group-16", "x.conf:2: `operator_group = no-such-group-16`: there is no such group"),
    ])
    func keysThatClashAreRefusedAtTheLastOne(text: String, expected: String) throws {
        let c = try WatchConfig.parse("# header\n" + text, source: "x.conf")
        #expect(throws: ConfigError.self) { try c.validate() }
        do { try c.validate() } catch {
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func keysThatFitTogetherPass() throws {
        try WatchConfig().validate()
        var c = try WatchConfig.parse("tile = 128\noverlap = 124\noperator_group = root\noriginals = keep\narchive = /srv/in/old\ninbox = /srv/in\n", source: "x.conf")
        try c.validate()  // archive is not used with originals = keep
        #expect(c.operatorGroupID == 0)
        #expect(WatchConfig().operatorGroupID == nil)
        // The command line can repair what the file got wrong, and is named when it clashes.
        c = try WatchConfig.parse("tile = 64\noverlap = 64\n", source: "x.conf")
        try c.set("overlap", "32")
        try c.validate()
        try c.set("overlap", "100")
        #expect(throws: ConfigError(file: "command line", line: nil, problem: "`overlap = 100` must be less than `tile` (64, set at x.conf:1)")) { try c.validate() }
    }

    /// --check-config prints `rendered`: reading it back must give the same configuration.
    @Test func renderedConfigurationReadsBack() throws {
        var c = WatchConfig()
        try c.set("inbox", "/srv/photos #1")
        try c.set("outbox", " /srv/lead space")
        try c.set("settle_seconds", "0.25")
        try c.set("operator_group", "photo-ops")
        try c.set("recursive", "on")
        let back = try WatchConfig.parse(c.rendered, source: "rendered")
        #expect(back == c, "\(c.rendered)")
        #expect(try WatchConfig.parse(WatchConfig().rendered, source: "defaults") == WatchConfig())
        #expect(c.rendered.split(separator: "\n").count == WatchConfig.keys.count)
    }

    @Test(arguments: ["photo ops", "-ops", "ops:x", String(repeating: "g", count: 33)])
    func operatorGroupMustBeAGroupName(name: String) {
        #expect(throws: ConfigError.self) { try WatchConfig.parse("operator_group = \"\(name)\"", source: "x.conf") }
    }

    /// The shipped file must parse and name every key the parser knows.
    @Test func shippedConfigFileDocumentsEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("etc/mtrnn-watch.conf"), encoding: .utf8)
        let c = try WatchConfig.parse(text, source: "etc/mtrnn-watch.conf")
        #expect(c.inbox == "/srv/inbox")
        for key in WatchConfig.keys.map(\.name) {
            #expect(text.contains("\(key) = "), "etc/mtrnn-watch.conf does not document \(key)")
        }
    }
}

@Suite struct NameTests {
    @Test(arguments: [".IMG_1.jpg.Xa12", "IMG_1.jpg.part", "a.TMP", "b.jpg.crdownload", "~lock.jpg", ".hidden", "x.jpg.reason"])
    func uploadNamesAreIgnored(name: String) { #expect(InboxNames.isIgnored(name)) }

    @Test(arguments: ["IMG_0042.jpg", "scan 1.tiff", "-leading-dash.png", "part.jpg", "tmp.jpeg"])
    func photoNamesAreTaken(name: String) { #expect(!InboxNames.isIgnored(name)) }

    @Test func temporaryOutputsAreIgnoredAndRecognised() {
        // The rule itself is DurableFiles' (TemporaryNameTests); the inbox follows it.
        let t = TemporaryName.make(for: "IMG.jpg")
        #expect(InboxNames.isTemporaryOutput(t))
        #expect(InboxNames.isIgnored(t))
        #expect(!InboxNames.isTemporaryOutput("IMG.jpg"))
        #expect(!InboxNames.isTemporaryOutput(".IMG.jpg.part"))
    }
}

@Suite struct SettleTests {
    @Test func takesAFileOnlyAfterItStoppedChanging() throws {
        let box = try Sandbox()
        box.write("inbox/a.jpg", fakeJPEG("a"))
        var tracker = SettleTracker(settle: .milliseconds(500))
        let t0 = ContinuousClock.now
        tracker.note("a.jpg", now: t0)
        #expect(tracker.settled(inbox: box.path("inbox"), now: t0).isEmpty)
        #expect(tracker.settled(inbox: box.path("inbox"), now: t0 + .milliseconds(300)).isEmpty)
        box.write("inbox/a.jpg", fakeJPEG("a", size: 200))  // grew: the clock starts again
        #expect(tracker.settled(inbox: box.path("inbox"), now: t0 + .milliseconds(600)).isEmpty)
        #expect(tracker.settled(inbox: box.path("inbox"), now: t0 + .milliseconds(1000)).isEmpty)
        #expect(tracker.settled(inbox: box.path("inbox"), now: t0 + .milliseconds(1200)) == ["a.jpg"])
    }

    @Test func forgetsFilesThatVanish() throws {
        let box = try Sandbox()
        var tracker = SettleTracker(settle: .zero)
        tracker.note("gone.jpg")
        #expect(tracker.settled(inbox: box.path("inbox")).isEmpty)
        #expect(tracker.candidates.isEmpty)
    }
}

@Suite struct ProtocolTests {
    @Test func requestRoundTripsAndCarriesTheVersion() throws {
        let r = ControlRequest(command: .retry, file: "IMG.jpg")
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self)
        #expect(json.contains("\"version\":1"))
        #expect(try JSONDecoder().decode(ControlRequest.self, from: Data(json.utf8)) == r)
        #expect(!ControlCommand.status.changesState)
        #expect(ControlCommand.allCases.filter(\.changesState).count == 4)
    }

    @Test func onlyRootTheServiceUserAndItsGroupMayChangeState() {
        #expect(PeerCredentials(pid: 1, uid: 0, gid: 0).mayChangeState(daemonUID: 990, daemonGID: 990))
        #expect(PeerCredentials(pid: 1, uid: 990, gid: 5).mayChangeState(daemonUID: 990, daemonGID: 990))
        #expect(PeerCredentials(pid: 1, uid: 1234, gid: 990).mayChangeState(daemonUID: 990, daemonGID: 990))
        // nobody (65534) is in no group of id 990 on this machine.
        #expect(!PeerCredentials(pid: 1, uid: 65534, gid: 65534).mayChangeState(daemonUID: 990, daemonGID: 990))
    }

    @Test func statusTextShowsProgressAndEta() {
        let s = StatusReport(state: .working, pid: 7, model: "m", inbox: "/i", outbox: "/o", queued: 4,
                             current: .init(file: "IMG_0042.jpg", fractionDone: 0.37, tilesDone: 3, tilesTotal: 8,
                                            elapsedSeconds: 37, etaSeconds: 63),
                             done: 2, failed: 1, uptimeSeconds: 100, secondsPerPhoto: 50, megapixelsPerMinute: 1.5,
                             lastError: "x.jpg: not a photo", lastErrorFile: "x.jpg")
        #expect(s.text.contains("IMG_0042.jpg: 37%"))
        #expect(s.text.contains("about 63 s left"))
        #expect(s.text.contains("queued:   4"))
        #expect(s.text.contains("last error: x.jpg: not a photo"))
    }

    @Test func journalOnlyWhenStderrIsTheJournalStream() {
        #expect(!JournalLogHandler.stderrIsJournal([:]))
        #expect(!JournalLogHandler.stderrIsJournal(["JOURNAL_STREAM": "1:2"]))
        #expect(!JournalLogHandler.stderrIsJournal(["JOURNAL_STREAM": "garbage"]))
        var st = stat()
        fstat(2, &st)
        #expect(JournalLogHandler.stderrIsJournal(["JOURNAL_STREAM": "\(st.st_dev):\(st.st_ino)"]))
        #expect(JournalLogHandler.isFieldName("MTRNN_FILE"))
        #expect(!JournalLogHandler.isFieldName("_PID"))
        #expect(!JournalLogHandler.isFieldName("file"))
    }
}

/// The shipped systemd files (systemd/, etc/) read as systemd reads them, for
/// what `systemd-analyze verify` cannot judge: whether a crash loop stops,
/// whether a missing folder fails the start, and who may change whose photos.
/// scripts/check-unit.sh runs the real tools on the same files.
@Suite struct SystemdUnitFileTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    /// Every `Key=value` of the unit, by section, in order (a key may repeat).
    static func unit() throws -> [String: [(key: String, value: String)]] {
        var sections: [String: [(key: String, value: String)]] = [:]
        var section = ""
        for raw in try text("systemd/mtrnn-watch.service").split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
            guard let eq = line.firstIndex(of: "=") else { continue }
            sections[section, default: []].append((String(line[..<eq]), String(line[line.index(after: eq)...])))
        }
        return sections
    }

    static func values(_ key: String, in section: String) throws -> [String] {
        try unit()[section, default: []].filter { $0.key == key }.map(\.value)
    }

    /// A systemd time span ("5s", "10min", "1h 30min", "90") in seconds.
    static func seconds(_ span: String) -> Double? {
        var total = 0.0, number = "", unit = ""
        func flush() -> Bool {
            guard let n = Double(number) else { return number.isEmpty && unit.isEmpty }
            let scale: [String: Double] = ["": 1, "s": 1, "sec": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600, "hr": 3600]
            guard let f = scale[unit] else { return false }
            total += n * f
            number = ""; unit = ""
            return true
        }
        for ch in span where ch != " " {
            if ch.isNumber || ch == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(ch)
            } else { unit.append(ch) }
        }
        return flush() ? total : nil
    }

    /// tmpfiles.d lines as (type, path, mode, argument).
    static func tmpfiles() throws -> [(type: String, path: String, mode: String, argument: String)] {
        try text("systemd/tmpfiles.d/mtrnn-watch.conf").split(separator: "\n").compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { return nil }
            let f = line.split(separator: " ", maxSplits: 6, omittingEmptySubsequences: true).map(String.init)
            guard f.count >= 2 else { return nil }
            return (f[0], f[1], f.count > 2 ? f[2] : "-", f.count > 6 ? f[6] : "")
        }
    }

    /// Restart=on-failure every RestartSec: a daemon that dies at once must
    /// start more than StartLimitBurst times within StartLimitIntervalSec, or
    /// systemd never stops the loop (systemd's defaults, 5 in 10 s, with
    /// RestartSec=5s allow only 3).
    @Test func aCrashLoopReachesTheStartLimit() throws {
        let restart = try Self.values("Restart", in: "Service").last
        #expect(restart == "on-failure")
        let restartSec = try Self.values("RestartSec", in: "Service").last.flatMap(Self.seconds) ?? 0.1
        let interval = try Self.values("StartLimitIntervalSec", in: "Unit").last.flatMap(Self.seconds) ?? 10
        let burst = try Self.values("StartLimitBurst", in: "Unit").last.flatMap { Int($0) } ?? 5
        #expect(interval > 0, "StartLimitIntervalSec=0 turns the limit off")
        let startsInInterval = Int(interval / restartSec) + 1
        #expect(startsInInterval > burst, "a crash loop starts \(startsInInterval) times in \(interval) s; the limit is \(burst)")
        // ... yet a photo that crashes the daemon twice (then quarantined) must not stop the service.
        #expect(burst >= 4)
    }

    /// A configuration error does not go away by restarting.
    @Test func aConfigurationErrorIsNotRestarted() throws {
        let prevent = try Self.values("RestartPreventExitStatus", in: "Service").joined(separator: " ").split(separator: " ")
        #expect(prevent.contains("78"), "exit status 78 (EX_CONFIG) is restarted")
    }

    /// ReadWritePaths= without "-" fails the start (226/NAMESPACE) when a
    /// folder is missing, and with ProtectSystem=strict the daemon cannot make
    /// it: the folders must be made before the sandbox is, at every start.
    @Test func aMissingFolderIsMadeAtStartNotAFailedNamespace() throws {
        let paths = try Self.values("ReadWritePaths", in: "Service").flatMap { $0.split(separator: " ").map(String.init) }
        #expect(!paths.isEmpty)
        for p in paths { #expect(p.hasPrefix("-"), "ReadWritePaths=\(p) fails the start when \(p) is missing") }
        let pre = try Self.values("ExecStartPre", in: "Service")
        let tmpfiles = pre.first { $0.contains("systemd-tmpfiles") && $0.contains("--create") && $0.contains("mtrnn-watch.conf") }
        #expect(tmpfiles != nil, "no ExecStartPre= running systemd-tmpfiles --create mtrnn-watch.conf")
        // "+": outside the sandbox (as root, / writable); "-": a folder it cannot make is the daemon's to report.
        if let t = tmpfiles { #expect(t.hasPrefix("-+") || t.hasPrefix("+-"), "\(t)") }
        let made = Set(try Self.tmpfiles().filter { $0.type == "d" }.map(\.path))
        for p in paths { #expect(made.contains(String(p.drop { $0 == "-" })), "tmpfiles.d does not make \(p)") }
    }

    /// The shipped configuration's directories are the ones the unit lets it write.
    @Test func theShippedConfigurationWritesOnlyWhereTheUnitAllows() throws {
        let c = try WatchConfig.parse(try Self.text("etc/mtrnn-watch.conf"), source: "etc/mtrnn-watch.conf")
        let writable = try Self.values("ReadWritePaths", in: "Service").flatMap { $0.split(separator: " ") }.map { String($0.drop { $0 == "-" }) }
        for d in [c.inbox, c.outbox, c.archive, c.failed] { #expect(writable.contains(d), "\(d) is read-only under the unit") }
        #expect(c.stateDirectory == "/var/lib/" + (try Self.values("StateDirectory", in: "Service").last ?? ""))
        #expect(c.runtimeDirectory == "/run/" + (try Self.values("RuntimeDirectory", in: "Service").last ?? ""))
    }

    /// Group-writable folders shared by uploaders: sticky (nobody deletes or
    /// replaces another's files), setgid (files keep the service's group), and
    /// nothing for others.
    @Test(arguments: ["/srv/inbox", "/srv/failed"])
    func sharedFoldersAreStickyAndSetgid(path: String) throws {
        let line = try Self.tmpfiles().first { $0.type == "d" && $0.path == path }
        let mode = line.flatMap { Int($0.mode, radix: 8) } ?? 0
        #expect(mode & 0o1000 != 0, "\(path) \(String(mode, radix: 8)): not sticky")
        #expect(mode & 0o2000 != 0, "\(path) \(String(mode, radix: 8)): not setgid")
        #expect(mode & 0o020 != 0, "\(path): not group-writable")
        #expect(mode & 0o007 == 0, "\(path) \(String(mode, radix: 8)): others have access")
    }

    /// A subfolder an uploader makes (umask 022: 2755, theirs) must still let
    /// the daemon move originals out of it: a default ACL on the inbox gives
    /// the service user rwx on every new file and folder below.
    @Test func newSubfoldersOfTheInboxAreWritableByTheDaemon() throws {
        let acls = try Self.tmpfiles().filter { $0.type.hasPrefix("A") && $0.path == "/srv/inbox" }.map(\.argument)
        let entries = acls.flatMap { $0.split(separator: ",") }
        #expect(entries.contains("default:user:mtrnn-watch:rwx"), "\(acls)")
    }

    /// SIGABRT after a watchdog timeout prints the backtrace but does not end
    /// the process (measured, issue 16): the restart waits for the SIGKILL
    /// after TimeoutAbortSec, which without the setting is TimeoutStopSec.
    @Test func aWatchdogAbortIsKilledSoonerThanAStop() throws {
        let abort = try Self.values("TimeoutAbortSec", in: "Service").last.flatMap(Self.seconds)
        let stop = try Self.values("TimeoutStopSec", in: "Service").last.flatMap(Self.seconds) ?? 90
        #expect(abort != nil, "TimeoutAbortSec unset: a watchdog abort waits TimeoutStopSec (\(stop) s)")
        if let abort { #expect(abort >= 5 && abort < stop, "TimeoutAbortSec=\(abort) s") }
    }

    @Test func timeSpans() {
        #expect(Self.seconds("5s") == 5)
        #expect(Self.seconds("10min") == 600)
        #expect(Self.seconds("1h 30min") == 5400)
        #expect(Self.seconds("90") == 90)
        #expect(Self.seconds("2weeks") == nil)
    }
}
