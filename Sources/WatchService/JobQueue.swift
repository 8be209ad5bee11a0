/// The daemon's queue as a plain value: the photos waiting, the one being
/// processed, whether the worker may take the next, and when a photo left
/// in the inbox by a resource fault is due again. No files, no clock of its
/// own (the caller passes the time): every rule here is a unit test away.
struct JobQueue: Sendable {
    /// Waiting jobs from `head` on. Taking one moves `head` instead of
    /// shifting the array: 80,000 queued photos must not cost a copy each.
    private var jobs: [Job] = []
    private var head = 0
    /// The same jobs, for membership: a scan of 80,000 files asked the
    /// array once per file (6 s in which status did not answer).
    private var members: Set<Job> = []
    /// The job the worker has taken and not finished.
    private(set) var current: Job?
    /// No job is taken while paused (the current one is finished).
    private(set) var paused = false
    /// Paused by a full disk rather than by mtrnnctl: resumes by itself once space returns.
    private(set) var pausedForSpace = false
    /// Photos left in the inbox by a resource fault: how often, and when to try each again.
    private var abandoned: [String: (attempts: Int, due: ContinuousClock.Instant)] = [:]

    var count: Int { jobs.count - head }
    var isEmpty: Bool { count == 0 }
    /// The waiting jobs, next first.
    var waiting: ArraySlice<Job> { jobs[head...] }

    /// Whether `job` waits (not whether it is current).
    func isQueued(_ job: Job) -> Bool { members.contains(job) }

    /// Whether `job` waits or is being processed.
    func contains(_ job: Job) -> Bool { current == job || members.contains(job) }

    /// Adds `job` at the end, or next when `first` (retries from failed/ go
    /// before the inbox, the latest retry first). False when it already waits.
    @discardableResult
    mutating func add(_ job: Job, first: Bool = false) -> Bool {
        guard members.insert(job).inserted else { return false }
        if !first {
            jobs.append(job)
        } else if head > 0 {
            head -= 1
            jobs[head] = job
        } else {
            jobs.insert(job, at: 0)
        }
        return true
    }

    /// The next job, now current; nil while paused, busy or empty.
    mutating func takeNext() -> Job? {
        guard !paused, current == nil, head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head >= 1024 && head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        members.remove(job)
        current = job
        return job
    }

    /// The current job's turn is over.
    mutating func finishCurrent() { current = nil }

    /// Drops the waiting jobs that match (the inbox's, when a reload watches another inbox).
    mutating func removeAll(where match: (Job) -> Bool) {
        jobs = jobs[head...].filter { !match($0) }
        head = 0
        members = Set(jobs)
    }

    mutating func pause() { paused = true }

    /// A full disk: paused until `resumeForSpace()` or `resume()`.
    mutating func pauseForSpace() {
        paused = true
        pausedForSpace = true
    }

    mutating func resume() {
        paused = false
        pausedForSpace = false
    }

    /// Space is back: resumes only a pause the disk caused.
    mutating func resumeForSpace() -> Bool {
        guard pausedForSpace else { return false }
        resume()
        return true
    }

    // MARK: photos left behind by a resource fault

    /// 5 s, 10 s, 20 s, ... at most 5 minutes.
    static func retryDelay(attempts: Int) -> Int { min(300, 5 << min(max(attempts - 1, 0), 6)) }

    /// `file` stays in the inbox after a resource fault (a folder it cannot
    /// make, a file it cannot move): it is due again after a delay that
    /// doubles with each attempt. Returns the delay in seconds.
    mutating func abandon(_ file: String, now: ContinuousClock.Instant) -> Int {
        let attempts = (abandoned[file]?.attempts ?? 0) + 1
        let delay = Self.retryDelay(attempts: attempts)
        abandoned[file] = (attempts, now + .seconds(delay))
        return delay
    }

    /// `file`'s turn ended otherwise: its attempts start again from 0.
    mutating func forgetAbandoned(_ file: String) { abandoned[file] = nil }

    /// The abandoned photos due by `now`. Each is not due again until its
    /// next outcome says so (`abandon` or `forgetAbandoned`).
    mutating func dueAbandoned(now: ContinuousClock.Instant) -> [String] {
        let due = abandoned.filter { $0.value.due <= now }.map(\.key).sorted()
        for file in due { abandoned[file]?.due = now + .seconds(3600 * 24 * 365) }
        return due
    }
}
