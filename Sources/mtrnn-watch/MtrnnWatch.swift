import ArgumentParser
import ClusterQueue
import ClusterService
import Deblur
import Foundation
import Identity
import Logging
import MTRNN
import WatchService

/// `mtrnn-watch`: the daemon. Everything it does lives in WatchService; this
/// target only reads options, builds the processor and runs the daemon.
@main
struct MtrnnWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtrnn-watch",
        abstract: "Watch an inbox directory and deblur every photo that arrives with MT-RNN.",
        discussion: """
        Without --config it runs on a local default: ./inbox, ./outbox, ./archive, \
        ./failed and ./state under the working directory. See mtrnn-watch(8) and \
        mtrnn-watch.conf(5).
        """)

    @Option(name: .long, help: ArgumentHelp("Configuration file (key = value lines).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Directory to watch.", valueName: "dir")) var inbox: String?
    @Option(help: ArgumentHelp("Directory for results.", valueName: "dir")) var outbox: String?
    @Option(help: ArgumentHelp("Directory for processed originals.", valueName: "dir")) var archive: String?
    @Option(help: ArgumentHelp("Directory for photos that could not be processed.", valueName: "dir")) var failed: String?
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Directory for the daemon's own files.", valueName: "dir")) var stateDir: String?
    @Option(name: .customLong("runtime-dir"), help: ArgumentHelp("Directory for the control socket.", valueName: "dir")) var runtimeDir: String?
    @Option(help: ArgumentHelp("Scan every N seconds instead of using inotify (NFS/CIFS inboxes).", valueName: "seconds")) var poll: Double?
    @Option(help: ArgumentHelp("How long size and mtime must stay unchanged.", valueName: "seconds")) var settle: Double?
    @Flag(help: "Watch subdirectories too, mirrored in the outbox.") var recursive = false
    @Option(help: ArgumentHelp("With a shared queue (queue = postgresql://...): watcher, worker or both (the `role` key).",
                               valueName: "role")) var role: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override any configuration key.", valueName: "key=value"))
    var overrides: [String] = []

    @Option(name: .customLong("log-level"), help: ArgumentHelp(
        "The least severe records logged: debug, info, notice, warning or err (the key log_level).", valueName: "level"))
    var logLevel: String?

    @Flag(name: .customLong("check-config"), help: "Check the configuration, print it and exit.")
    var checkConfig = false

    @Flag(name: .long, help: "Print the version and the weights' SHA-256 (with --config: the configured weights), and exit.")
    var version = false

    /// The configuration file (if any) with the command-line overrides on top,
    /// checked as a whole: the one function behind --check-config, start-up
    /// and SIGHUP, so that what the check accepts also starts. Every error is
    /// a ConfigError (exit status 78 at start).
    func loadConfiguration() throws(ConfigError) -> WatchConfig {
        var c = try config.map { path throws(ConfigError) in try WatchConfig.load(file: path) } ?? WatchConfig()
        if let inbox { try c.set("inbox", inbox) }
        if let outbox { try c.set("outbox", outbox) }
        if let archive { try c.set("archive", archive) }
        if let failed { try c.set("failed", failed) }
        if let stateDir { try c.set("state_dir", stateDir) }
        if let runtimeDir { try c.set("runtime_dir", runtimeDir) }
        if let poll { try c.set("poll_seconds", String(poll)) }
        if let settle { try c.set("settle_seconds", String(settle)) }
        if recursive { c.recursive = true }
        if let role { try c.set("role", role) }
        if let logLevel { try c.set("log_level", logLevel) }
        for o in overrides {
            guard let eq = o.firstIndex(of: "=") else {
                throw ConfigError(file: "command line", line: nil, problem: "--set needs key=value, got `\(o)`")
            }
            try c.set(o[..<eq].trimmingCharacters(in: .whitespaces), o[o.index(after: eq)...].trimmingCharacters(in: .whitespaces))
        }
        try c.validate()
        if c.cluster.isShared {
            do { _ = try QueueLocation.parse(c.cluster.queue) } catch {
                let origin = c.origins["queue"]
                throw ConfigError(file: origin?.file ?? "command line", line: origin?.line, problem: "`queue`: \(error)")
            }
        }
        return c
    }

    /// The folders the daemon writes under `config` (FolderAccess's rule):
    /// outbox, failed, state and runtime always; the archive when originals
    /// are archived; the inbox unless they are kept (photos leave it).
    static func foldersToWrite(_ c: WatchConfig) -> [(key: String, path: String)] {
        var folders = [("outbox", c.outbox), ("failed", c.failed), ("state_dir", c.stateDirectory),
                       ("runtime_dir", c.runtimeDirectory)]
        if c.originals == .archive { folders.append(("archive", c.archive)) }
        if c.originals != .keep { folders.insert(("inbox", c.inbox), at: 0) }
        return folders.map { (key: $0.0, path: $0.1) }
    }

    /// The weights `--version` names: those of the configuration (or the
    /// built-in default, found as the daemon finds it), hashed.
    func versionText() -> String {
        let configured = (try? loadConfiguration())?.pipeline.weights ?? WatchConfig().pipeline.weights
        let weights = ProcessorFactory.resolveWeights(configured, environment: ProcessInfo.processInfo.environment)
        let result: Result<WeightsIdentity, any Error>? = FileManager.default.fileExists(atPath: weights.path)
            ? Result { try WeightsIdentity(hashing: weights.path) } : nil
        return WeightsIdentity.versionText(program: "mtrnn-watch", weights: result)
    }

    func run() async throws {
        if version {
            print(versionText())
            return
        }
        OpenMPEnvironment.reexecWithPassiveWaitIfUnset()
        LoggingSystem.bootstrap { JournalLogHandler(label: $0) }
        let logger = Logger(label: "mtrnn-watch")
        let initial: WatchConfig
        do { initial = try loadConfiguration() } catch {
            logger.critical("Configuration error: \(error)")
            throw ExitCode(78)  // EX_CONFIG
        }
        WatchDaemon.applyLogLevel(initial)
        if checkConfig {
            // The inbox and the weights must exist: the keys can all be right
            // and still name a folder nobody drops photos in, or no model.
            let env = ProcessInfo.processInfo.environment
            let weights = ProcessorFactory.testProcessor(env) == nil
                ? ProcessorFactory.resolveWeights(initial.pipeline.weights, environment: env).path : nil
            let missing = RequiredInputs.missing(initial, weights: weights)
            if !missing.isEmpty {
                for m in missing {
                    let origin = initial.origins[m.key].map { "\($0.file)\($0.line.map { ":\($0)" } ?? "")" } ?? "built-in default"
                    logger.critical("Configuration error: \(origin): \(m)")
                }
                throw ExitCode(78)  // EX_CONFIG
            }
            // Every key as it will be used, so that a key that was not read
            // (or read differently) shows.
            let directories: [String?] = [inbox, outbox, archive, failed, stateDir, runtimeDir]
            let fromCommandLine = directories.contains { $0 != nil } || poll != nil || settle != nil || recursive || logLevel != nil
                || role != nil || !overrides.isEmpty
            print("# configuration OK: \(config ?? "no file, built-in defaults")\(fromCommandLine ? ", with the command line's options" : "")")
            print(initial.rendered)
            return
        }
        // A folder the daemon cannot write (the unit's read-only sandbox, or
        // permissions) stops the start with the remedy, instead of sending
        // every photo to failed/ one by one. Exit 78: restarting cannot help.
        let unwritable = FolderAccess.problems(Self.foldersToWrite(initial))
        if !unwritable.isEmpty {
            for problem in unwritable { logger.critical("Cannot start: \(problem)") }
            throw ExitCode(78)  // EX_CONFIG
        }
        if initial.cluster.isShared {
            // The shared queue (issue 20): ClusterService from here on. A
            // watcher alone loads no model.
            let processor = initial.cluster.role == .watcher ? nil : try await makeProcessor(initial, logger: logger)
            let cluster: ClusterDaemon
            do { cluster = try ClusterDaemon(config: initial, role: initial.cluster.role, processor: processor, logger: logger) } catch {
                logger.critical("Configuration error: `queue`: \(error)")
                throw ExitCode(78)
            }
            do { try await cluster.run() } catch {
                logger.critical("Cannot start: \(error)")
                throw ExitCode(1)
            }
            return
        }
        let processor = try await makeProcessor(initial, logger: logger)
        let me = self
        let daemon = WatchDaemon(
            config: initial, processor: processor, logger: logger,
            loadConfig: { try me.loadConfiguration() },
            makeProcessor: { try await ProcessorFactory.make($0, logger: logger) })
        let signals = DaemonSignals(daemon: daemon)
        do { try await daemon.run() } catch {
            logger.critical("Cannot start: \(error)")
            throw ExitCode(1)
        }
        withExtendedLifetime(signals) {}
    }

    /// The processor, or the exit status that says why there is none.
    func makeProcessor(_ initial: WatchConfig, logger: Logger) async throws -> any PhotoProcessor {
        let processor: any PhotoProcessor
        do { processor = try await ProcessorFactory.make(initial, logger: logger) } catch DeblurError.invalidOptions(let why) {
            // validate() should have caught it; still a configuration error.
            logger.critical("Configuration error: \(config ?? "command line"): \(why)")
            throw ExitCode(78)  // EX_CONFIG
        } catch let error as DeblurError {
            logger.critical("Cannot load the deblur model: \(error); check the file, or set `weights` in the configuration")
            throw ExitCode(1)
        } catch {
            logger.critical("Cannot load the deblur model: \(error)")
            throw ExitCode(1)
        }
        return processor
    }
}
