import DurableFiles
import Foundation
@preconcurrency import Glibc

/// Which photo is being processed, kept in the state folder, so that a photo
/// that crashes the daemon (a decoder bug, memory exhausted, the watchdog)
/// cannot crash it again after every restart while later photos wait:
/// systemd restarts the service, and the photo is still in the inbox.
///
/// `in-progress` names the photo (path and identity) while it is processed
/// and is removed when it ends, however it ends. Found at start-up, it means
/// the last run died on that photo: `crashes/` then counts, per photo, how
/// many runs it took down. At two, start-up files it in failed/ instead of
/// processing it again.
struct CrashGuard: Sendable {
    static let limit = 2

    let stateDirectory: String

    struct Entry: Codable, Equatable {
        var inbox: Bool
        var path: String
        var identity: String
        var crashes: Int
    }

    private var marker: String { stateDirectory + "/in-progress" }
    private var countsDirectory: String { stateDirectory + "/crashes" }

    private func countPath(_ inbox: Bool, _ path: String) -> String {
        countsDirectory + "/" + String(FNV1a.hash(((inbox ? "i:" : "f:") + path).utf8), radix: 16)
    }

    private func read(_ path: String) -> Entry? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(Entry.self, from: $0) }
    }

    private func write(_ e: Entry, to path: String) {
        guard let data = try? JSONEncoder().encode(e) else { return }
        try? FileOps.writeAtomically(String(decoding: data, as: UTF8.self) + "\n", to: path)
    }

    /// Before the photo is processed (fsynced: it must survive the crash it is there for).
    func begin(_ job: Job, _ identity: FileIdentity) {
        write(Entry(inbox: job.origin == .inbox, path: job.relativePath, identity: "\(identity)", crashes: 0), to: marker)
    }

    /// The photo's turn ended without a crash. `finished`: it left the queue
    /// (done, failed, gone), so its crash count goes too; a stop or a full
    /// disk keeps it.
    func end(_ job: Job, finished: Bool) {
        unlink(marker)
        if finished { unlink(countPath(job.origin == .inbox, job.relativePath)) }
    }

    /// At start-up: the photo the last run died on, with the number of runs it
    /// has taken down (this crash counted), or nil after a clean stop.
    func recover() -> Entry? {
        guard var e = read(marker) else { unlink(marker); return nil }
        try? FileOps.makeDirectory(countsDirectory, mode: 0o700)
        let path = countPath(e.inbox, e.path)
        let before = read(path).flatMap { $0.identity == e.identity ? $0.crashes : nil } ?? 0
        e.crashes = before + 1
        write(e, to: path)
        unlink(marker)
        return e
    }
}
