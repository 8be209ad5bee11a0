import DurableFiles
import Foundation
@preconcurrency import Glibc

/// Which photos are being processed, kept in the state folder, so that a
/// photo that crashes the daemon (a decoder bug, memory exhausted, the
/// watchdog) cannot crash it again after every restart while later photos
/// wait: systemd restarts the service, and the photo is still in the inbox.
///
/// `in-progress.HASH` names a photo (path and identity) while it is
/// processed and is removed when its turn ends, however it ends. Found at
/// start-up, it means the last run died with that photo in flight. When it
/// was the only one, the crash is its own: `crashes/` counts, per photo, how
/// many runs it took down, and at two start-up files it in failed/ instead
/// of processing it again. When two photos were in flight (overlapping
/// photos), neither is counted: each gets a count file with its count as it
/// was, which makes it go through alone (`JobQueue.solo`), so that a second
/// crash names the photo that caused it. (`in-progress`, without a hash, is
/// an older release's marker, read as one of them.)
struct CrashGuard: Sendable {
    static let limit = 2

    let stateDirectory: String

    struct Entry: Codable, Equatable {
        var inbox: Bool
        var path: String
        var identity: String
        var crashes: Int
    }

    private static let markerPrefix = "in-progress."
    /// An older release's single marker.
    private var legacyMarker: String { stateDirectory + "/in-progress" }
    private func marker(_ job: Job) -> String {
        stateDirectory + "/" + Self.markerPrefix + key(job.origin == .inbox, job.relativePath)
    }
    private var countsDirectory: String { stateDirectory + "/crashes" }

    private func key(_ inbox: Bool, _ path: String) -> String {
        String(FNV1a.hash(((inbox ? "i:" : "f:") + path).utf8), radix: 16)
    }

    private func countPath(_ inbox: Bool, _ path: String) -> String {
        countsDirectory + "/" + key(inbox, path)
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
        write(Entry(inbox: job.origin == .inbox, path: job.relativePath, identity: "\(identity)", crashes: 0), to: marker(job))
    }

    /// The photo's turn ended without a crash. `finished`: it left the queue
    /// (done, failed, gone), so its crash count goes too; a stop or a full
    /// disk keeps it.
    func end(_ job: Job, finished: Bool) {
        unlink(marker(job))
        if finished { unlink(countPath(job.origin == .inbox, job.relativePath)) }
    }

    /// The markers found: the photos in flight when the last run died.
    private func markers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory)) ?? []
        return names.filter { $0.hasPrefix(Self.markerPrefix) }.sorted().map { stateDirectory + "/" + $0 }
            + (FileOps.lstatInfo(legacyMarker) != nil ? [legacyMarker] : [])
    }

    /// At start-up: the photos the last run died with in flight, each with
    /// the number of runs it has taken down (this crash counted where the
    /// photo was alone in flight), or none after a clean stop. `shared`:
    /// two were in flight, so this crash was not counted for either.
    func recover() -> (entries: [Entry], shared: Bool) {
        let found = markers()
        var entries = found.compactMap(read)
        let shared = entries.count > 1
        if !entries.isEmpty { try? FileOps.makeDirectory(countsDirectory, mode: 0o700) }
        for i in entries.indices {
            let path = countPath(entries[i].inbox, entries[i].path)
            let before = read(path).flatMap { $0.identity == entries[i].identity ? $0.crashes : nil } ?? 0
            entries[i].crashes = before + (shared ? 0 : 1)
            write(entries[i], to: path)
        }
        for m in found { unlink(m) }
        return (entries, shared)
    }

    /// The photos with a count file, which go through alone: each was in
    /// flight when a run died (and is not quarantined).
    func soloJobs() -> [Job] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: countsDirectory)) ?? []
        return names.compactMap { read(countsDirectory + "/" + $0) }
            .map { Job($0.path, origin: $0.inbox ? .inbox : .failed) }
    }
}
