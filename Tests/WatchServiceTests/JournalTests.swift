import Foundation
@preconcurrency import Glibc
import Identity
import Testing
@testable import WatchService

/// The built daemon's records read back from a real journald, run standalone in
/// a private mount namespace (tmpfs on /run and /var/log/journal). Needs root,
/// unshare and systemd-journald; skipped otherwise.
@Suite struct JournalTests {
    static var available: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")
            && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/journalctl")
    }

    @Test(.enabled(if: JournalTests.available), .timeLimit(.minutes(1)))
    func structuredFieldsReachTheJournal() async throws {
        let box = try Sandbox()
        let script = """
            set -e
            mount -t tmpfs tmpfs /run
            mkdir -p /run/systemd/journal /var/log/journal
            mount -t tmpfs tmpfs /var/log/journal
            /lib/systemd/systemd-journald & J=$!
            for i in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.1; done
            cd '\(box.root)'
            exec 2>'\(box.path("stderr.log"))'
            export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2) MTRNN_WATCH_TEST_PROCESSOR=copy:0
            '\(Products.watch)' --settle 0.1 & D=$!
            for i in $(seq 50); do [ -S state/control.sock ] && break; sleep 0.1; done
            printf '\\377\\330\\377good' > inbox/good.jpg
            echo bad > inbox/bad.jpg
            for i in $(seq 100); do [ -e outbox/good.jpg ] && [ -e failed/bad.jpg.reason ] && break; sleep 0.1; done
            kill $D; wait $D || true
            journalctl -o json --no-pager SYSLOG_IDENTIFIER=mtrnn-watch > '\(box.path("journal.json"))'
            kill $J
            """
        let r = runCommand(["/usr/bin/unshare", "--mount", "/bin/bash", "-c", script])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: box.path("journal.json"), encoding: .utf8).split(separator: "\n")
        let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let done = records.first { $0["MTRNN_OUTCOME"] as? String == "done" }
        #expect(done?["MTRNN_FILE"] as? String == "good.jpg")
        #expect(done?["MTRNN_TILES"] as? String == "10")
        #expect(done?["MTRNN_SECONDS"] != nil && done?["MTRNN_MEGAPIXELS"] != nil)
        #expect(done?["PRIORITY"] as? String == "6")
        // Its kind, its result and what made it.
        #expect(done?["MESSAGE_ID"] as? String == MessageID.photoDone.rawValue)
        #expect(done?["MTRNN_OUTPUT"] as? String == box.root + "/outbox/good.jpg", "\(String(describing: done))")
        #expect(done?["MTRNN_VERSION"] as? String == MtrnnWatchVersion.string)
        let started = records.first { $0["MESSAGE_ID"] as? String == MessageID.started.rawValue }
        #expect(started?["MTRNN_VERSION"] as? String == MtrnnWatchVersion.string, "no start-up record with the version")
        #expect(records.contains { $0["MESSAGE_ID"] as? String == MessageID.stopped.rawValue })
        let failed = records.first { $0["MTRNN_OUTCOME"] as? String == "failed" }
        #expect(failed?["MTRNN_FILE"] as? String == "bad.jpg")
        #expect((failed?["MTRNN_REASON"] as? String)?.contains("not a JPEG") == true)
        #expect(failed?["PRIORITY"] as? String == "3")
        #expect(failed?["MESSAGE_ID"] as? String == MessageID.photoFailed.rawValue)
        // With the journal in use, nothing goes to stderr.
        #expect(box.read("stderr.log")?.isEmpty == true)
    }
}
