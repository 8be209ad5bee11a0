import Foundation
import WatchControl

/// `mtrnnctl status --cluster`: the shared queue and every daemon on it, as
/// the database knows them. `--json` prints this value (keys sorted).
public struct ClusterStatus: Codable, Sendable, Equatable {
    public struct Worker: Codable, Sendable, Equatable {
        /// host:instance (the template unit's instance) or host:pid.
        public var name: String
        public var host: String
        public var pid: Int
        /// worker, watcher or both.
        public var role: String
        /// idle, working, paused, watching, unreachable (it could not reach the database
        /// and says so when it is back), stopped, or silent (no heartbeat for 30 s).
        public var state: String
        public var photo: String?
        public var stage: String?
        public var tilesDone: Int
        public var tilesTotal: Int
        public var done: Int
        public var failed: Int
        /// Photos done per hour since the worker started.
        public var photosPerHour: Double
        /// The part of its time spent on photos.
        public var busyFraction: Double
        public var secondsSinceHeartbeat: Double
        public var lastError: String?
    }

    /// The database, without its password.
    public var queue: String
    public var paused = false
    /// Jobs waiting: queued, and running under an expired lease (to be claimed again).
    public var queueDepth = 0
    public var expiredLeases = 0
    /// Jobs per state: queued, running, done, failed, gone.
    public var jobs: [String: Int] = [:]
    /// Photos done in the last ten minutes, per hour, the whole cluster.
    public var photosPerHour = 0.0
    public var workers: [Worker] = []

    public init(queue: String) { self.queue = queue }

    public var text: String {
        func count(_ s: String) -> Int { jobs[s] ?? 0 }
        var lines = [
            "Queue:      \(queue)\(paused ? " (paused: no new photos are taken)" : "")",
            "Jobs:       \(queueDepth) waiting (\(count("queued")) queued, \(expiredLeases) with an expired lease), "
                + "\(count("running")) running, \(count("done")) done, \(count("failed")) failed, \(count("gone")) gone",
            "Throughput: \(String(format: "%.0f", photosPerHour)) photos/hour (last 10 minutes)",
            "Workers:    \(workers.count)",
        ]
        for w in workers {
            var line = "  \(Printable.escaped(w.name)) on \(Printable.escaped(w.host)) [\(w.role)] \(w.state)"
            if let p = w.photo {
                line += ": \(Printable.escaped(p))"
                if w.tilesTotal > 0 { line += " (\(w.stage ?? "working"), tile \(w.tilesDone)/\(w.tilesTotal))" }
            }
            line += "; \(w.done) done, \(w.failed) failed, \(String(format: "%.0f", w.photosPerHour)) photos/hour"
            line += ", heartbeat \(String(format: "%.0f", w.secondsSinceHeartbeat)) s ago"
            if let e = w.lastError { line += "\n    last error: \(Printable.escaped(e))" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
