import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import PhotoIO
import WatchControl

/// The daemon: watches the inbox, keeps the queue, runs one photo at a time,
/// answers the control socket and speaks sd_notify. `run()` returns after
/// `stop()` once the current photo is finished or abandoned.
public actor WatchDaemon {
    public typealias ConfigLoader = @Sendable () throws -> WatchConfig
    public typealias ProcessorFactory = @Sendable (WatchConfig) async throws -> any PhotoProcessor

    private var config: WatchConfig
    private var processor: any PhotoProcessor
    private let loadConfig: ConfigLoader?
    private let makeProcessor: ProcessorFactory
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let live = LiveStatus()
    private let environment: [String: String]

    private var settle: SettleTracker
    private var queue: [Job] = []
    /// The same jobs as `queue`, for membership: a scan of 80,000 files asked
    /// the array once per file (6 s in which status did not answer).
    private var queuedJobs: Set<Job> = []
    private var current: Job?
    private var currentTask: Task<JobOutcome, Never>?
    private var paused = false
    /// Paused by a full disk rather than by mtrnnctl: resumes by itself once space returns.
    private var pausedForSpace = false
    private var lastSpaceCheck = ContinuousClock.now
    private var stopping = false
    private var waiter: CheckedContinuation<Job?, Never>?
    private var watcher: InboxWatcher?
    private var server: ControlServer?
    private var lockFD: Int32 = -1
    /// Photos left in the inbox by a resource fault: when to try each again.
    private var abandoned: [String: (attempts: Int, due: ContinuousClock.Instant)] = [:]
    /// Non-UTF-8 names that could not be moved, reported once rather than on every scan.
    private var reportedUnmovable: Set<String> = []

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
        self.settle = SettleTracker(settle: .milliseconds(Int64(config.settleSeconds * 1000)))
    }

    /// systemd's RuntimeDirectory= wins over the configured one.
    static func resolvingRuntimeDirectory(_ c: WatchConfig, _ env: [String: String]) -> WatchConfig {
        var c = c
        if let r = env["RUNTIME_DIRECTORY"], !r.isEmpty { c.runtimeDirectory = String(r.split(separator: ":")[0]) }
        return c
    }

    public var socketPath: String { config.runtimeDirectory + "/" + ControlProtocol.socketName }

    // MARK: start and stop

    public func run() async throws {
        try prepareDirectories()
        quarantineCrasher()
        // Who may pause, resume, retry and rescan: root, the service user and
        // `operator_group` (by default the service's own group). The server
        // refuses the others before a request reaches the daemon.
        let access: ControlAccess
        do { access = try ControlAccess(operatorGroup: config.operatorGroup) } catch { throw DaemonError("\(error)") }
        server = try ControlServer(path: socketPath, logger: logger, access: access) { [weak self] request, _ in
            guard let self else { return ControlResponse(ok: false, error: "mtrnn-watch is stopping") }
            return await self.handle(request)
        }
        server?.start()
        do { try armWatcher() } catch {
            server?.stop()
            throw error
        }
        scanInbox()
        live.configure(model: processor.modelDescription, inbox: config.inbox, outbox: config.outbox)
        live.setState(.idle)
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
        guard !stopping else { return }
        stopping = true
        live.setState(.stopping)
        notifier.stopping(status: current.map { "Stopping: abandoning \($0.relativePath)" } ?? "Stopping")
        logger.notice("Stopping\(current.map { "; abandoning \($0.relativePath), it stays in the inbox" } ?? "")")
        currentTask?.cancel()
        waiter?.resume(returning: nil)
        waiter = nil
    }

    private func prepareDirectories() throws {
        for (what, path) in [("inbox", config.inbox), ("outbox", config.outbox), ("archive", config.archive),
                             ("failed", config.failed), ("state", config.stateDirectory), ("runtime", config.runtimeDirectory)] {
            if what == "archive" && config.originals != .archive { continue }
            do { try FileOps.makeDirectory(path) } catch {
                throw DaemonError("cannot use the \(what) directory: \(error). Create it, or set `\(what)` in the configuration")
            }
        }
        lockFD = open(config.stateDirectory + "/mtrnn-watch.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            throw DaemonError("another mtrnn-watch uses the state directory \(config.stateDirectory); stop it first")
        }
        try ProcessedLedger(stateDirectory: config.stateDirectory).prepare()
        // Nothing half-written may stay visible: temp outputs of an interrupted run go.
        for dir in [config.outbox, config.archive, config.failed] { removeTemporaryOutputs(in: dir) }
        try? FileManager.default.removeItem(atPath: config.stateDirectory + "/work")
        if config.originals == .keep { ProcessedLedger(stateDirectory: config.stateDirectory).prune(inbox: config.inbox) }
    }

    private func removeTemporaryOutputs(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names {
            let path = directory + "/" + name
            if InboxNames.isTemporaryOutput(name) {
                unlink(path)
                logger.info("Removed an unfinished result from an interrupted run: \(path)")
            } else if !name.hasPrefix("."), let st = FileOps.lstatInfo(path), FileOps.isDirectory(st) {
                removeTemporaryOutputs(in: path)
            }
        }
    }

    private func armWatcher() throws {
        let emit: @Sendable (WatchEvent) -> Void = { [weak self] event in
            guard let self else { return }
            Task { await self.receive(event) }
        }
        do {
            let live = self.live
            let w = try InboxWatcher(inbox: config.inbox, recursive: config.recursive, pollSeconds: config.pollSeconds,
                                     onCoverageChange: { live.setWatching($0.summary) },
                                     logger: logger, emit: emit)
            // Also clears what an earlier watcher reported, when a reload re-arms.
            live.setWatching(w.coverage.summary)
            watcher = w
            w.start()
        } catch {
            throw DaemonError("cannot watch the inbox: \(error)")
        }
    }

    // MARK: the queue

    func receive(_ event: WatchEvent) {
        switch event {
        case .file(let relative): noteCandidate(relative)
        case .rescan: scanInbox()
        }
    }

    private func noteCandidate(_ relative: String) {
        guard !stopping, !InboxNames.isIgnored(PathName.last(relative)) else { return }
        if current?.relativePath == relative && current?.origin == .inbox { return }
        if queuedJobs.contains(Job(relative)) { return }
        settle.note(relative)
    }

    /// Looks at the whole inbox: at start, after an overflow, on `rescan`, when polling.
    private func scanInbox() {
        func walk(_ relativeDir: String) {
            let dir = relativeDir.isEmpty ? config.inbox : config.inbox + "/" + relativeDir
            fileAwayUndecodableNames(relativeDir)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted() where !InboxNames.isIgnored(name) {
                let relative = relativeDir.isEmpty ? name : relativeDir + "/" + name
                guard let st = FileOps.lstatInfo(dir + "/" + name) else { continue }
                if FileOps.isDirectory(st) {
                    if config.recursive { walk(relative) }
                    // Without recursion only a directory named like a photo is a mistake worth reporting.
                    else if Self.looksLikePhoto(name) { noteCandidate(relative) }
                    continue
                }
                noteCandidate(relative)
            }
        }
        walk("")
    }

    /// Photos whose names are not UTF-8 go to failed/ by their bytes (see UndecodableNames).
    private func fileAwayUndecodableNames(_ relativeDir: String) {
        let failedDir = relativeDir.isEmpty ? config.failed : config.failed + "/" + relativeDir
        let sub = relativeDir.isEmpty ? [] : (PathName.components(relativeDir) ?? [])
        let (filed, unmovable) = UndecodableNames.fileAway(inbox: config.inbox, toFailed: config.failed, sub: sub)
        for f in filed {
            live.recordFailure(file: f.shownName, reason: UndecodableNames.reason)
            logger.error("Cannot deblur \(f.shownName): \(UndecodableNames.reason); moved to \(f.movedTo)", metadata: [
                "MTRNN_FILE": "\(f.shownName)", "MTRNN_OUTCOME": "failed", "MTRNN_REASON": "\(UndecodableNames.reason)"])
        }
        for u in unmovable where reportedUnmovable.insert(u.shownName).inserted {
            live.noteError("\(u.shownName): \(UndecodableNames.reason); and it could not be moved to \(failedDir): \(u.problem)")
            logger.error("Cannot deblur \(u.shownName): \(UndecodableNames.reason); and it could not be moved to \(failedDir): \(u.problem)")
        }
    }

    static func freeBytes(_ path: String) -> UInt64 {
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { return 0 }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    static func looksLikePhoto(_ name: String) -> Bool { ImageFormat(fileExtension: PathName.pathExtension(name)) != nil }

    private func tickLoop() async {
        while !Task.isCancelled && !stopping {
            tick()
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// 5 s, 10 s, 20 s, ... at most 5 minutes.
    static func abandonedRetryDelay(attempts: Int) -> Int { min(300, 5 << min(max(attempts - 1, 0), 6)) }

    private func tick() {
        let now = ContinuousClock.now
        for (file, entry) in abandoned where entry.due <= now {
            if FileOps.lstatInfo(config.inbox + "/" + file) == nil { abandoned[file] = nil; continue }
            abandoned[file]?.due = now + .seconds(3600 * 24 * 365)   // until its outcome sets it again
            noteCandidate(file)
        }
        let ledger = ProcessedLedger(stateDirectory: config.stateDirectory)
        for (relative, identity) in settle.settledFiles(inbox: config.inbox) where !queuedJobs.contains(Job(relative)) {
            if config.originals == .keep, let st = FileOps.lstatInfo(config.inbox + "/" + relative),
               ledger.matches(relative, FileIdentity(st)) { continue }
            enqueue(Job(relative, settled: identity))
        }
        if pausedForSpace, ContinuousClock.now - lastSpaceCheck > .seconds(5) {
            lastSpaceCheck = .now
            if Self.freeBytes(config.outbox) > 256 << 20 && Self.freeBytes(config.stateDirectory) > 256 << 20 {
                pausedForSpace = false
                paused = false
                logger.notice("Space is available again; resuming")
                if current == nil { live.setState(.idle) }
                wakeWorker()
            }
        }
        // Idle pings only: while a photo is processed, only its progress pets the watchdog.
        if current == nil { notifier.watchdog() }
        notifier.status(live.statusLine())
    }

    private func enqueue(_ job: Job, first: Bool = false) {
        guard queuedJobs.insert(job).inserted else { return }
        if first { queue.insert(job, at: 0) } else { queue.append(job) }
        live.setQueued(queue.count)
        wakeWorker()
    }

    private func wakeWorker() {
        guard let w = waiter, !paused, !queue.isEmpty else { return }
        waiter = nil
        let job = queue.removeFirst()
        queuedJobs.remove(job)
        live.setQueued(queue.count)
        current = job
        w.resume(returning: job)
    }

    private func nextJob() async -> Job? {
        current = nil
        if stopping { return nil }
        if !paused, !queue.isEmpty {
            let job = queue.removeFirst()
            queuedJobs.remove(job)
            live.setQueued(queue.count)
            current = job
            return job
        }
        return await withCheckedContinuation { waiter = $0 }
    }

    // MARK: the worker

    private func workerLoop() async {
        while let job = await nextJob() {
            let name = job.relativePath
            live.begin(file: name)
            if !paused { live.setState(.working) }
            notifier.watchdog()
            notifier.status(live.statusLine())
            let live = self.live
            let notifier = self.notifier
            let crashGuard = CrashGuard(stateDirectory: config.stateDirectory)
            let runner = JobRunner(config: config, processor: processor, logger: logger,
                                   ledger: ProcessedLedger(stateDirectory: config.stateDirectory),
                                   crashGuard: crashGuard,
                                   progress: { p in
                                       live.update(p)
                                       notifier.watchdog()
                                       notifier.status(live.statusLine())
                                   })
            let task = Task.detached { await runner.run(job) }
            currentTask = task
            let outcome = await task.value
            currentTask = nil
            switch outcome {
            case .abandoned, .noSpace, .unsettled: crashGuard.end(job, finished: false)
            default: crashGuard.end(job, finished: true)
            }
            live.end()
            record(job, outcome)
            if !stopping { live.setState(paused ? .paused : .idle) }
            notifier.status(live.statusLine())
        }
    }

    private func record(_ job: Job, _ outcome: JobOutcome) {
        let file = job.relativePath
        if case .abandoned = outcome {} else if job.origin == .inbox { abandoned[file] = nil }
        switch outcome {
        case .done(let r):
            live.recordDone(r)
            logger.info("Deblurred \(file)\(r.outputName.map { " (result: \($0), an earlier result has its name)" } ?? "") in \(String(format: "%.1f", r.seconds)) s (\(String(format: "%.1f", r.megapixels)) MP, \(r.tiles) tiles\(r.detail.map { "; " + $0 } ?? ""))", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "done",
                "MTRNN_SECONDS": "\(String(format: "%.3f", r.seconds))",
                "MTRNN_MEGAPIXELS": "\(String(format: "%.3f", r.megapixels))", "MTRNN_TILES": "\(r.tiles)",
            ])
        case .alreadyDone:
            logger.info("\(file) was already deblurred by an earlier run; finished filing the original", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "done"])
        case .failed(let reason, let movedTo):
            live.recordFailure(file: file, reason: reason)
            logger.error("Cannot deblur \(file): \(reason)\(movedTo.map { "; moved to \($0)" } ?? "")", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "failed", "MTRNN_REASON": "\(reason)"])
        case .vanished:
            logger.info("\(file) disappeared from the inbox before its turn", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "vanished"])
        case .replaced:
            logger.notice("\(file) was replaced while it was processed; the new version will be processed too", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "replaced"])
            if job.origin == .inbox { settle.note(file) }
        case .unsettled:
            logger.info("\(file) changed after it settled (still being written?); it waits until it has not changed for \(config.settleSeconds) s", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "deferred"])
            if job.origin == .inbox { settle.note(file) }
        case .abandoned(let reason):
            if !stopping { live.recordFailure(file: file, reason: reason, counted: false) }
            var retry = ""
            if !stopping, job.origin == .inbox {
                // A resource fault (a folder it cannot create, a file it cannot move) may
                // pass: try again later, backing off, rather than only after a restart.
                let attempts = (abandoned[file]?.attempts ?? 0) + 1
                let delay = Self.abandonedRetryDelay(attempts: attempts)
                abandoned[file] = (attempts, .now + .seconds(delay))
                retry = "; trying again in \(delay) s"
            }
            logger.warning("Left \(file) where it is: \(reason)\(retry)", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "abandoned", "MTRNN_REASON": "\(reason)"])
        case .noSpace(let reason):
            live.recordFailure(file: file, reason: "disk full: \(reason)", counted: false)
            paused = true
            pausedForSpace = true
            lastSpaceCheck = .now
            logger.error("Paused: no space left for \(file) (\(reason)). The photo stays in the inbox; processing resumes by itself once 256 MiB are free (or run `mtrnnctl resume`)", metadata: [
                "MTRNN_FILE": "\(file)", "MTRNN_OUTCOME": "deferred", "MTRNN_REASON": "\(reason)"])
            if job.origin == .inbox { settle.note(file) }
        }
    }

    // MARK: control

    func handle(_ request: ControlRequest) -> ControlResponse {
        switch request.command {
        case .status:
            return ControlResponse(ok: true, status: live.report())
        case .pause:
            paused = true
            if !stopping { live.setState(.paused) }
            notifier.status(live.statusLine())
            logger.notice("Paused by mtrnnctl\(current.map { "; finishing \($0.relativePath) first" } ?? "")")
            return ControlResponse(ok: true, message: current.map { "paused; \($0.relativePath) will be finished first" } ?? "paused", status: live.report())
        case .resume:
            paused = false
            pausedForSpace = false
            if !stopping { live.setState(current == nil ? .idle : .working) }
            logger.notice("Resumed by mtrnnctl")
            wakeWorker()
            notifier.status(live.statusLine())
            return ControlResponse(ok: true, message: "resumed; \(queue.count) queued", status: live.report())
        case .rescan:
            scanInbox()
            return ControlResponse(ok: true, message: "rescanning \(config.inbox)", status: live.report())
        case .retry:
            return retry(request.file)
        }
    }

    /// `retry NAME`: NAME is a path under failed/, as `ls` there shows it, or
    /// that path written in full (the failed folder's configured path, then
    /// "/"), with or without ".reason". It is looked up without following
    /// links, so the answer says nothing about paths outside failed/.
    private func retry(_ file: String?) -> ControlResponse {
        guard var name = file, !name.isEmpty else {
            return ControlResponse(ok: false, error: "retry needs a file: a name in \(config.failed)")
        }
        let shown = Printable.escaped(name)
        if name.hasPrefix("/") {
            let failedRoot = config.failed.hasSuffix("/") ? String(config.failed.dropLast()) : config.failed
            guard name.hasPrefix(failedRoot + "/") else {
                return ControlResponse(ok: false, error: "\(shown) is not in the failed directory \(config.failed); only failed photos can be retried")
            }
            name = String(name.dropFirst(failedRoot.count + 1))
        }
        if name.hasSuffix(".reason") { name = String(name.dropLast(7)) }
        let notFound = ControlResponse(ok: false, error: "no failed photo \(Printable.escaped(name)) in \(config.failed); `ls \(config.failed)` shows what failed")
        guard let parts = PathName.components(name), !InboxNames.isTemporaryOutput(parts.last!) else { return notFound }
        guard let dir = try? Directory.root(config.failed).subdirectory(Array(parts.dropLast())),
              let st = dir.info(parts.last!), FileOps.isRegular(st) else { return notFound }
        let job = Job(name, origin: .failed)
        guard current != job, !queuedJobs.contains(job) else {
            return ControlResponse(ok: true, message: "\(Printable.escaped(name)) is already queued for a retry", status: live.report())
        }
        enqueue(job, first: true)
        logger.notice("Retrying \(name) from \(config.failed)")
        return ControlResponse(ok: true, message: "queued \(Printable.escaped(name)) for a retry\(paused ? " (paused: run `mtrnnctl resume`)" : "")", status: live.report())
    }

    /// At start-up, after a crash: the photo that was being processed. One
    /// that took down two runs is filed in failed/ rather than tried a third time.
    private func quarantineCrasher() {
        let crashGuard = CrashGuard(stateDirectory: config.stateDirectory)
        guard let e = crashGuard.recover() else { return }
        let job = Job(e.path, origin: e.inbox ? .inbox : .failed)
        // A retry from failed/ is not tried again by itself: say why in its .reason at once.
        guard e.crashes >= CrashGuard.limit || !e.inbox else {
            logger.warning("The last run stopped unexpectedly while processing \(e.path); it is tried once more", metadata: [
                "MTRNN_FILE": "\(e.path)", "MTRNN_OUTCOME": "crashed"])
            return
        }
        let runner = JobRunner(config: config, processor: processor, logger: logger,
                               ledger: ProcessedLedger(stateDirectory: config.stateDirectory), progress: { _ in })
        // Only the version that crashed: a new photo under the same name gets its chance.
        guard let (dir, name) = try? runner.openSource(job), let st = dir.info(name),
              "\(FileIdentity(st))" == e.identity else {
            crashGuard.end(job, finished: true)
            return
        }
        // Its result was written before the last crash (the kill came while the
        // original was being filed): nothing to quarantine; its turn files it.
        if e.inbox, let output = runner.ledger.output(e.path, FileIdentity(st)),
           let out = FileOps.lstatInfo(config.outbox + "/" + output), FileOps.isRegular(out) {
            crashGuard.end(job, finished: true)
            return
        }
        let times = e.crashes == 1 ? "when it was retried" : e.crashes == 2 ? "twice" : "\(e.crashes) times"
        let reason = "it crashed the daemon \(times): mtrnn-watch stopped unexpectedly while processing it (`journalctl -u mtrnn-watch` shows how). It is not tried again automatically; please report it, with the photo if you can. `mtrnnctl retry NAME` (its name in the failed folder) tries once more"
        let outcome = runner.fail(job, reason, source: dir, name: name)
        crashGuard.end(job, finished: true)
        record(job, outcome)
    }

    // MARK: reload

    /// SIGHUP: re-read the configuration; a broken one keeps the old and says why.
    public func reload() async {
        guard !stopping else { return }
        notifier.reloading()
        let before = live.currentState
        live.setState(.reloading)
        defer {
            if !stopping { live.setState(before == .reloading ? .idle : before) }
            notifier.ready(status: live.statusLine())
        }
        guard let loadConfig else {
            logger.notice("Reload: no configuration file; nothing to re-read")
            return
        }
        var new: WatchConfig
        do { new = Self.resolvingRuntimeDirectory(try loadConfig(), environment) } catch {
            live.noteError("reload failed, kept the previous configuration: \(error)")
            logger.error("Reload failed, keeping the previous configuration: \(error)")
            return
        }
        if new.runtimeDirectory != config.runtimeDirectory || new.stateDirectory != config.stateDirectory {
            logger.warning("Reload: runtime_dir and state_dir take effect only after a restart")
            new.runtimeDirectory = config.runtimeDirectory
            new.stateDirectory = config.stateDirectory
        }
        var pipelineOld = config, pipelineNew = new
        for c in [\WatchConfig.inbox, \.outbox, \.archive, \.failed] { pipelineOld[keyPath: c] = ""; pipelineNew[keyPath: c] = "" }
        pipelineOld.recursive = false; pipelineNew.recursive = false
        pipelineOld.settleSeconds = 0; pipelineNew.settleSeconds = 0
        pipelineOld.pollSeconds = 0; pipelineNew.pollSeconds = 0
        pipelineOld.originals = .keep; pipelineNew.originals = .keep
        pipelineOld.operatorGroup = ""; pipelineNew.operatorGroup = ""
        if pipelineOld != pipelineNew {
            do { processor = try await makeProcessor(new) } catch {
                live.noteError("reload failed, kept the previous configuration: \(error)")
                logger.error("Reload failed, keeping the previous configuration and model: \(error)")
                return
            }
        }
        let newAccess: ControlAccess
        do { newAccess = try ControlAccess(operatorGroup: new.operatorGroup) } catch {
            live.noteError("reload failed, kept the previous configuration: \(error)")
            logger.error("Reload failed, keeping the previous configuration: \(error)")
            return
        }
        let rewatch = new.inbox != config.inbox || new.recursive != config.recursive || new.pollSeconds != config.pollSeconds
        let old = config
        config = new
        settle.settle = .milliseconds(Int64(new.settleSeconds * 1000))
        if rewatch {
            do {
                for (what, path) in [("inbox", config.inbox), ("outbox", config.outbox), ("failed", config.failed)] {
                    do { try FileOps.makeDirectory(path) } catch { throw DaemonError("cannot use the \(what) directory: \(error)") }
                }
                let oldWatcher = watcher
                try armWatcher()
                oldWatcher?.stop()
                queue.removeAll { $0.origin == .inbox }
                queuedJobs = Set(queue)
                live.setQueued(queue.count)
                settle = SettleTracker(settle: settle.settle)
                scanInbox()
            } catch {
                config = old
                live.noteError("reload failed, kept the previous configuration: \(error)")
                logger.error("Reload failed, keeping the previous configuration: \(error)")
                return
            }
        }
        server?.access = newAccess
        live.configure(model: processor.modelDescription, inbox: config.inbox, outbox: config.outbox)
        logger.notice("Reloaded the configuration")
    }
}

/// A start-up failure the daemon reports and exits on.
public struct DaemonError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
