import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import PhotoIO
import WatchControl

/// What the daemon does before it takes a photo: its folders, the state
/// folder's lock, the clean-up after an interrupted run, and the photo a
/// crash left behind.
struct DaemonStartup {
    let config: WatchConfig
    let logger: Logger

    /// Makes the folders, takes the state folder's lock (the descriptor is
    /// returned: the lock is held while it is open) and removes what an
    /// interrupted run left half-written.
    func prepareDirectories() throws -> Int32 {
        for (what, path) in [("inbox", config.inbox), ("outbox", config.outbox), ("archive", config.archive),
                             ("failed", config.failed), ("state", config.stateDirectory), ("runtime", config.runtimeDirectory)] {
            if what == "archive" && config.originals != .archive { continue }
            do { try FileOps.makeDirectory(path) } catch {
                throw DaemonError("cannot use the \(what) directory: \(error). Create it, or set `\(what)` in the configuration")
            }
        }
        let lockFD = open(config.stateDirectory + "/mtrnn-watch.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            if lockFD >= 0 { close(lockFD) }
            throw DaemonError("another mtrnn-watch uses the state directory \(config.stateDirectory); stop it first")
        }
        try ProcessedLedger(stateDirectory: config.stateDirectory).prepare()
        // Nothing half-written may stay visible: temp outputs of an interrupted run go.
        for dir in [config.outbox, config.archive, config.failed] { removeTemporaryOutputs(in: dir) }
        try? FileManager.default.removeItem(atPath: config.stateDirectory + "/work")
        if config.originals == .keep { ProcessedLedger(stateDirectory: config.stateDirectory).prune(inbox: config.inbox) }
        return lockFD
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

    /// The control socket, listening. Who may pause, resume, retry and
    /// rescan: root, the service user and `operator_group` (by default the
    /// service's own group); the server refuses the others before a request
    /// reaches the daemon.
    func controlServer(path: String, handler: @escaping ControlServer.Handler) throws -> ControlServer {
        let access: ControlAccess
        do { access = try ControlAccess(operatorGroup: config.operatorGroup) } catch { throw DaemonError("\(error)") }
        let server = try ControlServer(path: path, logger: logger, access: access) { request, _ in await handler(request) }
        server.start()
        return server
    }

    /// After a crash: the photos that were being processed. One that took
    /// down two runs alone is filed in failed/ rather than tried a third
    /// time; the jobs and outcomes of those are returned for the daemon to
    /// record. The others are tried once more, alone (`CrashGuard`).
    func quarantineCrashers(processor: any PhotoProcessor) -> [(Job, JobOutcome)] {
        let crashGuard = CrashGuard(stateDirectory: config.stateDirectory)
        let (entries, shared) = crashGuard.recover()
        return entries.compactMap { quarantine($0, shared: shared, crashGuard: crashGuard, processor: processor) }
    }

    private func quarantine(_ e: CrashGuard.Entry, shared: Bool, crashGuard: CrashGuard,
                            processor: any PhotoProcessor) -> (Job, JobOutcome)? {
        let job = Job(e.path, origin: e.inbox ? .inbox : .failed)
        // A retry from failed/ (always alone) is not tried again by itself: say why in its .reason at once.
        guard e.crashes >= CrashGuard.limit || (!e.inbox && !shared) else {
            JournalRecord.crashed(e.path, besideAnother: shared).log(to: logger)
            return nil
        }
        let runner = JobRunner(config: config, processor: processor, logger: logger,
                               ledger: ProcessedLedger(stateDirectory: config.stateDirectory), progress: { _ in })
        // Only the version that crashed: a new photo under the same name gets its chance.
        guard let (dir, name) = try? runner.openSource(job), let st = dir.info(name),
              "\(FileIdentity(st))" == e.identity else {
            crashGuard.end(job, finished: true)
            return nil
        }
        // Its result was written before the last crash (the kill came while the
        // original was being filed): nothing to quarantine; its turn files it.
        if e.inbox, let output = runner.ledger.output(e.path, FileIdentity(st)),
           let out = FileOps.lstatInfo(config.outbox + "/" + output), FileOps.isRegular(out) {
            crashGuard.end(job, finished: true)
            return nil
        }
        let times = e.crashes == 1 ? "when it was retried" : e.crashes == 2 ? "twice" : "\(e.crashes) times"
        let reason = "it crashed the daemon \(times): mtrnn-watch stopped unexpectedly while processing it (`journalctl -u mtrnn-watch` shows how). It is not tried again automatically; please report it, with the photo if you can. `mtrnnctl retry NAME` (its name in the failed folder) tries once more"
        let outcome = runner.fail(job, reason, source: dir, name: name)
        crashGuard.end(job, finished: true)
        return (job, outcome)
    }
}

/// Looks at the whole inbox (at start, after an overflow, on `rescan`, when
/// polling): every name that may be a photo is a candidate; names that are
/// not UTF-8 go to failed/ by their bytes (`UndecodableNames`).
struct InboxScanner {
    /// Non-UTF-8 names that could not be moved, reported once rather than on every scan.
    private var reportedUnmovable: Set<String> = []
    /// Folders in a non-recursive inbox already hinted about (while they are there).
    private var hintedFolders: Set<String> = []

