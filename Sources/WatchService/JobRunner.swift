import Deblur
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchControl

/// Takes one photo through the durable steps:
///   open without following links -> private copy in the state directory ->
///   processor returns the encoded result -> written to a temp name in the
///   outbox, fsynced -> ledger record -> rename to a name not taken (never
///   replacing an earlier result) -> fsync dir -> archive / keep / delete the
///   original. Every file operation is DurableFiles'.
/// A crash at any point leaves either the original in the inbox (done again
/// on restart) or the result in place and a ledger record saying so; never a
/// half-written file under a final name.
///
/// Every create, move and removal in the inbox, failed/, the outbox and the
/// archive goes through descriptors of the folders opened once, without
/// following links (`Directory`): uploaders may write to the inbox and to
/// failed/, and a folder swapped for a link must not redirect the daemon.
struct JobRunner: Sendable {
    let config: WatchConfig
    let processor: any PhotoProcessor
    let logger: Logger
    let ledger: ProcessedLedger
    var crashGuard: CrashGuard? = nil
    let progress: @Sendable (DeblurProgress) -> Void

    func sourceRoot(_ job: Job) -> String { job.origin == .inbox ? config.inbox : config.failed }

    /// The folder holding the job's file, opened without following links, and the file's name in it.
    func openSource(_ job: Job) throws(FileError) -> (Directory, String) {
        guard let parts = PathName.components(job.relativePath) else {
            throw FileError(operation: "open", path: job.relativePath, errno: EINVAL)
        }
        let dir = try Directory.root(sourceRoot(job)).subdirectory(Array(parts.dropLast()))
        return (dir, parts.last!)
    }

