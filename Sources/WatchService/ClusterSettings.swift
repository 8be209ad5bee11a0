import Foundation

/// The keys of a daemon on a shared queue (issue 20): `queue`, `role`,
/// `lease_seconds`, `max_attempts`, `worker_name`, `job_retention_days`. With `queue = inbox` (the
/// default) none of the others is read and the daemon is what it always was.
/// The URL is checked in full by ClusterQueue (`QueueLocation`) at start and
/// by --check-config; here only its scheme, since WatchService stands below it.
public struct ClusterSettings: Sendable, Equatable {
    public enum Role: String, Sendable, CaseIterable { case watcher, worker, both }

    /// `inbox`, or `postgresql://USER@HOST[:PORT]/DATABASE`.
    public var queue = "inbox"
    public var role = Role.both
    /// How long a claimed photo stays a worker's without a word from it; the
    /// worker renews the lease as its tiles progress.
    public var leaseSeconds = 60.0
    /// A photo whose workers died this many times goes to failed/.
    public var maxAttempts = 3
    /// The worker's name in the cluster status; empty: HOST:PID.
    public var workerName = ""
    /// Finished jobs (done, failed, gone) older than this many days are
    /// deleted by the watchers, unless their photo is still in the inbox or
    /// failed/ (ClusterRetention); 0 keeps them forever.
    public var jobRetentionDays = 30

    public init() {}

    public var isShared: Bool { queue != "inbox" }

    /// The queue without a password, for --check-config and messages.
    public var queueShown: String {
        guard let at = queue.firstIndex(of: "@"), let scheme = queue.range(of: "://"),
              let colon = queue[scheme.upperBound..<at].firstIndex(of: ":") else { return queue }
        return String(queue[..<queue.index(after: colon)]) + "***" + String(queue[at...])
    }

    static let keys: [WatchConfig.Key] = [
        .init(name: "queue", show: { $0.cluster.queueShown }) { c, v throws(ConfigError) in
            guard v == "inbox" || v.hasPrefix("postgresql://") || v.hasPrefix("postgres://") else {
                throw .value("inbox, or a PostgreSQL URL postgresql://USER@HOST[:PORT]/DATABASE")
            }
            c.cluster.queue = v
        },
        .init(name: "role", show: { $0.cluster.role.rawValue }) { c, v throws(ConfigError) in
            guard let r = Role(rawValue: v) else { throw .value("watcher, worker or both") }
            c.cluster.role = r
        },
        .init(name: "lease_seconds", show: { String(format: "%g", $0.cluster.leaseSeconds) }) { c, v throws(ConfigError) in
            guard let d = Double(v), (1...86400).contains(d) else { throw .value("a number of seconds from 1 to 86400") }
            c.cluster.leaseSeconds = d
        },
        .init(name: "max_attempts", show: { String($0.cluster.maxAttempts) }) { c, v throws(ConfigError) in
            guard let n = Int(v), (1...100).contains(n) else { throw .value("a whole number from 1 to 100") }
            c.cluster.maxAttempts = n
        },
        .init(name: "worker_name", show: { $0.cluster.workerName }) { c, v throws(ConfigError) in
            guard v.count <= 200, !v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw .value("a name of at most 200 characters without control characters")
            }
            c.cluster.workerName = v
        },
        .init(name: "job_retention_days", show: { String($0.cluster.jobRetentionDays) }) { c, v throws(ConfigError) in
            guard let n = Int(v), (0...36500).contains(n) else { throw .value("a whole number of days from 0 (keep forever) to 36500") }
            c.cluster.jobRetentionDays = n
        },
    ]
}
