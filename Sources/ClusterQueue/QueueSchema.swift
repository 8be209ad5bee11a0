/// The shared queue's tables, as a list of versions. The daemon brings the
/// database to the newest version at start-up (`PostgresQueue.migrate`), in
/// one transaction under an advisory lock: two daemons starting together do
/// not both create the tables, and a migration that fails leaves the old
/// version whole. A version, once released, is never edited: a change is a
/// new version appended here.
public enum QueueSchema {
    /// pg_advisory_xact_lock key: "mtrnn" in ASCII.
    static let migrationLock: Int64 = 0x6D74_726E_6E

    /// Statement lists, version 1 first. Version N is `versions[N - 1]`.
    static let versions: [[String]] = [
        // 1: jobs, workers, the cluster-wide switch.
        [
            """
            CREATE TABLE mtrnn_jobs (
                id          bigserial PRIMARY KEY,
                -- the photo, relative to the shared inbox (or failed/, origin 'failed')
                path        text NOT NULL,
                origin      text NOT NULL DEFAULT 'inbox' CHECK (origin IN ('inbox', 'failed')),
                size        bigint NOT NULL,
                mtime_ns    bigint NOT NULL,
                -- FNV-1a 64 of the content, hex: the same name, size and time but new bytes is a new job
                content_hash text NOT NULL,
                state       text NOT NULL DEFAULT 'queued'
                            CHECK (state IN ('queued', 'running', 'done', 'failed', 'gone')),
                attempts    integer NOT NULL DEFAULT 0,
                worker      text,
                lease_until timestamptz,
                -- the result's path under the outbox, reserved before it is written: never two
                output_name text UNIQUE,
                stage       text,
                tiles_done  integer NOT NULL DEFAULT 0,
                tiles_total integer NOT NULL DEFAULT 0,
                reason      text,
                -- where a failed photo was filed, relative to failed/
                filed_as    text,
                seconds     double precision,
                inserted_at timestamptz NOT NULL DEFAULT now(),
                claimed_at  timestamptz,
                finished_at timestamptz,
                UNIQUE (path, size, mtime_ns, content_hash)
            )
            """,
            "CREATE INDEX mtrnn_jobs_open ON mtrnn_jobs (id) WHERE state IN ('queued', 'running')",
            "CREATE INDEX mtrnn_jobs_finished ON mtrnn_jobs (finished_at) WHERE state = 'done'",
            """
            CREATE TABLE mtrnn_workers (
                name        text PRIMARY KEY,
                host        text NOT NULL,
                pid         integer NOT NULL,
                role        text NOT NULL,
                state       text NOT NULL,
                job_id      bigint,
                photo       text,
                stage       text,
                tiles_done  integer NOT NULL DEFAULT 0,
                tiles_total integer NOT NULL DEFAULT 0,
                done        bigint NOT NULL DEFAULT 0,
                failed      bigint NOT NULL DEFAULT 0,
                busy_seconds double precision NOT NULL DEFAULT 0,
                last_error  text,
                started_at  timestamptz NOT NULL DEFAULT now(),
                heartbeat   timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE mtrnn_control (
                id     integer PRIMARY KEY CHECK (id = 1),
                paused boolean NOT NULL DEFAULT false
            )
            """,
            "INSERT INTO mtrnn_control (id, paused) VALUES (1, false)",
        ],
        // 2: when a worker's last error happened and whether it has worked
        // since (mtrnnctl status --cluster); the finished jobs by age, for
        // `job_retention_days` (all three end states, not only 'done').
        [
            """
            ALTER TABLE mtrnn_workers
                -- when last_error was recorded (NULL: none, or recorded before version 2)
                ADD COLUMN last_error_at timestamptz,
                -- done + failed when it was recorded: more since means photos were finished after it
                ADD COLUMN finished_at_error bigint,
                -- the last report without an error (idle with an empty queue, a photo failed or gone)
                ADD COLUMN clean_at timestamptz
            """,
            "UPDATE mtrnn_workers SET finished_at_error = done + failed WHERE last_error IS NOT NULL",
            "CREATE INDEX mtrnn_jobs_ended ON mtrnn_jobs (finished_at, id) WHERE state IN ('done', 'failed', 'gone')",
        ],
    ]

    /// The version this build brings the database to.
    public static var latest: Int { versions.count }
}