    func run(_ job: Job) async -> JobOutcome {
        let relative = job.relativePath
        let sourcePath = sourceRoot(job) + "/" + relative
        let source: Directory, name: String
        do { (source, name) = try openSource(job) } catch {
            switch error.errno {
            case ENOENT: return .vanished
            case ELOOP, ENOTDIR:
                // A folder on its path became a link after it was found: what the link is
                // is filed by its own turn; nothing under it is touched.
                return .abandoned(reason: "a folder on its path was replaced by a symbolic link; mtrnn-watch never follows links out of the inbox")
            default: return .abandoned(reason: "cannot open its folder: \(error)")
            }
        }

        let fd: Int32
        do { fd = try source.openForReading(name) } catch {
            switch error.errno {
            case ENOENT: return .vanished
            case ELOOP, ENOTDIR, EMLINK:
                return fail(job, "it is a symbolic link (or lies under one); mtrnn-watch never follows links out of the inbox. Copy the photo itself into the inbox", source: source, name: name)
            case EACCES, EPERM:
                return fail(job, "mtrnn-watch may not read it (\(String(cString: strerror(error.errno)))); make it readable by the service's group and retry", source: source, name: name)
            default:
                return fail(job, "cannot open it: \(String(cString: strerror(error.errno)))", source: source, name: name)
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return fail(job, "cannot stat it: \(String(cString: strerror(errno)))", source: source, name: name) }
        if FileOps.isDirectory(st) { return fail(job, "it is a directory, not a photo", source: source, name: name) }
        guard FileOps.isRegular(st) else { return fail(job, "it is not a regular file (a device, FIFO or socket)", source: source, name: name) }
        let identity = FileIdentity(st)
        // Settled once is not settled for good: scp and some editors rewrite a
        // queued file in place. A changed file waits for the settle time again.
        if let settled = job.settledIdentity, settled != identity { return .unsettled }

        let parents = Array(PathName.components(relative)!.dropLast())
        if job.origin == .inbox, let output = ledger.output(relative, identity), output.isEmpty {
            return .leftAlone(nil)   // sharp, skipped by an earlier turn, unchanged since
        }
        if job.origin == .inbox, let output = ledger.output(relative, identity) {
            // A record without its result (removed by hand, or written by an older
            // version before a crash) must not file the original away unprocessed.
            if let out = FileOps.lstatInfo(config.outbox + "/" + output), FileOps.isRegular(out) {
                return dispose(job, source: source, name: name, identity: identity, report: nil, output: output)
            }
            ledger.remove(relative)
        }
        crashGuard?.begin(job, identity)

        // A private copy: no writer of the inbox can change or swap what the processor reads.
        // In a folder of the job's own: two photos in flight may have the same name.
        let staged: String, stagingFolder: String
        do {
            let folder = String(FNV1a.hash(((job.origin == .inbox ? "i:" : "f:") + relative).utf8), radix: 16)
            let work = try Directory.root(config.stateDirectory, create: true)
                .subdirectory(["work", folder], create: true, mode: 0o700)
            let stagedName = name   // the processor's messages name the file as the user did
            work.removeIfPresent(stagedName)
            stagingFolder = work.path
            try work.copy(from: fd, sourceName: sourcePath, to: stagedName)
            staged = work.path + "/" + stagedName
        } catch {
            if error.isOutOfSpace { return .noSpace(reason: "\(error)") }
            if error.errno == EISDIR || error.errno == EIO { return fail(job, "cannot read it: \(error)", source: source, name: name) }
            return .abandoned(reason: "cannot stage a copy: \(error)")
        }
        defer {
            unlink(staged)
            rmdir(stagingFolder)
        }
        TestFaults.point("staged")
        // Rewritten while it was copied: the copy may be half old, half new.
        var after = stat()
        if fstat(fd, &after) == 0, FileIdentity(after) != identity { return .unsettled }

        let output: Directory
        do {
            // Mirrored folders (recursive = yes) take the umask like the
            // outbox itself: the unit's UMask=0002 makes them group-writable
            // (2775 under the setgid outbox), so members may move results out.
            output = try Directory.root(config.outbox, create: true).subdirectory(parents, create: true, mode: Self.sharedFolderMode)
        } catch {
            return .abandoned(reason: "cannot create the outbox directory \(config.outbox)/\(parents.joined(separator: "/")): \(error)")
        }

        let processed: ProcessedPhoto
        do {
            processed = try await processor.process(input: URL(fileURLWithPath: staged), progress: progress)
        } catch is CancellationError {
            return .abandoned(reason: "stopped before it was finished")
        } catch {
            if Task.isCancelled { return .abandoned(reason: "stopped before it was finished") }
            if Self.isOutOfSpace(error) { return .noSpace(reason: "\(error)") }
            // The processor read the private copy: name the file the user dropped
            // (as the processor's URL spells the copy's path, and as we do).
            var reason = "\(error)"
            for spelling in [URL(fileURLWithPath: staged).path, staged] {
                reason = reason.replacingOccurrences(of: spelling, with: sourcePath)
            }
            return fail(job, reason, source: source, name: name)
        }
        if processed.report.leftAloneAsSharp != nil, processed.bytes.isEmpty {
            // sharp_photos = skip: no result; the photo stays where it is.
            if job.origin == .inbox {
                do { try ledger.record(relative, identity, output: "") } catch {
                    if error.isOutOfSpace { return .noSpace(reason: "\(error)") }
                    return .abandoned(reason: "cannot record it as left alone: \(error)")
                }
            }
            return .leftAlone(processed.report)
        }
        guard !processed.bytes.isEmpty else {
            return fail(job, "the deblur pipeline wrote no output for it (internal error; please report it)", source: source, name: name)
        }

        // The result goes to a temporary name in the outbox, fsynced (DurableFiles).
        let temporary: String
        do { temporary = try output.writeTemporary(processed.bytes, for: name) } catch {
            if error.isOutOfSpace { return .noSpace(reason: "\(error)") }
            return fail(job, "cannot write the result: \(error)", source: source, name: name)
        }
        TestFaults.point("encoded")
        let resultName: String
        do throws(FileError) {
            // Never over an earlier result: camera counters repeat, and a photo
            // dropped again under the same name is another photo. The result takes
            // NAME-N.EXT instead. The name is recorded first, then taken: after a
            // crash between the two, the record names a result that is not there
            // (the name was free, and only this daemon writes the outbox), so the
            // photo is deblurred again under a free name, not twice.
            resultName = try Directory.move(output, temporary, to: output, as: name) { candidate throws(FileError) in
                guard job.origin == .inbox else { return }
                try ledger.record(relative, identity, output: (parents + [candidate]).joined(separator: "/"))
                TestFaults.point("recorded")
            }
            TestFaults.point("renamed")
        } catch {
            output.removeIfPresent(temporary)
            if error.isOutOfSpace { return .noSpace(reason: "\(error)") }
            return .abandoned(reason: "cannot write the result \(output.path)/\(name): \(error)")
        }
        var done = processed.report
        if resultName != name { done.outputName = (parents + [resultName]).joined(separator: "/") }
        return dispose(job, source: source, name: name, identity: identity, report: done,
                       output: (parents + [resultName]).joined(separator: "/"))
    }

    /// The result is in the outbox (`output`, relative to it); now the
    /// original leaves the queue, its sidecars with it (`Sidecars`): their
    /// copies go beside the result first, so that a crash before the
    /// original is filed copies them again (the same bytes: nothing new).
    private func dispose(_ job: Job, source: Directory, name: String, identity: FileIdentity, report: ProcessingReport?,
                         output: String) -> JobOutcome {
        // Replaced while processed: leave the new version for its own turn.
        guard let now = source.info(name), FileOps.isRegular(now), FileIdentity(now) == identity else {
            ledger.remove(job.relativePath)
            return .replaced
        }
        let parents = Array(PathName.components(job.relativePath)!.dropLast())
        let sidecars = job.origin == .inbox ? Sidecars.of(name, in: source, folder: parents, filter: config.inputFilter) : []
        for sidecar in sidecars {
            do { try Sidecars.copy(sidecar, of: name, from: source, outbox: config.outbox, result: output) } catch {
                if error.isOutOfSpace { return .noSpace(reason: "\(error)") }
                return .abandoned(reason: "the result is in the outbox but its sidecar \(sidecar) could not be copied beside it: \(error)")
            }
        }
        var archive: Directory?, archivedName: String?
        do {
            switch (job.origin, config.originals) {
            case (.inbox, .keep):
                break
            case (.inbox, .delete), (.failed, .delete):
                try source.remove(name)
                try source.sync()
            case (.inbox, .archive), (.failed, .archive), (.failed, .keep):
                let folder = try Directory.root(config.archive, create: true).subdirectory(parents, create: true)
                archivedName = try Directory.move(source, name, to: folder, as: name)
                archive = folder
                TestFaults.point("archived")
            }
            if job.origin == .failed { source.removeIfPresent(name + ".reason") }
            if config.originals != .keep || job.origin == .failed { ledger.remove(job.relativePath) }
        } catch {
            // The result is safe; the ledger record makes the next attempt dispose only.
            return .abandoned(reason: "the result is in the outbox but the original could not be moved: \(error)")
        }
        for problem in Sidecars.file(sidecars, of: name, from: source, policy: config.originals, archive: archive, filedName: archivedName) {
            logger.warning("A sidecar of \(job.relativePath) stays in the inbox (its copy is beside the result): \(problem)")
        }
        return report.map { .done($0) } ?? .alreadyDone
    }

    /// Moves the original to failed/ (a retried one stays there) and writes NAME.reason next to it.
    /// `source`/`name`: the folder it lies in, as opened for this job (nil: opened here).
    func fail(_ job: Job, _ reason: String, source opened: Directory? = nil, name openedName: String? = nil) -> JobOutcome {
        let parents = Array((PathName.components(job.relativePath) ?? []).dropLast())
        let source: Directory, name: String
        if let s = opened, let n = openedName { (source, name) = (s, n) } else {
            do { (source, name) = try openSource(job) } catch {
                if error.errno == ENOENT { return .vanished }
                return .abandoned(reason: "\(reason); and it could not be moved to \(config.failed): \(error)")
            }
        }
        var folder = source
        var filedName = name
        do {
            if job.origin == .inbox {
                let failedRoot = try Directory.root(config.failed, create: true)
                // An uploader may have made failed/SUB a link (failed/ is theirs to write):
                // then the photo goes to failed/ itself, never through the link.
                folder = (try? failedRoot.subdirectory(parents, create: true)) ?? failedRoot
                filedName = try Directory.move(source, name, to: folder, as: name, reserving: ".reason")
            }
        } catch {
            if error.errno == ENOENT { return .vanished }
            return .abandoned(reason: "\(reason); and it could not be moved to \(config.failed): \(error)")
        }
        let text = """
        file: \(Printable.escaped(job.relativePath))
        time: \(ISO8601DateFormatter().string(from: Date()))
        reason: \(Printable.escaped(reason))

        """
        try? folder.writeAtomically(text, to: filedName + ".reason")
        ledger.remove(job.relativePath)
        return .failed(reason: reason, movedTo: folder.path + "/" + filedName)
    }

    /// Folders the daemon makes in the outbox: 0777 less the umask, as
    /// mkdir(1) does.
    static let sharedFolderMode: mode_t = 0o777

    /// ENOSPC/EDQUOT however the processor reports it: our FileError, POSIXError,
    /// or Foundation's CocoaError from Data.write (which wraps the errno).
    static func isOutOfSpace(_ error: any Error) -> Bool {
        if let fe = error as? FileError { return fe.isOutOfSpace }
        if let pe = error as? POSIXError { return pe.code == .ENOSPC || pe.code == .EDQUOT }
        if let ce = error as? CocoaError, ce.code == .fileWriteOutOfSpace { return true }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) || ns.code == Int(EDQUOT) { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return isOutOfSpace(underlying) }
        return false
    }
}
