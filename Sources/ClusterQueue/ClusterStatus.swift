import Foundation
import WatchControl

/// `mtrnnctl status --cluster`: the shared queue and every daemon on it, as
/// the database knows them. `--json` prints this value with the conventions
/// of `mtrnnctl status --json` (StatusReport): snake_case keys, every key
/// present (null where there is no value), and a top-level `version`,
/// raised when a key changes meaning or goes away. mtrnnctl(1) lists the keys.
public struct ClusterStatus: Codable, Sendable, Equatable {
    /// The JSON schema's version (the `version` key).
    public static let schemaVersion = 1
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
        /// The last error the worker recorded (the database lost, a statement
        /// refused, the shared storage in trouble), kept until it restarts.
        public var lastError: String?
        /// When: UTC, ISO 8601 (`2025-06-01T12:00:00Z`); nil without an error,
        /// or for one recorded by a release before schema version 2.
        public var lastErrorAt: String?
        public var secondsSinceLastError: Double?
        /// Whether the worker has worked since the error: finished a photo, or
        /// reported without an error (idle with the queue empty, paused). Nil
        /// without an error.
        public var lastErrorResolved: Bool?

        public init(name: String, host: String, pid: Int, role: String, state: String, photo: String?, stage: String?,
                    tilesDone: Int, tilesTotal: Int, done: Int, failed: Int, photosPerHour: Double, busyFraction: Double,
                    secondsSinceHeartbeat: Double, lastError: String?, lastErrorAt: String? = nil,
                    secondsSinceLastError: Double? = nil, lastErrorResolved: Bool? = nil) {
            self.name = name; self.host = host; self.pid = pid; self.role = role; self.state = state
            self.photo = photo; self.stage = stage; self.tilesDone = tilesDone; self.tilesTotal = tilesTotal
            self.done = done; self.failed = failed; self.photosPerHour = photosPerHour; self.busyFraction = busyFraction
            self.secondsSinceHeartbeat = secondsSinceHeartbeat; self.lastError = lastError; self.lastErrorAt = lastErrorAt
            self.secondsSinceLastError = secondsSinceLastError; self.lastErrorResolved = lastErrorResolved
        }

        enum CodingKeys: String, CodingKey {
            case name, host, pid, role, state, photo, stage, tilesDone = "tiles_done", tilesTotal = "tiles_total", done, failed,
                 photosPerHour = "photos_per_hour", busyFraction = "busy_fraction",
                 secondsSinceHeartbeat = "seconds_since_heartbeat", lastError = "last_error", lastErrorAt = "last_error_at",
                 secondsSinceLastError = "seconds_since_last_error", lastErrorResolved = "last_error_resolved"
        }

        /// Every key, a value that is absent as null (as `mtrnnctl status --json`
        /// does): a script reads `.last_error_at` without asking whether it is there.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(host, forKey: .host); try c.encode(pid, forKey: .pid)
            try c.encode(role, forKey: .role); try c.encode(state, forKey: .state)
            try c.encode(photo, forKey: .photo); try c.encode(stage, forKey: .stage)
            try c.encode(tilesDone, forKey: .tilesDone); try c.encode(tilesTotal, forKey: .tilesTotal)
            try c.encode(done, forKey: .done); try c.encode(failed, forKey: .failed)
            try c.encode(photosPerHour, forKey: .photosPerHour); try c.encode(busyFraction, forKey: .busyFraction)
            try c.encode(secondsSinceHeartbeat, forKey: .secondsSinceHeartbeat)
            try c.encode(lastError, forKey: .lastError); try c.encode(lastErrorAt, forKey: .lastErrorAt)
            try c.encode(secondsSinceLastError, forKey: .secondsSinceLastError)
            try c.encode(lastErrorResolved, forKey: .lastErrorResolved)
        }

        /// "3 min ago", "2 h ago": the age of the last error in the text.
        static func ago(_ seconds: Double) -> String {
            let s = max(0, seconds)
            if s < 120 { return "\(Int(s)) s ago" }
            if s < 120 * 60 { return "\(Int(s / 60)) min ago" }
            if s < 48 * 3600 { return "\(Int(s / 3600)) h ago" }
            return "\(Int(s / 86400)) days ago"
        }

        /// The last error's line under the worker: its age and whether it is over.
        var lastErrorLine: String? {
            guard let e = lastError else { return nil }
            let when = secondsSinceLastError.map { " \(Self.ago($0))" } ?? ""
            let over = lastErrorResolved == true ? " (resolved: it has worked since)" : " (not resolved yet)"
            return "last error\(when)\(over): \(Printable.escaped(e))"
        }
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
    public var version = ClusterStatus.schemaVersion

    enum CodingKeys: String, CodingKey {
        case queue, paused, queueDepth = "queue_depth", expiredLeases = "expired_leases", jobs,
             photosPerHour = "photos_per_hour", workers, version
    }

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
            if let e = w.lastErrorLine { line += "\n    " + e }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
