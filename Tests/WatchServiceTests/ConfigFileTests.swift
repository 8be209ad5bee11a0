import Deblur
import Foundation
@preconcurrency import Glibc
import Testing
@testable import WatchService

/// The configuration file as an administrator writes it (line endings,
/// quotes, comments), and `mtrnn-watch --check-config` and start-up agreeing
/// on what is wrong with it (issue 16).
@Suite struct ConfigFileTests {
    /// A file saved by a Windows editor: every key must still be read.
    @Test func crlfLineEndingsAreLineEndings() throws {
        let c = try WatchConfig.parse("# edited on Windows\r\ninbox = /data/in\r\noutbox = \"/data/out\"\r\n\r\ntile = 512\r\n",
                                      source: "crlf.conf")
        #expect(c.inbox == "/data/in")
        #expect(c.outbox == "/data/out")
        #expect(c.pipeline.tile == 512)
    }

    @Test func aByteOrderMarkIsNotPartOfTheFirstKey() throws {
        let c = try WatchConfig.parse("\u{FEFF}inbox = /data/in\n", source: "bom.conf")
        #expect(c.inbox == "/data/in")
    }

    /// An error on a CRLF file names the right line.
    @Test func crlfErrorsNameTheLine() {
        #expect(throws: ConfigError(file: "crlf.conf", line: 3, problem: "unknown key `colour` (known: \(WatchConfig.keys.map(\.name).joined(separator: ", ")))")) {
            try WatchConfig.parse("inbox = /a\r\n# x\r\ncolour = red\r\n", source: "crlf.conf")
        }
    }

    @Test func hashInsideQuotesIsPartOfTheValue() throws {
        let c = try WatchConfig.parse("""
            inbox = "/srv/photos #1"   # the first share
            outbox = "/srv/out # two"
            failed = /srv/failed# a comment right after the value
            """, source: "q.conf")
        #expect(c.inbox == "/srv/photos #1")
        #expect(c.outbox == "/srv/out # two")
        #expect(c.failed == "/srv/failed")
    }

    @Test(arguments: [
        ("inbox = \"/srv/in", "no closing quote"),
        ("inbox = \"/srv/in\" extra", "after the closing quote"),
        ("inbox = \"\"", "a path"),
        ("settle_seconds = nan", "a number from"),
        ("tile = 256 # comment\ntile = 128", "set twice"),
    ])
    func quotingMistakesAreErrorsWithTheLine(text: String, expected: String) {
        do {
            _ = try WatchConfig.parse("# header\n" + text, source: "x.conf")
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.hasPrefix("x.conf:2:") || error.description.hasPrefix("x.conf:3:"), "\(error)")
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    // MARK: the executable: --check-config and start-up

    /// Before issue 16 a CRLF file was one long comment line: every key was
    /// ignored and --check-config still said OK.
    @Test func checkConfigReadsACRLFFileAndShowsWhatItRead() throws {
        let box = try Sandbox()
        let file = box.path("crlf.conf")
        try "# Windows\r\noutbox = \(box.path("results"))\r\noriginals = keep\r\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = runWatch(["--check-config", "--config", file], in: box)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("outbox = \(box.path("results"))"), "\(r.stdout)")
        #expect(r.stdout.contains("originals = keep"), "\(r.stdout)")
    }

    /// --check-config must refuse what start-up refuses, with exit status 78.
    @Test func checkConfigRefusesAnOverlapAsLargeAsTheTile() throws {
        let box = try Sandbox()
        let file = box.path("tiles.conf")
        try "tile = 64\noverlap = 512\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = runWatch(["--check-config", "--config", file], in: box)
        #expect(r.status == 78, "exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("tiles.conf:2:"), "\(r.stderr)")
        #expect(r.stderr.contains("tile"), "\(r.stderr)")
    }

    /// Start-up with the real pipeline used to fail in the model's options
    /// check and exit 1; the man page promises 78 for a bad configuration.
    @Test func startUpWithAnOverlapAsLargeAsTheTileExits78() async throws {
        let box = try Sandbox()
        let file = box.path("tiles.conf")
        try "tile = 64\noverlap = 512\n".write(toFile: file, atomically: true, encoding: .utf8)
        let d = try DaemonProcess(box, arguments: ["--config", file], processor: nil)
        #expect(await eventually(30) { !d.process.isRunning })
        #expect(d.process.terminationStatus == 78, "\(d.log)")
        #expect(d.log.contains("tiles.conf:2:"), "\(d.log)")
    }

    /// The same check with the values on the command line: no line, but the origin.
    @Test func checkConfigRefusesTheSameOnTheCommandLine() throws {
        let box = try Sandbox()
        let r = runWatch(["--check-config", "--set", "tile=64", "--set", "overlap=64"], in: box)
        #expect(r.status == 78, "exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("command line"), "\(r.stderr)")
    }

    /// Issue 19: every key was right, the inbox and the weights did not
    /// exist, and --check-config said "configuration OK". Each is named, with
    /// the line that set it and the remedy; exit 78.
    @Test func checkConfigRefusesAMissingInboxAndMissingWeights() throws {
        let box = try Sandbox()
        let file = box.path("missing.conf")
        try "inbox = \(box.path("no-such-inbox"))\nweights = \(box.path("no-such.safetensors"))\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        let r = runWatch(["--check-config", "--config", file], in: box)
        #expect(r.status == 78, "exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(!r.stdout.contains("configuration OK"), "\(r.stdout)")
        #expect(r.stderr.contains("missing.conf:1: `inbox = \(box.path("no-such-inbox"))`: the inbox does not exist"), "\(r.stderr)")
        #expect(r.stderr.contains("mkdir -p"), "\(r.stderr)")
        #expect(r.stderr.contains("missing.conf:2: `weights = \(box.path("no-such.safetensors"))`: the model weights file does not exist"), "\(r.stderr)")
        #expect(r.stderr.contains("set `weights`"), "\(r.stderr)")
        // Both there: OK again.
        mkdir(box.path("no-such-inbox"), 0o755)
        let shipped = try #require(WeightsLocator.locate(executable: URL(fileURLWithPath: Products.watch)))
        try FileManager.default.createSymbolicLink(atPath: box.path("no-such.safetensors"), withDestinationPath: shipped.path)
        let ok = runWatch(["--check-config", "--config", file], in: box)
        #expect(ok.status == 0, "exit \(ok.status): \(ok.stderr)")
        #expect(ok.stdout.contains("configuration OK"), "\(ok.stdout)")
    }

    @Test func checkConfigRefusesAnOutboxInsideTheInbox() throws {
        let box = try Sandbox()
        let file = box.path("dirs.conf")
        try "inbox = \(box.path("inbox"))\n\noutbox = \(box.path("inbox"))/done\n".write(toFile: file, atomically: true, encoding: .utf8)
        let r = runWatch(["--check-config", "--config", file], in: box)
        #expect(r.status == 78, "exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("dirs.conf:3:"), "\(r.stderr)")
    }
}

/// Runs the built `mtrnn-watch` to completion in the sandbox.
func runWatch(_ arguments: [String], in box: Sandbox, environment: [String: String] = [:]) -> CommandResult {
    var env: [String: String?] = ["NOTIFY_SOCKET": nil, "WATCHDOG_USEC": nil, "JOURNAL_STREAM": nil,
                                  "RUNTIME_DIRECTORY": nil, "MTRNN_WATCH_TEST_PROCESSOR": nil]
    for (k, v) in environment { env[k] = v }
    return runCommand([Products.watch] + arguments, in: box.root, environment: env)
}
