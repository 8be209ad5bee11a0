import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// One job as a worker claimed it.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int
    /// Relative to the inbox (origin inbox) or to failed/ (origin failed).
    public var path: String
    public var origin: String
    public var size: Int
    public var mtimeNanoseconds: Int
    /// This claim's attempt: 1 the first time, more after leases expired.
    public var attempt: Int
    /// The result's path under the outbox, once reserved (by an earlier attempt too).
    public var outputName: String?
}

/// What the queue could not do: the database is unreachable (retry with
/// backoff) or it refused a statement (a bug or a missing grant).
public enum QueueError: Error, CustomStringConvertible {
    case unreachable(location: String, underlying: String)
    case refused(statement: String, message: String)
    case newerSchema(found: Int, known: Int)

    public var description: String {
        switch self {
        case .unreachable(let location, let underlying):
            return "cannot reach the queue database \(location): \(underlying)"
        case .refused(let statement, let message):
            return "the queue database refused `\(statement)`: \(message)"
        case .newerSchema(let found, let known):
            return "the queue database has schema version \(found), newer than this mtrnn-watch knows (\(known)); upgrade mtrnn-watch on this host"
        }
    }

    public var isUnreachable: Bool { if case .unreachable = self { return true } else { return false } }
}

/// The shared queue in PostgreSQL: one connection, opened on first use and
/// again after it broke. Every method is one statement (or one transaction),
/// so that a connection lost in the middle leaves the database as it was
/// before or after, never between. Leases are reckoned in the database's
/// clock (`now()`), so the hosts' clocks need not agree.
public actor PostgresQueue {
    public nonisolated let location: QueueLocation
    private let logger: Logger
    private var connection: PostgresConnection?
    private var nextID = 1
    /// How long one connection attempt may take.
    public var connectTimeout: TimeAmount = .seconds(5)

    public init(location: QueueLocation, logger: Logger) {
        self.location = location
        self.logger = logger
    }

    // MARK: connection

    private func configuration() throws -> PostgresConnection.Configuration {
        var config: PostgresConnection.Configuration
        if let socket = location.socketPath {
            config = .init(unixSocketPath: socket, username: location.user, password: location.password, database: location.database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch location.tls {
            case .disable: tls = .disable
            case .prefer: tls = .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: tls = .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
            config = .init(host: location.host ?? "localhost", port: location.port, username: location.user,
                           password: location.password, database: location.database, tls: tls)
        }
        config.options.connectTimeout = connectTimeout
        return config
    }

    /// The connection attempt in flight: callers that come while it runs
    /// (the actor is reentrant at every await) wait for the same one, so
    /// that no connection is opened twice and dropped unclosed.
    private var connecting: Task<PostgresConnection, any Error>?

    private func connected() async throws(QueueError) -> PostgresConnection {
        if let c = connection, !c.isClosed { return c }
        if let c = connection {
            connection = nil
            Self.closeNow(c)
        }
        let task: Task<PostgresConnection, any Error>
        if let t = connecting { task = t } else {
            let config: PostgresConnection.Configuration
            do { config = try configuration() } catch {
                throw .unreachable(location: location.description, underlying: "cannot set up TLS: \(error)")
            }
            let (id, logger) = (nextID, self.logger)
            nextID += 1
            task = Task { try await PostgresConnection.connect(configuration: config, id: id, logger: logger) }
            connecting = task
        }
        do {
            let c = try await task.value
            if connecting == task {
                connecting = nil
                connection = c
            }
            return c
        } catch {
            if connecting == task { connecting = nil }
            throw .unreachable(location: location.description, underlying: Self.describe(error))
        }
    }

    /// How long one statement (or the migration) may take before the
    /// connection is given up as broken: a link cut without a reset (a host
    /// lost, a cable pulled) would otherwise hang a query for TCP's minutes.
    public var statementTimeout: Duration = .seconds(10)

    struct Timeout: Error, CustomStringConvertible {
        let seconds: Double
        var description: String { "no answer in \(Int(seconds)) s (the link or the server is down)" }
    }

    /// Runs `body` on the connection; a broken connection is dropped (the next
    /// call opens a new one) and reported as `.unreachable`, and so is one
    /// that does not answer within `statementTimeout`.
    @discardableResult
    private func run<T: Sendable>(_ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T)
        async throws(QueueError) -> T {
        let c = try await connected()
        let limit = statementTimeout
        do {
            return try await withThrowingTaskGroup(of: T.self) { group in
                group.addTask { try await body(c) }
                group.addTask {
                    try await Task.sleep(for: limit)
                    Self.closeNow(c)   // fails the statement in flight
                    throw Timeout(seconds: Double(limit.components.seconds))
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }
        } catch let error as QueueError {
            throw error
        } catch let error as PSQLError where error.serverInfo != nil && !Self.isTransient(error) {
            var message = error.serverInfo?[.message] ?? "\(error)"
            if error.serverInfo?[.sqlState] == "42501" {   // insufficient_privilege
                message += "; \(Self.grantNeeded(what, role: location.user)) (mtrnn-watch(8), \"Running on several machines\")"
            }
            throw .refused(statement: what, message: message)
        } catch {
            try? await c.close()
            if connection === c { connection = nil }
            throw .unreachable(location: location.description, underlying: Self.describe(error))
        }
    }

    /// What a statement refused for want of a privilege needs, and who has it.
    static func grantNeeded(_ statement: String, role: String) -> String {
        switch statement {
        case "pause", "resume":
            return "pause and resume --cluster need UPDATE on mtrnn_control, which role \(role) lacks: "
                + "use the operators' role (mtrnn_operator) or the daemons' (mtrnn)"
        case "retry":
            return "retry --cluster needs UPDATE on mtrnn_jobs, which role \(role) lacks: "
                + "use the operators' role (mtrnn_operator) or the daemons' (mtrnn)"
        case "status", "schema version", "paused?":
            return "status --cluster needs SELECT on the mtrnn_ tables, which role \(role) lacks: "
                + "grant it (on tables made before: GRANT SELECT ON ALL TABLES IN SCHEMA public TO \(role))"
        default:
            return "a daemon must connect as the role that owns the tables, creates and migrates them (mtrnn), not \(role)"
        }
    }

    /// Closes without waiting (the EventLoopFuture overload, outside async code).
    nonisolated static func closeNow(_ c: PostgresConnection) {
        let future: EventLoopFuture<Void> = c.close()
        future.whenComplete { _ in }
    }

    /// Server errors that mean "not now" rather than "no": the server shutting
    /// down or starting (SQLSTATE class 57), connection trouble (08), out of
    /// resources such as connection slots (53). Retried like a lost link.
    static func isTransient(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("57") || state.hasPrefix("08") || state.hasPrefix("53")
    }

    /// The server's own words where there are some, else the error's.
    static func describe(_ error: any Error) -> String {
        if let p = error as? PSQLError {
            if let message = p.serverInfo?[.message] { return message }
            if let underlying = p.underlying { return "\(p.code): \(underlying)" }
            return "\(p.code)"
        }
        return "\(error)"
    }

    /// Any statement, for the tests (they drop tables and age leases).
    func execute(unsafeSQL sql: String) async throws(QueueError) {
        let logger = self.logger
        try await run(sql) { c in try await c.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
    }

    public func close() async {
        if let c = connection { try? await c.close() }
        connection = nil
    }

    // MARK: schema

    /// Brings the tables to `QueueSchema.latest`, in one transaction under an
    /// advisory lock. Returns the version found before.
    @discardableResult
    public func migrate() async throws(QueueError) -> Int {
        try await migrate(upTo: QueueSchema.latest)
    }

    /// Brings the tables to `target` (the tests: an older version first, as
    /// an earlier release left it).
    @discardableResult
    func migrate(upTo target: Int) async throws(QueueError) -> Int {
        let logger = self.logger
        return try await run("migrate") { c in
            try await c.query("BEGIN", logger: logger)
            do {
                try await c.query("SELECT pg_advisory_xact_lock(\(QueueSchema.migrationLock))", logger: logger)
                try await c.query("CREATE TABLE IF NOT EXISTS mtrnn_schema_version (version integer NOT NULL)", logger: logger)
                var found = 0
                for try await v in try await c.query("SELECT coalesce(max(version), 0)::int8 FROM mtrnn_schema_version", logger: logger)
                    .decode(Int.self) { found = v }
                if found > QueueSchema.latest { throw QueueError.newerSchema(found: found, known: QueueSchema.latest) }
                if found < target {
                    for version in (found + 1)...target {
                        for statement in QueueSchema.versions[version - 1] {
                            try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        }
                    }
                    try await c.query("DELETE FROM mtrnn_schema_version", logger: logger)
                    try await c.query("INSERT INTO mtrnn_schema_version (version) VALUES (\(target))", logger: logger)
                    logger.info("queue database: schema version \(found) -> \(target)")
                }
                try await c.query("COMMIT", logger: logger)
                return found
            } catch {
                _ = try? await c.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// The schema version in the database (0: none yet).
    public func schemaVersion() async throws(QueueError) -> Int {
        let logger = self.logger
        return try await run("schema version") { c in
            var exists = false
            for try await e in try await c.query("SELECT to_regclass('mtrnn_schema_version') IS NOT NULL", logger: logger).decode(Bool.self) {
                exists = e
            }
            guard exists else { return 0 }
            var v = 0
            for try await x in try await c.query("SELECT coalesce(max(version), 0)::int8 FROM mtrnn_schema_version", logger: logger)
                .decode(Int.self) { v = x }
            return v
        }
    }

    // MARK: watcher

    /// Queues a photo; nothing when this version of it (path, size, mtime,
    /// content hash) is known already, whatever its state. True when queued now.
    @discardableResult
    public func insert(path: String, size: Int, mtimeNanoseconds: Int, contentHash: String, origin: String = "inbox")
        async throws(QueueError) -> Bool {
        let logger = self.logger
        return try await run("insert") { c in
            let rows = try await c.query("""
                INSERT INTO mtrnn_jobs (path, origin, size, mtime_ns, content_hash)
                VALUES (\(path), \(origin), \(size), \(mtimeNanoseconds), \(contentHash))
                ON CONFLICT (path, size, mtime_ns, content_hash) DO NOTHING RETURNING id
                """, logger: logger)
            var inserted = false
            for try await _ in rows.decode(Int.self) { inserted = true }
            return inserted
        }
    }

    // MARK: worker

    /// Takes the oldest job that is queued, or running under a lease that
    /// has expired (its worker died or was cut off): one statement, the row
    /// chosen with `SELECT ... FOR UPDATE SKIP LOCKED`, so that workers
    /// claiming at once never take the same job and never wait on each other.
    /// Nothing while the cluster is paused.
    public func claim(worker: String, leaseSeconds: Double) async throws(QueueError) -> ClaimedJob? {
        try await finishAndClaim(done: nil, seconds: nil, worker: worker, leaseSeconds: leaseSeconds)
    }

    /// `job` is done (its result in the outbox, the original filed) and the
    /// worker's next job is claimed, in one statement: one round trip per
    /// photo while the queue is busy. The claim is `claim`'s, never the job
    /// just finished; the worker's row says 'working' on the new job, or 'idle'.
    public func complete(job: Int, worker: String, seconds: Double?, thenClaimWithLease leaseSeconds: Double)
        async throws(QueueError) -> ClaimedJob? {
        try await finishAndClaim(done: job, seconds: seconds, worker: worker, leaseSeconds: leaseSeconds)
    }

    /// One statement: marks `done` (if any) done, claims the next job, and
    /// updates the worker's row (left alone when it neither finished nor
    /// claimed anything: an idle worker's poll does not overwrite 'paused').
    /// The finished row and the claimed one are always different rows (the
    /// claim skips `done`), as PostgreSQL asks of one statement's CTEs.
    private func finishAndClaim(done job: Int?, seconds: Double?, worker: String, leaseSeconds: Double)
        async throws(QueueError) -> ClaimedJob? {
        let logger = self.logger
        return try await run(job == nil ? "claim" : "complete and claim") { c in
            let rows = try await c.query("""
                WITH finished AS (
                    UPDATE mtrnn_jobs SET state = 'done', finished_at = now(), lease_until = NULL, seconds = \(seconds),
                        stage = 'done', reason = NULL
                    WHERE id = \(job)::int8 AND state <> 'done'),
                next AS (
                    SELECT id FROM mtrnn_jobs
                    WHERE (state = 'queued' OR (state = 'running' AND lease_until < now()))
                      AND NOT (SELECT paused FROM mtrnn_control WHERE id = 1)
                      AND id IS DISTINCT FROM \(job)::int8
                    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),
                claimed AS (
                    UPDATE mtrnn_jobs j SET state = 'running', attempts = j.attempts + 1, worker = \(worker),
                        lease_until = now() + make_interval(secs => \(leaseSeconds)), claimed_at = now(),
                        stage = NULL, tiles_done = 0, tiles_total = 0
                    FROM next WHERE j.id = next.id
                    RETURNING j.id, j.path, j.origin, j.size, j.mtime_ns, j.attempts, j.output_name),
                me AS (
                    UPDATE mtrnn_workers SET
                        state = CASE WHEN EXISTS (SELECT 1 FROM claimed) THEN 'working' ELSE 'idle' END,
                        job_id = (SELECT id FROM claimed), photo = (SELECT path FROM claimed), stage = NULL,
                        tiles_done = 0, tiles_total = 0,
                        done = done + CASE WHEN \(job)::int8 IS NULL THEN 0 ELSE 1 END,
                        busy_seconds = busy_seconds + \(seconds ?? 0), heartbeat = now()
                    WHERE name = \(worker) AND (\(job)::int8 IS NOT NULL OR EXISTS (SELECT 1 FROM claimed)))
                SELECT id, path, origin, size, mtime_ns, attempts::int8, output_name FROM claimed
                """, logger: logger)
            var claimed: ClaimedJob?
            for try await (id, path, origin, size, mtime, attempts, output) in rows.decode((Int, String, String, Int, Int, Int, String?).self) {
                claimed = ClaimedJob(id: id, path: path, origin: origin, size: size, mtimeNanoseconds: mtime,
                                     attempt: attempts, outputName: output)
            }
            return claimed
        }
    }

    /// Reserves `name` (a path under the outbox) for the job's result, unless
    /// another job has it. True when the job has it now.
    public func reserveOutput(job: Int, name: String) async throws(QueueError) -> Bool {
        let logger = self.logger
        do {
            return try await run("reserve output") { c in
                var ok = false
                for try await _ in try await c.query("""
                    UPDATE mtrnn_jobs SET output_name = \(name) WHERE id = \(job) AND output_name IS NULL
                      AND NOT EXISTS (SELECT 1 FROM mtrnn_jobs WHERE output_name = \(name)) RETURNING id
                    """, logger: logger).decode(Int.self) { ok = true }
                return ok
            }
        } catch .refused {
            return false   // unique_violation: another worker reserved the name at the same moment
        }
    }

    /// Renews the lease and records the progress. False when the job is no
    /// longer this worker's (its lease expired and another worker took it).
    @discardableResult
    public func renew(job: Int, worker: String, attempt: Int, leaseSeconds: Double, stage: String, tilesDone: Int, tilesTotal: Int)
        async throws(QueueError) -> Bool {
        let logger = self.logger
        return try await run("renew lease") { c in
            var ours = false
            for try await _ in try await c.query("""
                UPDATE mtrnn_jobs SET lease_until = now() + make_interval(secs => \(leaseSeconds)),
                    stage = \(stage), tiles_done = \(tilesDone), tiles_total = \(tilesTotal)
                WHERE id = \(job) AND worker = \(worker) AND attempts = \(attempt) AND state = 'running' RETURNING id
                """, logger: logger).decode(Int.self) { ours = true }
            try await c.query("""
                UPDATE mtrnn_workers SET stage = \(stage), tiles_done = \(tilesDone), tiles_total = \(tilesTotal), heartbeat = now()
                WHERE name = \(worker)
                """, logger: logger)
            return ours
        }
    }

    /// The job's result is in the outbox and the original filed: the job is
    /// done and the worker idle again, in one round trip (a worker that
    /// stops; one that goes on uses `complete(job:worker:seconds:thenClaimWithLease:)`).
    public func complete(job: Int, worker: String, seconds: Double?) async throws(QueueError) {
        let logger = self.logger
        try await run("complete") { c in
            try await c.query("""
                WITH finished AS (
                    UPDATE mtrnn_jobs SET state = 'done', finished_at = now(), lease_until = NULL, seconds = \(seconds),
                        stage = 'done', reason = NULL
                    WHERE id = \(job) AND state <> 'done')
                UPDATE mtrnn_workers SET state = 'idle', job_id = NULL, photo = NULL, stage = NULL, tiles_done = 0,
                    tiles_total = 0, done = done + 1, busy_seconds = busy_seconds + \(seconds ?? 0), heartbeat = now()
                WHERE name = \(worker)
                """, logger: logger)
        }
    }

    /// The job ended without a result: 'failed' (the photo is in failed/ with
    /// its reason) or 'gone' (it left the inbox, or changed, before it was done).
    public func finish(job: Int, state: String, reason: String, filedAs: String? = nil) async throws(QueueError) {
        precondition(state == "failed" || state == "gone")
        let logger = self.logger
        try await run("finish") { c in
            try await c.query("""
                UPDATE mtrnn_jobs SET state = \(state), reason = \(reason), filed_as = \(filedAs), finished_at = now(),
                    lease_until = NULL, output_name = NULL
                WHERE id = \(job) AND state = 'running'
                """, logger: logger)
        }
    }

    /// Gives a job back without counting the attempt (the worker is stopping).
    public func release(job: Int, worker: String, attempt: Int) async throws(QueueError) {
        let logger = self.logger
        try await run("release") { c in
            try await c.query("""
                UPDATE mtrnn_jobs SET state = 'queued', attempts = attempts - 1, worker = NULL, lease_until = NULL
                WHERE id = \(job) AND worker = \(worker) AND attempts = \(attempt) AND state = 'running'
                """, logger: logger)
        }
    }

    // MARK: workers' reports

    public struct WorkerReport: Sendable {
        public var name: String
        public var host: String
        public var pid: Int
        public var role: String
        public var state: String
        public var jobID: Int?
        public var photo: String?
        public var lastError: String?
        public init(name: String, host: String, pid: Int, role: String, state: String, jobID: Int? = nil,
                    photo: String? = nil, lastError: String? = nil) {
            self.name = name; self.host = host; self.pid = pid; self.role = role; self.state = state
            self.jobID = jobID; self.photo = photo; self.lastError = lastError
        }
    }

    /// Registers (or re-registers, after a restart) a worker or watcher.
    /// Workers not heard from for a day are forgotten.
    public func register(_ w: WorkerReport) async throws(QueueError) {
        let logger = self.logger
        try await run("register") { c in
            try await c.query("DELETE FROM mtrnn_workers WHERE heartbeat < now() - interval '1 day'", logger: logger)
            try await c.query("""
                INSERT INTO mtrnn_workers (name, host, pid, role, state, last_error, last_error_at, finished_at_error)
                VALUES (\(w.name), \(w.host), \(w.pid), \(w.role), \(w.state), \(w.lastError),
                        CASE WHEN \(w.lastError)::text IS NULL THEN NULL ELSE now() END,
                        CASE WHEN \(w.lastError)::text IS NULL THEN NULL ELSE 0 END)
                ON CONFLICT (name) DO UPDATE SET host = EXCLUDED.host, pid = EXCLUDED.pid, role = EXCLUDED.role,
                    state = EXCLUDED.state, job_id = NULL, photo = NULL, stage = NULL, tiles_done = 0, tiles_total = 0,
                    done = 0, failed = 0, busy_seconds = 0, last_error = EXCLUDED.last_error,
                    last_error_at = EXCLUDED.last_error_at, finished_at_error = EXCLUDED.finished_at_error, clean_at = NULL,
                    started_at = now(), heartbeat = now()
                """, logger: logger)
        }
    }

    /// The worker's state now: what it is doing, and counts when a job ended.
    /// With `lastError` it records the error and its time (the database's
    /// clock) and the photos finished so far; without, the report is a clean
    /// one, and an error recorded before it is over (`ClusterStatus.Worker.lastErrorResolved`).
    public func report(worker: String, state: String, jobID: Int?, photo: String?, addDone: Int = 0, addFailed: Int = 0,
                       addBusySeconds: Double = 0, lastError: String? = nil) async throws(QueueError) {
        let logger = self.logger
        try await run("report") { c in
            try await c.query("""
                UPDATE mtrnn_workers SET state = \(state), job_id = \(jobID), photo = \(photo),
                    stage = CASE WHEN \(jobID)::int8 IS NULL THEN NULL ELSE stage END,
                    tiles_done = CASE WHEN \(jobID)::int8 IS NULL THEN 0 ELSE tiles_done END,
                    tiles_total = CASE WHEN \(jobID)::int8 IS NULL THEN 0 ELSE tiles_total END,
                    done = done + \(addDone), failed = failed + \(addFailed), busy_seconds = busy_seconds + \(addBusySeconds),
                    last_error = coalesce(\(lastError), last_error),
                    last_error_at = CASE WHEN \(lastError)::text IS NULL THEN last_error_at ELSE now() END,
                    finished_at_error = CASE WHEN \(lastError)::text IS NULL THEN finished_at_error
                                             ELSE done + failed + \(addDone) + \(addFailed) END,
                    clean_at = CASE WHEN \(lastError)::text IS NULL THEN now() ELSE clean_at END,
                    heartbeat = now()
                WHERE name = \(worker)
                """, logger: logger)
        }
    }

    public func heartbeat(worker: String) async throws(QueueError) {
        let logger = self.logger
        try await run("heartbeat") { c in
            try await c.query("UPDATE mtrnn_workers SET heartbeat = now() WHERE name = \(worker)", logger: logger)
        }
    }

    /// A worker stopping for good says so (the row stays, for its counts).
    public func signOff(worker: String) async throws(QueueError) {
        try await report(worker: worker, state: "stopped", jobID: nil, photo: nil)
    }

    // MARK: cluster-wide control

    public func setPaused(_ paused: Bool) async throws(QueueError) {
        let logger = self.logger
        try await run(paused ? "pause" : "resume") { c in
            try await c.query("UPDATE mtrnn_control SET paused = \(paused) WHERE id = 1", logger: logger)
        }
    }

    public func isPaused() async throws(QueueError) -> Bool {
        let logger = self.logger
        return try await run("paused?") { c in
            var p = false
            for try await x in try await c.query("SELECT paused FROM mtrnn_control WHERE id = 1", logger: logger).decode(Bool.self) { p = x }
            return p
        }
    }

    /// Queues failed photos again, from failed/ (all of them, or the one at
    /// `path` there): attempts start from zero. Returns how many.
    public func retryFailed(path: String?) async throws(QueueError) -> Int {
        let logger = self.logger
        return try await run("retry") { c in
            var n = 0
            for try await _ in try await c.query("""
                UPDATE mtrnn_jobs SET state = 'queued', origin = 'failed', path = filed_as, filed_as = NULL,
                    attempts = 0, worker = NULL, lease_until = NULL, finished_at = NULL, reason = NULL
                WHERE state = 'failed' AND filed_as IS NOT NULL
                  AND (\(path)::text IS NULL OR filed_as = \(path) OR path = \(path))
                RETURNING id
                """, logger: logger).decode(Int.self) { n += 1 }
            return n
        }
    }

    // MARK: retention (`job_retention_days`)

    /// A job in an end state (done, failed, gone), as retention weighs it.
    public struct FinishedJob: Sendable, Equatable {
        public var id: Int
        /// Relative to the inbox (origin inbox) or to failed/ (origin failed).
        public var path: String
        public var origin: String
        public var state: String
        public var size: Int
        public var mtimeNanoseconds: Int
        /// Where a failed photo lies, relative to failed/.
        public var filedAs: String?
    }

    /// Where a retention pass has got to: (finished_at, id) of the last row
    /// looked at, finished_at in the database's own text (no rounding).
    public struct RetentionCursor: Sendable, Equatable {
        var finishedAt: String
        var id: Int
    }

    /// Finished jobs older than `days` days, oldest first, after `cursor`:
    /// one batch of the keyset walk (index mtrnn_jobs_ended), so that rows a
    /// pass keeps are not read again by the next batch.
    public func finishedJobs(olderThanDays days: Int, after cursor: RetentionCursor?, limit: Int)
        async throws(QueueError) -> (jobs: [FinishedJob], next: RetentionCursor?) {
        let logger = self.logger
        return try await run("retention: finished jobs") { c in
            let rows = try await c.query("""
                SELECT id, path, origin, state, size, mtime_ns, filed_as, finished_at::text AS cursor_at FROM mtrnn_jobs
                WHERE state IN ('done', 'failed', 'gone') AND finished_at < now() - make_interval(days => \(days)::int4)
                  AND (\(cursor?.finishedAt)::text IS NULL OR (finished_at, id) > (\(cursor?.finishedAt)::timestamptz, \(cursor?.id ?? 0)))
                ORDER BY finished_at, id LIMIT \(limit)
                """, logger: logger)
            var jobs: [FinishedJob] = []
            var next: RetentionCursor?
            for try await (id, path, origin, state, size, mtime, filedAs, finishedAt)
                in rows.decode((Int, String, String, String, Int, Int, String?, String).self) {
                jobs.append(FinishedJob(id: id, path: path, origin: origin, state: state, size: size, mtimeNanoseconds: mtime,
                                        filedAs: filedAs))
                next = RetentionCursor(finishedAt: finishedAt, id: id)
            }
            return (jobs, next)
        }
    }

    /// Deletes the jobs of `ids` that are still finished and older than
    /// `days` days (one retried meanwhile is not), in one short statement by
    /// primary key. Returns the ids deleted.
    public func deleteFinished(ids: [Int], olderThanDays days: Int) async throws(QueueError) -> Set<Int> {
        guard !ids.isEmpty else { return [] }
        let logger = self.logger
        return try await run("retention: delete") { c in
            var deleted = Set<Int>()
            for try await id in try await c.query("""
                DELETE FROM mtrnn_jobs WHERE id = ANY(\(ids)) AND state IN ('done', 'failed', 'gone')
                  AND finished_at < now() - make_interval(days => \(days)::int4)
                RETURNING id
                """, logger: logger).decode(Int.self) { deleted.insert(id) }
            return deleted
        }
    }

    // MARK: status

    /// Workers whose last heartbeat is older than this are shown as silent.
    public static let silentAfterSeconds = 30.0

    public func status() async throws(QueueError) -> ClusterStatus {
        let logger = self.logger
        let location = self.location.description
        return try await run("status") { c in
            var status = ClusterStatus(queue: location)
            for try await (state, n) in try await c.query("SELECT state, count(*)::int8 FROM mtrnn_jobs GROUP BY state", logger: logger)
                .decode((String, Int).self) { status.jobs[state] = n }
            for try await (expired, p, perHour) in try await c.query("""
                SELECT (SELECT count(*) FROM mtrnn_jobs WHERE state = 'running' AND lease_until < now())::int8,
                       (SELECT paused FROM mtrnn_control WHERE id = 1),
                       (SELECT count(*) FROM mtrnn_jobs WHERE state = 'done' AND finished_at > now() - interval '10 minutes')::float8 * 6
                """, logger: logger).decode((Int, Bool, Double).self) {
                status.expiredLeases = expired
                status.paused = p
                status.photosPerHour = perHour
            }
            status.queueDepth = (status.jobs["queued"] ?? 0) + status.expiredLeases
            // The last error's time and end came with schema version 2: a
            // newer mtrnnctl reads a database its daemons have not migrated yet.
            var version = 0
            for try await v in try await c.query("SELECT coalesce(max(version), 0)::int8 FROM mtrnn_schema_version", logger: logger)
                .decode(Int.self) { version = v }
            let errorColumns = version >= 2 ? """
                to_char(last_error_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                extract(epoch FROM now() - last_error_at)::float8,
                CASE WHEN last_error IS NULL THEN NULL
                     ELSE coalesce(done + failed > finished_at_error, false) OR coalesce(clean_at > last_error_at, false) END
                """ : "NULL::text, NULL::float8, CASE WHEN last_error IS NULL THEN NULL ELSE false END"
            let rows = try await c.query(PostgresQuery(unsafeSQL: """
                SELECT name, host, pid::int8, role, state, photo, stage, tiles_done::int8, tiles_total::int8, done, failed,
                       busy_seconds, last_error, extract(epoch FROM now() - heartbeat)::float8,
                       extract(epoch FROM now() - started_at)::float8, \(errorColumns)
                FROM mtrnn_workers ORDER BY host, name
                """), logger: logger)
            for try await (name, host, pid, role, state, photo, stage, td, tt, done, failed, busy, lastError, age, uptime,
                           errorAt, errorAge, resolved)
                in rows.decode((String, String, Int, String, String, String?, String?, Int, Int, Int, Int, Double, String?, Double, Double,
                                String?, Double?, Bool?).self) {
                let silent = age > Self.silentAfterSeconds && state != "stopped"
                status.workers.append(ClusterStatus.Worker(
                    name: name, host: host, pid: pid, role: role, state: silent ? "silent" : state, photo: photo, stage: stage,
                    tilesDone: td, tilesTotal: tt, done: done, failed: failed,
                    photosPerHour: uptime > 0 ? Double(done) * 3600 / uptime : 0,
                    busyFraction: uptime > 0 ? min(1, busy / uptime) : 0,
                    secondsSinceHeartbeat: age, lastError: lastError, lastErrorAt: errorAt, secondsSinceLastError: errorAge,
                    lastErrorResolved: resolved))
            }
            return status
        }
    }
}
