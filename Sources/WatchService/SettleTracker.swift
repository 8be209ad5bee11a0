import DurableFiles
import Foundation

/// Files seen in the inbox but not yet queued: each is taken once its size and
/// mtime have not changed for the settle time (uploads that write in bursts,
/// scanners that rewrite the file).
struct SettleTracker {
    struct Candidate {
        var identity: FileIdentity?
        var stableSince: ContinuousClock.Instant
    }

    private(set) var candidates: [String: Candidate] = [:]
    var settle: Duration

    init(settle: Duration) { self.settle = settle }

    mutating func note(_ relative: String, now: ContinuousClock.Instant = .now) {
        if candidates[relative] == nil { candidates[relative] = Candidate(identity: nil, stableSince: now) }
    }

    mutating func remove(_ relative: String) { candidates[relative] = nil }

    /// Re-reads every candidate; returns those that have settled (and forgets
    /// them) and drops those that are gone. Anything not a plain file (a link,
    /// a directory named like a photo) is returned at once: it will not change
    /// by waiting and the worker refuses it with a reason.
    mutating func settled(inbox: String, now: ContinuousClock.Instant = .now) -> [String] {
        settledFiles(inbox: inbox, now: now).map(\.path)
    }

    /// `settled`, with each file's identity when it settled (nil: not a plain file),
    /// which the job compares again when it starts.
    mutating func settledFiles(inbox: String, now: ContinuousClock.Instant = .now) -> [(path: String, identity: FileIdentity?)] {
        var ready: [(path: String, identity: FileIdentity?)] = []
        for (relative, var candidate) in candidates {
            guard let st = FileOps.lstatInfo(inbox + "/" + relative) else {
                candidates[relative] = nil
                continue
            }
            if !FileOps.isRegular(st) {
                ready.append((relative, nil))
                candidates[relative] = nil
                continue
            }
            let id = FileIdentity(st)
            if candidate.identity != id {
                candidate.identity = id
                candidate.stableSince = now
                candidates[relative] = candidate
            }
            if now - candidate.stableSince >= settle {
                ready.append((relative, id))
                candidates[relative] = nil
            }
        }
        return ready.sorted { $0.path < $1.path }
    }
}
