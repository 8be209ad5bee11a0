import Foundation
@preconcurrency import Glibc
import Logging
import WatchControl

/// The daemon: watches the inbox, keeps the queue, runs one photo at a time,
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
    private var currentTask: Task<JobOutcome, Never>?
    private var waiter: CheckedContinuation<Job?, Never>?
    private var watcher: InboxWatcher?
    private var server: ControlServer?
    private var lockFD: Int32 = -1

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
    }

    /// systemd's RuntimeDirectory= wins over the configured one.
    static func resolvingRuntimeDirectory(_ c: WatchConfig, _ env: [String: String]) -> WatchConfig {
        var c = c
        if let r = env["RUNTIME_DIRECTORY"], !r.isEmpty { c.runtimeDirectory = String(r.split(separator: ":")[0]) }
        return c
    }

    public var socketPath: String { config.runtimeDirectory + "/" + ControlProtocol.socketName }

    private func publish() {
        live.publish(state.snapshot(model: processor.modelDescription, inbox: config.inbox, outbox: config.outbox))
    }

    // MARK: start and stop

    public func run() async throws {
        publish()
        let startup = DaemonStartup(config: config, logger: logger)
        lockFD = try startup.prepareDirectories()
        if let (job, outcome) = startup.quarantineCrasher(processor: processor) {
            state.record(job, outcome, settleSeconds: config.settleSeconds).log(to: logger)
        }
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
        logger.notice("Watching \(config.inbox) (\(watcher?.isPolling == true ? "polling every \(config.pollSeconds) s" : "inotify")\(config.recursive ? ", recursive" : "")); results go to \(config.outbox); control socket \(socketPath)")
        notifier.ready(status: live.statusLine())

        let ticker = Task { await self.tickLoop() }
        await workerLoop()
        ticker.cancel()
        watcher?.stop()
        server?.stop()
        if lockFD >= 0 { close(lockFD) }
        logger.notice("Stopped")
    }

    /// SIGTERM: say so, abandon the current photo (it stays in the inbox), stop taking new ones.
    public func stop() {
        guard !state.stopping else { return }
        state.phase = .stopping
        let current = state.queue.current?.relativePath
        notifier.stopping(status: current.map { "Stopping: abandoning \($0)" } ?? "Stopping")
        logger.notice("Stopping\(current.map { "; abandoning \($0), it stays in the inbox" } ?? "")")
        currentTask?.cancel()
        waiter?.resume(returning: nil)
        waiter = nil
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
    }

    private func wakeWorker() {
        guard let w = waiter, let job = state.queue.takeNext() else { return }
        waiter = nil
        w.resume(returning: job)
    }

    private func nextJob() async -> Job? {
        if state.stopping { return nil }
        if let job = state.queue.takeNext() { return job }
        return await withCheckedContinuation { waiter = $0 }
    }

    // MARK: the worker

    private func workerLoop() async {
        while let job = await nextJob() {
            notifier.watchdog()
            notifier.status(live.statusLine())
            let turn = PhotoTurn(config: config, processor: processor, logger: logger, live: live, notifier: notifier)
            let task = Task.detached { await turn.run(job) }
            currentTask = task
            let outcome = await task.value
            currentTask = nil
            state.queue.finishCurrent()
            state.record(job, outcome, settleSeconds: config.settleSeconds).log(to: logger)
            notifier.status(live.statusLine())
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
            logger.error("Reload failed, keeping the previous configuration\(refused?.model == true ? " and model" : ""): \(refused?.error ?? error)")
            return
        }
        config = new.plan.config
        if let p = new.processor { processor = p }
        server?.access = new.access
        state.settle.settle = DaemonState.duration(config.settleSeconds)
        if new.plan.rewatch {
            state.queue.removeAll { $0.origin == .inbox }
            state.settle = SettleTracker(settle: state.settle.settle)
            scanInbox()
        }
        logger.notice("Reloaded the configuration")
    }
}

/// A start-up failure the daemon reports and exits on.
public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