    /// What a scan filed or could not file, for the status.
    struct Filed {
        var failures: [(file: String, reason: String)] = []
        var errors: [String] = []
    }

    /// A name with the extension of a format PhotoIO reads.
    static func looksLikePhoto(_ name: String) -> Bool { ImageFormat(fileExtension: PathName.pathExtension(name)) != nil }

    mutating func scan(_ config: WatchConfig, logger: Logger, candidate: (String) -> Void) -> Filed {
        var filed = Filed()
        var folders: Set<String> = []
        func walk(_ relativeDir: String) {
            let dir = relativeDir.isEmpty ? config.inbox : config.inbox + "/" + relativeDir
            fileAwayUndecodableNames(relativeDir, config, logger, into: &filed)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
            for name in names.sorted() where !InboxNames.isIgnored(name) {
                let relative = relativeDir.isEmpty ? name : relativeDir + "/" + name
                guard let st = FileOps.lstatInfo(dir + "/" + name) else { continue }
                if FileOps.isDirectory(st) {
                    if config.recursive { walk(relative) } else { folders.insert(relative) }
                    continue
                }
                if !config.inputFilter.excludes(relative) { candidate(relative) }
            }
        }
        walk("")
        // A folder dropped into an inbox that is not recursive is not a
        // failure: it stays, and the journal and status say how to have its
        // photos taken, once per folder.
        hintedFolders.formIntersection(folders)
        for folder in folders.sorted() where hintedFolders.insert(folder).inserted && !config.inputFilter.excludes(folder) {
            let hint = "\(folder)/ is a folder in the inbox \(config.inbox), which is not watched recursively: its photos are not taken. Set `recursive = yes` in the configuration (results then mirror its folders), or move its photos into the inbox itself"
            filed.errors.append(hint)
            logger.notice("\(hint)", metadata: [JournalField.file: "\(folder)", JournalField.outcome: "folder"])
        }
        return filed
    }

    private mutating func fileAwayUndecodableNames(_ relativeDir: String, _ config: WatchConfig, _ logger: Logger,
                                                   into filed: inout Filed) {
        let failedDir = relativeDir.isEmpty ? config.failed : config.failed + "/" + relativeDir
        let sub = relativeDir.isEmpty ? [] : (PathName.components(relativeDir) ?? [])
        let (moved, unmovable) = UndecodableNames.fileAway(inbox: config.inbox, toFailed: config.failed, sub: sub)
        for f in moved {
            filed.failures.append((f.shownName, UndecodableNames.reason))
            JournalRecord.undecodable(f.shownName, movedTo: f.movedTo).log(to: logger)
        }
        for u in unmovable where reportedUnmovable.insert(u.shownName).inserted {
            let text = "\(u.shownName): \(UndecodableNames.reason); and it could not be moved to \(failedDir): \(u.problem)"
            filed.errors.append(text)
            logger.error("Cannot deblur \(text)")
        }
    }
}

/// One photo's turn on the worker: the crash guard around it, and its
/// progress into the status (the status shows the older of two photos in
/// flight) and the watchdog (a photo that stops progressing stops the
/// pings, and systemd restarts the daemon).
struct PhotoTurn: Sendable {
    let config: WatchConfig
    let processor: any PhotoProcessor
    let logger: Logger
    let live: LiveStatus
    let notifier: SystemdNotifier

    func run(_ job: Job) async -> JobOutcome {
        let (live, notifier) = (self.live, self.notifier)
        let crashGuard = CrashGuard(stateDirectory: config.stateDirectory)
        let runner = JobRunner(config: config, processor: processor, logger: logger,
                               ledger: ProcessedLedger(stateDirectory: config.stateDirectory),
                               crashGuard: crashGuard,
                               progress: { p in
                                   live.update(p, file: job.relativePath)
                                   notifier.watchdog()
                                   notifier.status(live.statusLine())
                               })
        let outcome = await runner.run(job)
        switch outcome {
        case .abandoned, .noSpace, .unsettled: crashGuard.end(job, finished: false)
        default: crashGuard.end(job, finished: true)
        }
        return outcome
    }
}
