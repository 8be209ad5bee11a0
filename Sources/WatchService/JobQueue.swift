/// The daemon's queue as a plain value: the photos waiting, those being
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
    /// The jobs the worker has taken and not finished, oldest first: one, or
    /// two where photos overlap (`overlap_photos`: the next one is copied and
    /// decoded while this one is in the network, and written while the next
    /// one is).
    private(set) var inFlight: [Job] = []
    /// How many jobs may be in flight at once: 1, or 2 with overlapping photos.
    var capacity = 1
    /// Jobs that go through alone, with nothing beside them: a photo in
    /// flight when the daemon died (`CrashGuard`), so that a second crash is
    /// its own, and every retry from failed/.
    private(set) var solo: Set<Job> = []
    /// No job is taken while paused (those in flight are finished).
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

    /// The oldest job in flight: the one the status shows.
    var current: Job? { inFlight.first }

    /// Whether `job` is being processed.
    func isInFlight(_ job: Job) -> Bool { inFlight.contains(job) }

    /// Whether `job` waits or is being processed.
    func contains(_ job: Job) -> Bool { inFlight.contains(job) || members.contains(job) }

    /// Whether `job` must go through alone.
    func isSolo(_ job: Job) -> Bool { job.origin == .failed || solo.contains(job) }

    /// `job` goes through alone (it was in flight when the daemon died).
    mutating func markSolo(_ job: Job) { solo.insert(job) }

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

    /// The next job, now in flight; nil while paused, empty or busy: as
    /// many in flight as `capacity` allows, a solo job in flight, or a solo
    /// job next while another is in flight.
    mutating func takeNext() -> Job? {
        guard !paused, inFlight.count < capacity, head < jobs.count,
              !inFlight.contains(where: isSolo) else { return nil }
        let job = jobs[head]
        guard inFlight.isEmpty || !isSolo(job) else { return nil }
        head += 1
        if head >= 1024 && head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        members.remove(job)
        inFlight.append(job)
        return job
    }

    /// `job`'s turn is over (a solo job is one no longer).
    mutating func finish(_ job: Job) {
        inFlight.removeAll { $0 == job }
        solo.remove(job)
    }

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
