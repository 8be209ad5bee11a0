import Foundation
@preconcurrency import Glibc
import Identity
import Logging
import WatchControl

/// The daemon: watches the inbox, keeps the queue, runs one photo at a time
/// (two where they overlap: `overlap_photos`),
/// answers the control socket and speaks sd_notify. `run()` returns after
/// `stop()` once the current photo is finished or abandoned. The rules are
/// in values with their own tests (`DaemonState`, `JobQueue`,
/// `ControlHandler`, `ReloadPlan`, `JournalRecord`, `DaemonStartup`); the
/// status is a snapshot of them, published after every change.
public actor WatchDaemon {
    public typealias ConfigLoader = @Sendable () throws -> WatchConfig
    public typealias ProcessorFactory = @Sendable (WatchConfig) async throws -> any PhotoProcessor

    // What the status shows: every change publishes a new snapshot.
    private var state: DaemonState { didSet { publish() } }
    private var config: WatchConfig { didSet { publish() } }
    private var processor: any PhotoProcessor { didSet { publish() } }

    private let loadConfig: ConfigLoader?
    private let makeProcessor: ProcessorFactory
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let live = LiveStatus()
    private let environment: [String: String]
    private var scanner = InboxScanner()
    /// The photos in flight: one, or two where they overlap.
    private var turns: [Job: Task<JobOutcome, Never>] = [:]
    /// Lanes of the worker waiting for a job.
    private var waiters: [CheckedContinuation<Job?, Never>] = []
    private var watcher: InboxWatcher?
    private var server: ControlServer?
    private var lockFD: Int32 = -1
    /// `metrics_file`: nil when not set.
    private var metrics: DaemonMetrics?
    private let startTime = Date().timeIntervalSince1970

    /// - Parameters:
    ///   - processor: already loaded; READY=1 is sent only once there is one.
    ///   - loadConfig: re-reads the configuration on SIGHUP (nil: nothing to re-read).
    ///   - makeProcessor: builds a new processor when a reload changes pipeline settings.
    public init(config: WatchConfig, processor: any PhotoProcessor, logger: Logger,
                loadConfig: ConfigLoader? = nil, makeProcessor: @escaping ProcessorFactory,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.config = Self.resolvingRuntimeDirectory(config, environment)
        self.processor = processor
        self.loadConfig = loadConfig
        self.makeProcessor = makeProcessor
        self.logger = logger
        self.notifier = SystemdNotifier(environment: environment)
        self.environment = environment
        self.state = DaemonState(settleSeconds: config.settleSeconds)
        Self.applyLogLevel(config)
    }

    /// `log_level`, for every logger of the journal handler.
    public static func applyLogLevel(_ c: WatchConfig) {
        if let level = JournalLogHandler.level(named: c.logLevel) { LogThreshold.shared.level = level }
    }

    /// Fields of the lifecycle records: their kind, and on the first the release and the weights.
    private func fields(_ id: MessageID, identity: Bool = false) -> Logger.Metadata {
        var m: Logger.Metadata = [JournalField.messageID: id.field]
        if identity {
            m[JournalField.version] = "\(MtrnnWatchVersion.string)"
            if let w = processor.weights { m[JournalField.weightsSHA256] = "\(w.sha256)" }
        }
        return m
    }

    /// systemd's RuntimeDirectory= wins over the configured one.
    static func resolvingRuntimeDirectory(_ c: WatchConfig, _ env: [String: String]) -> WatchConfig {
        var c = c
        if let r = env["RUNTIME_DIRECTORY"], !r.isEmpty { c.runtimeDirectory = String(r.split(separator: ":")[0]) }
        return c
    }

    public var socketPath: String { config.runtimeDirectory + "/" + ControlProtocol.socketName }

    private func publish() {
        live.publish(state.snapshot(model: processor.modelDescription, weightsSHA256: processor.weights?.sha256,
                                    inbox: config.inbox, outbox: config.outbox))
    }

    // MARK: start and stop

    public func run() async throws {
        publish()
        let startup = DaemonStartup(config: config, logger: logger)
        lockFD = try startup.prepareDirectories()
        let (m, problem) = DaemonMetrics.make(config, startTime: startTime)
        metrics = m
        if let problem { logger.warning("\(problem)") }
        for (job, outcome) in startup.quarantineCrashers(processor: processor) {
            finished(job, outcome)
        }
        for job in CrashGuard(stateDirectory: config.stateDirectory).soloJobs() { state.queue.markSolo(job) }
        state.queue.capacity = Self.capacity(config, processor)
        server = try startup.controlServer(path: socketPath) { [weak self] request in
            guard let self else { return ControlResponse(ok: false, error: "mtrnn-watch is stopping") }
            return await self.handle(request)
        }
        do { try armWatcher(config) } catch {
            server?.stop()
            throw error
        }
        scanInbox()
        state.phase = .running
        logger.notice("mtrnn-watch \(MtrnnWatchVersion.string) watching \(config.inbox) (\(watcher?.isPolling == true ? "polling every \(config.pollSeconds) s" : "inotify")\(config.recursive ? ", recursive" : "")); results go to \(config.outbox); control socket \(socketPath)",
                      metadata: fields(.started, identity: true))
        notifier.ready(status: live.statusLine())
        writeMetrics(force: true)

        let ticker = Task { await self.tickLoop() }
        await workerLoop()
        ticker.cancel()
        watcher?.stop()
        server?.stop()
        if lockFD >= 0 { close(lockFD) }
        writeMetrics(force: true, up: false)
        logger.notice("Stopped", metadata: fields(.stopped))
    }

    /// SIGTERM: say so, abandon the photos in flight (they stay in the inbox), stop taking new ones.
    public func stop() {
        guard !state.stopping else { return }
        state.phase = .stopping
        let names = state.queue.inFlight.map(\.relativePath)
        let current = names.isEmpty ? nil : names.joined(separator: " and ")
        let stay = names.count > 1 ? "they stay" : "it stays"
        notifier.stopping(status: current.map { "Stopping: abandoning \($0)" } ?? "Stopping")
        logger.notice("Stopping\(current.map { "; abandoning \($0), \(stay) in the inbox" } ?? "")", metadata: fields(.stopping))
        for task in turns.values { task.cancel() }
        for w in waiters { w.resume(returning: nil) }
        waiters = []
    }

    /// How many photos may be in flight: 2 where the configuration and the
    /// processor both overlap photos.
    static func capacity(_ c: WatchConfig, _ p: any PhotoProcessor) -> Int {
        c.overlapPhotos && p.overlapsPhotos ? 2 : 1
    }

    private func armWatcher(_ c: WatchConfig) throws {
        let w: InboxWatcher
        do {
            w = try InboxWatcher(inbox: c.inbox, recursive: c.recursive, pollSeconds: c.pollSeconds,
                                 onCoverageChange: { [weak self] coverage in Task { await self?.setWatching(coverage.summary) } },
                                 logger: logger, emit: { [weak self] event in Task { await self?.receive(event) } })
        } catch { throw DaemonError("cannot watch the inbox: \(error)") }
        // Also clears what an earlier watcher reported, when a reload re-arms.
        state.watching = w.coverage.summary
        watcher = w
        w.start()
    }

    private func setWatching(_ summary: String?) { state.watching = summary }

    // MARK: the queue

    func receive(_ event: WatchEvent) {
        switch event {
        case .file(let relative): state.noteCandidate(relative)
        case .rescan: scanInbox()
        }
    }

    private func scanInbox() {
        var found: [String] = []
        let filed = scanner.scan(config, logger: logger) { found.append($0) }
        state.noteScan(found, filed)
    }

    private func tickLoop() async {
        while !Task.isCancelled && !state.stopping {
            tick()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func tick() {
        if state.queueSettled(config, note: { logger.notice("\($0)") }) { wakeWorker() }
        if state.resumeIfSpaceReturned(outbox: config.outbox, state: config.stateDirectory) {
            logger.notice("Space is available again; resuming")
            wakeWorker()
        }
        // Idle pings only: while a photo is processed, only its progress pets the watchdog.
        if state.queue.current == nil { notifier.watchdog() }
        notifier.status(live.statusLine())
        writeMetrics(force: false)
    }

    // MARK: what a photo's end tells

    /// A photo's outcome: into the state, the journal (with the release and
    /// the weights) and the metrics (counters saved, file rewritten).
    private func finished(_ job: Job, _ outcome: JobOutcome) {
        var record = state.record(job, outcome, settleSeconds: config.settleSeconds, outbox: Self.absolute(config.outbox))
        record.identify(weights: processor.weights)
        record.log(to: logger)
        if let problem = metrics?.record(outcome) { logger.error("\(problem)") }
        writeMetrics(force: true)
    }

    /// `path` from the working directory, for records read elsewhere (MTRNN_OUTPUT).
    static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var rest = Substring(path)
        while rest.hasPrefix("./") { rest = rest.dropFirst(2) }
        let cwd = FileManager.default.currentDirectoryPath
        return rest.isEmpty || rest == "." ? cwd : (cwd == "/" ? "" : cwd) + "/" + rest
    }

    /// The metrics file, now (`force`) or when `metrics_interval` has passed.
    private func writeMetrics(force: Bool, up: Bool = true) {
        guard var m = metrics, force || m.isDue() else { return }
        let gauges = m.gauges(live.report(), weightsSHA256: processor.weights?.sha256, up: up)
        if let problem = m.write(gauges, force: force) { logger.warning("\(problem)") }
        metrics = m
    }

    /// Hands waiting lanes the jobs the queue gives now.
    private func wakeWorker() {
        while !waiters.isEmpty, let job = state.queue.takeNext() {
            waiters.removeFirst().resume(returning: job)
        }
    }

    private func nextJob() async -> Job? {
        if state.stopping { return nil }
        if let job = state.queue.takeNext() { return job }
        return await withCheckedContinuation { waiters.append($0) }
    }

    // MARK: the worker

    /// Two lanes, each taking a photo through its turn; the queue's
    /// `capacity` (1, or 2 with overlapping photos) and its solo jobs decide
    /// whether the second lane gets one.
    private func workerLoop() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { await self.lane() } }
        }
    }

    private func lane() async {
        while let job = await nextJob() {
            // Handed over just as SIGTERM came: it stays in the inbox, untouched.
            if state.stopping {
                state.queue.finish(job)
                break
            }
            notifier.watchdog()
            notifier.status(live.statusLine())
            let turn = PhotoTurn(config: config, processor: processor, logger: logger, live: live, notifier: notifier)
            let task = Task.detached { await turn.run(job) }
            turns[job] = task
            let outcome = await task.value
            turns[job] = nil
            state.queue.finish(job)
            finished(job, outcome)
            notifier.status(live.statusLine())
            wakeWorker()
        }
    }

    // MARK: control and reload

    func handle(_ request: ControlRequest) -> ControlResponse {
        var (response, followUp) = ControlHandler(config: config, logger: logger).handle(request, queue: &state.queue)
        switch followUp {
        case .wakeWorker: wakeWorker()
        case .rescan: scanInbox()
        case .none: break
        }
        if request.command != .status { notifier.status(live.statusLine()) }
        if response.ok { response.status = live.report() }
        return response
    }

    /// SIGHUP: re-read the configuration; a broken one keeps the old and says why.
    public func reload() async {
        guard !state.stopping else { return }
        notifier.reloading()
        state.phase = .reloading
        defer {
            if !state.stopping { state.phase = .running }
            notifier.ready(status: live.statusLine())
        }
        guard let loadConfig else {
            logger.notice("Reload: no configuration file; nothing to re-read")
            return
        }
        let new: ReloadPlan.Prepared
        do {
            let read = Self.resolvingRuntimeDirectory(try loadConfig(), environment)
            new = try await ReloadPlan.prepare(old: config, new: read, makeProcessor: makeProcessor)
            if new.plan.restartNeeded { logger.warning("Reload: runtime_dir and state_dir take effect only after a restart") }
            if new.plan.rewatch {
                let oldWatcher = watcher
                try armWatcher(new.plan.config)
                oldWatcher?.stop()
            }
        } catch {
            let refused = error as? ReloadPlan.Refused
            state.counts.noteError("reload failed, kept the previous configuration: \(refused?.error ?? error)")
            logger.error("Reload failed, keeping the previous configuration\(refused?.model == true ? " and model" : ""): \(refused?.error ?? error)",
                         metadata: fields(.reloadFailed))
            return
        }
        let oldMetricsPath = metrics?.path
        config = new.plan.config
        Self.applyLogLevel(config)
        if let p = new.processor { processor = p }
        state.queue.capacity = Self.capacity(config, processor)
        wakeWorker()
        if let old = oldMetricsPath, old != config.metricsFile {
            // The old file would say "up" for ever: it says the daemon left it.
            writeMetrics(force: true, up: false)
        }
        if let m = metrics {
            metrics = m.reconfigured(config)
        } else {
            let (m, problem) = DaemonMetrics.make(config, startTime: startTime)
            metrics = m
            if let problem { logger.warning("\(problem)") }
        }
        server?.access = new.access
        state.settle.settle = DaemonState.duration(config.settleSeconds)
        if new.plan.rewatch {
            state.queue.removeAll { $0.origin == .inbox }
            state.settle = SettleTracker(settle: state.settle.settle)
            scanInbox()
        }
        writeMetrics(force: true)
        logger.notice("Reloaded the configuration", metadata: fields(.reloaded))
    }
}

/// A start-up failure the daemon reports and exits on.
public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
