import Foundation
@preconcurrency import Glibc
import Logging

/// Takes one photo through the durable steps:
///   open without following links -> private copy in the state directory ->
///   processor writes a temp name in the outbox -> fsync -> rename into place ->
///   fsync dir -> ledger record -> archive / keep / delete the original.
/// A crash at any point leaves either the original in the inbox (done again
/// on restart, same result) or the result in place and a ledger record saying
/// so; never a half-written file under a final name.
struct JobRunner: Sendable {
    let config: WatchConfig
    let processor: any PhotoProcessor
    let logger: Logger
    let ledger: ProcessedLedger
    let progress: @Sendable (ProcessingProgress) -> Void

    var workDirectory: String { config.stateDirectory + "/work" }

    func sourceRoot(_ job: Job) -> String { job.origin == .inbox ? config.inbox : config.failed }

    func run(_ job: Job) async -> JobOutcome {
        let root = sourceRoot(job)
        let relative = job.relativePath
        let sourcePath = root + "/" + relative
        let name = (relative as NSString).lastPathComponent

        let fd: Int32
        switch Self.openNoFollow(root: root, relative: relative) {
        case .success(let f): fd = f
        case .failure(let e):
            switch e.errno {
            case ENOENT: return .vanished
            case ELOOP, ENOTDIR, EMLINK:
                return fail(job, "it is a symbolic link (or lies under one); mtrnn-watch never follows links out of the inbox. Copy the photo itself into the inbox")
            case EACCES, EPERM:
                return fail(job, "mtrnn-watch may not read it (\(String(cString: strerror(e.errno)))); make it readable by the service's group and retry")
            default:
                return fail(job, "cannot open it: \(String(cString: strerror(e.errno)))")
            }
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return fail(job, "cannot stat it: \(String(cString: strerror(errno)))") }
        if FileOps.isDirectory(st) { return fail(job, "it is a directory, not a photo") }
        guard FileOps.isRegular(st) else { return fail(job, "it is not a regular file (a device, FIFO or socket)") }
        let identity = FileIdentity(st)

        let outputPath = config.outbox + "/" + relative
        let outputDirectory = FileOps.parent(outputPath)

        if job.origin == .inbox, ledger.matches(relative, identity) {
            // A record without its result (removed by hand, or written by an older
            // version before a crash) must not file the original away unprocessed.
            if let out = FileOps.lstatInfo(outputPath), FileOps.isRegular(out) {
                return dispose(job, identity: identity, report: nil)
            }
            ledger.remove(relative)
        }

        // A private copy: no writer of the inbox can change or swap what the processor reads.
        let staged = workDirectory + "/" + name
        do {
            try FileOps.makeDirectory(workDirectory, mode: 0o700)
            unlink(staged)
            try FileOps.copy(fd: fd, sourceName: sourcePath, to: staged)
        } catch {
            unlink(staged)
            if error.errno == ENOSPC || error.errno == EDQUOT { return .noSpace(reason: "\(error)") }
            if error.errno == EISDIR || error.errno == EIO { return fail(job, "cannot read it: \(error)") }
            return .abandoned(reason: "cannot stage a copy: \(error)")
        }
        defer { unlink(staged) }

        let temporary = outputDirectory + "/" + InboxNames.temporaryOutput(for: name)
        do {
            try FileOps.makeDirectory(outputDirectory)
        } catch {
            return .abandoned(reason: "cannot create the outbox directory: \(error)")
        }
        unlink(temporary)

        let report: ProcessingReport
        do {
            report = try await processor.process(input: URL(fileURLWithPath: staged),
                                                 output: URL(fileURLWithPath: temporary), progress: progress)
        } catch is CancellationError {
            unlink(temporary)
            return .abandoned(reason: "stopped before it was finished")
        } catch {
            unlink(temporary)
            if Task.isCancelled { return .abandoned(reason: "stopped before it was finished") }
            if Self.isOutOfSpace(error) { return .noSpace(reason: "\(error)") }
            // The processor read the private copy: name the file the user dropped
            // (as the processor's URL spells the copy's path, and as we do).
            var reason = "\(error)"
            for spelling in [URL(fileURLWithPath: staged).path, staged] {
                reason = reason.replacingOccurrences(of: spelling, with: sourcePath)
            }
            return fail(job, reason)
        }

        do {
            guard let outStat = FileOps.lstatInfo(temporary), FileOps.isRegular(outStat), outStat.st_size > 0 else {
                unlink(temporary)
                return fail(job, "the deblur pipeline wrote no output for it (internal error; please report it)")
            }
            try FileOps.fsyncPath(temporary, directory: false)
            // Rename first, then record: a crash between the two only means the photo
            // is deblurred again and its result replaced by the same one. Recorded
            // first, a crash before the rename left a record whose result start-up
            // removed as unfinished, and the original was archived with no result.
            try FileOps.durableRename(temporary, outputPath)
            if job.origin == .inbox { try ledger.record(relative, identity) }
        } catch {
            unlink(temporary)
            if error.errno == ENOSPC || error.errno == EDQUOT { return .noSpace(reason: "\(error)") }
            return .abandoned(reason: "cannot write the result \(outputPath): \(error)")
        }
        return dispose(job, identity: identity, report: report)
    }

