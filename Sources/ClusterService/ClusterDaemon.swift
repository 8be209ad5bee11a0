import ClusterQueue
import Dispatch
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchService

/// mtrnn-watch with `queue = postgresql://...`: a watcher, a worker or both
/// on the shared queue. Entered from main only in that case; with
/// `queue = inbox` nothing here runs and nothing connects.
public struct ClusterDaemon: Sendable {
    let config: WatchConfig
    let role: ClusterSettings.Role
    let processor: (any PhotoProcessor)?
    let logger: Logger
    let location: QueueLocation

    /// Throws `QueueLocationError` for a `queue` value that is not a usable URL.
    public init(config: WatchConfig, role: ClusterSettings.Role, processor: (any PhotoProcessor)?, logger: Logger)
        throws(QueueLocationError) {
        guard let location = try QueueLocation.parse(config.cluster.queue) else {
            throw QueueLocationError("a PostgreSQL URL in `queue` (it says inbox)")
        }
        self.config = config
        self.role = role
        self.processor = processor
        self.logger = logger
        self.location = location
    }

    /// The worker's name in the status: `worker_name`, else HOST:PID.
    public static func defaultName(_ config: WatchConfig) -> String {
        if !config.cluster.workerName.isEmpty { return config.cluster.workerName }
        return "\(hostName()):\(getpid())"
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        return String(cString: buffer)
    }

    /// The worker's own folder under state_dir for its private copies.
    static func workFolder(_ name: String) -> String {
        "work-" + String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }.prefix(100))
    }

    /// Connects (retrying with backoff while the database is unreachable),
    /// migrates the schema, registers and runs the roles until SIGTERM/SIGINT.
    public func run() async throws {
        let name = Self.defaultName(config)
        let notifier = SystemdNotifier()
        let stop = StopFlag()
        let busy = BusyFlag()
        let queue = PostgresQueue(location: location, logger: logger)
        for dir in [config.outbox, config.failed, config.stateDirectory] + (config.originals == .archive ? [config.archive] : []) {
            try FileOps.makeDirectory(dir)
        }
        try? FileManager.default.removeItem(atPath: config.stateDirectory + "/" + Self.workFolder(name))

        let main = Task<Void, Never> {
            notifier.ready(status: "connecting to the queue database \(location)")
            var backoff = Backoff()
            while !stop.isSet {
                do {
                    let before = try await queue.migrate()
                    if before == 0 { logger.notice("queue database \(location): created the tables (schema version \(QueueSchema.latest))") }
                    try await queue.register(.init(name: name, host: Self.hostName(), pid: Int(getpid()), role: role.rawValue,
                                                   state: "idle"))
                    break
                } catch QueueError.unreachable(let at, let why) {
                    await ClusterWorker.unreachable(QueueError.unreachable(location: at, underlying: why), &backoff,
                                                    logger: logger, notifier: notifier, what: role.rawValue)
                } catch {
                    // Refused (a missing grant, a newer schema): restarting will not help.
                    logger.critical("queue database \(location): \(error)")
                    notifier.status("stopped: \(error)")
                    exit(78)
                }
            }
            if stop.isSet { return }
            logger.notice("\(role.rawValue) \(name) on the queue database \(location) (lease \(Int(config.cluster.leaseSeconds)) s, \(config.cluster.maxAttempts) attempts)")
            notifier.status("\(role.rawValue) on \(location)")
            let heartbeat = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    try? await queue.heartbeat(worker: name)
                    // A photo in progress pings from its progress alone (a hung
                    // one trips the watchdog); otherwise the daemon is alive, if
                    // perhaps retrying the database.
                    if !busy.isSet { notifier.watchdog() }
                }
            }
            await withTaskGroup(of: Void.self) { group in
                if role != .worker {
                    group.addTask {
                        await ClusterWatcher(config: config, queue: queue, name: name, logger: logger, notifier: notifier, stop: stop).run()
                    }
                }
                if role != .watcher, let processor {
                    group.addTask {
                        await ClusterWorker(config: config, processor: processor, queue: queue, name: name, logger: logger,
                                            notifier: notifier, stop: stop, busy: busy).run()
                    }
                }
            }
            heartbeat.cancel()
            try? await queue.signOff(worker: name)
            await queue.close()
        }

        // SIGTERM/SIGINT: stop taking photos; the photo in progress is
        // cancelled and given back (its attempt not counted).
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                logger.notice("stopping (signal \(sig))")
                notifier.stopping(status: "stopping")
                stop.raise()
                main.cancel()
            }
            source.resume()
            sources.append(source)
        }
        // SIGHUP: a worker reads its configuration at start only.
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { logger.warning("SIGHUP ignored: on a shared queue the configuration is read at start; restart the service to apply it") }
        hup.resume()
        sources.append(hup)
        await main.value
        withExtendedLifetime(sources) {}
    }
}