    /// The result is in the outbox; now the original leaves the queue.
    private func dispose(_ job: Job, identity: FileIdentity, report: ProcessingReport?) -> JobOutcome {
        let root = sourceRoot(job)
        let source = root + "/" + job.relativePath
        // Replaced while processed: leave the new version for its own turn.
        guard let now = FileOps.lstatInfo(source), FileOps.isRegular(now), FileIdentity(now) == identity else {
            ledger.remove(job.relativePath)
            return .replaced
        }
        do {
            switch (job.origin, config.originals) {
            case (.inbox, .keep):
                break
            case (.inbox, .delete), (.failed, .delete):
                try FileOps.check(unlink(source), "remove", source)
                try FileOps.fsyncPath(FileOps.parent(source), directory: true)
            case (.inbox, .archive), (.failed, .archive), (.failed, .keep):
                let target = try place(job.relativePath, under: config.archive)
                try FileOps.move(source, to: target)
            }
            if job.origin == .failed { unlink(source + ".reason") }
            if config.originals != .keep || job.origin == .failed { ledger.remove(job.relativePath) }
        } catch {
            // The result is safe; the ledger record makes the next attempt dispose only.
            return .abandoned(reason: "the result is in the outbox but the original could not be moved: \(error)")
        }
        return report.map { .done($0) } ?? .alreadyDone
    }

    /// A free path for `relative` under `directory`, with its subdirectories made.
    private func place(_ relative: String, under directory: String, reservingSuffix: String? = nil) throws(FileError) -> String {
        let sub = (relative as NSString).deletingLastPathComponent
        let dir = sub.isEmpty ? directory : directory + "/" + sub
        try FileOps.makeDirectory(dir)
        return dir + "/" + FileOps.uniqueName(in: dir, for: (relative as NSString).lastPathComponent, reserving: reservingSuffix)
    }

    /// Moves the original to failed/ (a retried one stays there) and writes NAME.reason next to it.
    func fail(_ job: Job, _ reason: String) -> JobOutcome {
        let source = sourceRoot(job) + "/" + job.relativePath
        var target = source
        do {
            if job.origin == .inbox {
                target = try place(job.relativePath, under: config.failed, reservingSuffix: ".reason")
                try FileOps.move(source, to: target)
            }
        } catch {
            if error.errno == ENOENT { return .vanished }
            return .abandoned(reason: "\(reason); and it could not be moved to \(config.failed): \(error)")
        }
        let text = """
        file: \(job.relativePath)
        time: \(ISO8601DateFormatter().string(from: Date()))
        reason: \(reason)

        """
        try? FileOps.writeAtomically(text, to: target + ".reason")
        ledger.remove(job.relativePath)
        return .failed(reason: reason, movedTo: target)
    }

    /// ENOSPC/EDQUOT however the processor reports it: our FileError, POSIXError,
    /// or Foundation's CocoaError from Data.write (which wraps the errno).
    static func isOutOfSpace(_ error: any Error) -> Bool {
        if let fe = error as? FileError { return fe.errno == ENOSPC || fe.errno == EDQUOT }
        if let pe = error as? POSIXError { return pe.code == .ENOSPC || pe.code == .EDQUOT }
        if let ce = error as? CocoaError, ce.code == .fileWriteOutOfSpace { return true }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) || ns.code == Int(EDQUOT) { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError { return isOutOfSpace(underlying) }
        return false
    }

    enum OpenResult { case success(Int32), failure(FileError) }

    /// Opens `relative` under `root` one component at a time with O_NOFOLLOW, so
    /// neither the file nor a directory on the way may be a symbolic link.
    static func openNoFollow(root: String, relative: String) -> OpenResult {
        var dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd < 0 { return .failure(FileError(operation: "open", path: root, errno: errno)) }
        let parts = relative.split(separator: "/").map(String.init)
        guard !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            close(dirfd)
            return .failure(FileError(operation: "open", path: relative, errno: EINVAL))
        }
        for part in parts.dropLast() {
            let next = openat(dirfd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let e = errno
            close(dirfd)
            if next < 0 { return .failure(FileError(operation: "open", path: root + "/" + relative, errno: e == ENOTDIR ? ELOOP : e)) }
            dirfd = next
        }
        let fd = openat(dirfd, parts.last!, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let e = errno
        close(dirfd)
        if fd < 0 { return .failure(FileError(operation: "open", path: root + "/" + relative, errno: e)) }
        return .success(fd)
    }
}
