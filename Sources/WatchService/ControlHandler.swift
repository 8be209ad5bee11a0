import DurableFiles
import Logging
import WatchControl

/// What `mtrnnctl` asks of the daemon (status, pause, resume, rescan, retry),
/// answered against the daemon's queue. The daemon adds the status to every
/// answer that succeeded and does the follow-up (wake the worker, rescan).
struct ControlHandler {
    let config: WatchConfig
    let logger: Logger

    enum FollowUp: Equatable { case none, wakeWorker, rescan }

    func handle(_ request: ControlRequest, queue: inout JobQueue) -> (ControlResponse, FollowUp) {
        switch request.command {
        case .status:
            return (ControlResponse(ok: true), .none)
        case .pause:
            queue.pause()
            let names = queue.inFlight.map(\.relativePath)
            let current = names.isEmpty ? nil : names.joined(separator: " and ")
            logger.notice("Paused by mtrnnctl\(current.map { "; finishing \($0) first" } ?? "")",
                          metadata: [JournalField.messageID: MessageID.paused.field])
            return (ControlResponse(ok: true, message: current.map { "paused; \($0) will be finished first" } ?? "paused"), .none)
        case .resume:
            queue.resume()
            logger.notice("Resumed by mtrnnctl", metadata: [JournalField.messageID: MessageID.resumed.field])
            return (ControlResponse(ok: true, message: "resumed; \(queue.count) queued"), .wakeWorker)
        case .rescan:
            return (ControlResponse(ok: true, message: "rescanning \(config.inbox)"), .rescan)
        case .retry:
            return retry(request.file, queue: &queue)
        }
    }

    /// `retry NAME`: NAME is a path under failed/, as `ls` there shows it, or
    /// that path written in full (the failed folder's configured path, then
    /// "/"), with or without ".reason". It is looked up without following
    /// links, so the answer says nothing about paths outside failed/.
    func retry(_ file: String?, queue: inout JobQueue) -> (ControlResponse, FollowUp) {
        guard let name = failedName(file) else {
            return (ControlResponse(ok: false, error: "retry needs a file: a name in \(config.failed)"), .none)
        }
        guard let name = try? name.get() else {
            let shown = Printable.escaped(file ?? "")
            return (ControlResponse(ok: false, error: "\(shown) is not in the failed directory \(config.failed); only failed photos can be retried"), .none)
        }
        let notFound = ControlResponse(ok: false, error: "no failed photo \(Printable.escaped(name)) in \(config.failed); `ls \(config.failed)` shows what failed")
        guard let parts = PathName.components(name), !InboxNames.isTemporaryOutput(parts.last!) else { return (notFound, .none) }
        guard let dir = try? Directory.root(config.failed).subdirectory(Array(parts.dropLast())),
              let st = dir.info(parts.last!), FileOps.isRegular(st) else { return (notFound, .none) }
        let job = Job(name, origin: .failed)
        guard !queue.isInFlight(job), queue.add(job, first: true) else {
            return (ControlResponse(ok: true, message: "\(Printable.escaped(name)) is already queued for a retry"), .none)
        }
        logger.notice("Retrying \(name) from \(config.failed)")
        let hint = queue.paused ? " (paused: run `mtrnnctl resume`)" : ""
        return (ControlResponse(ok: true, message: "queued \(Printable.escaped(name)) for a retry\(hint)"), .wakeWorker)
    }

    struct OutsideFailed: Error {}

    /// NAME relative to failed/ without ".reason"; nil when there is none,
    /// a failure when an absolute path lies outside failed/.
    func failedName(_ file: String?) -> Result<String, OutsideFailed>? {
        guard var name = file, !name.isEmpty else { return nil }
        if name.hasPrefix("/") {
            let failedRoot = config.failed.hasSuffix("/") ? String(config.failed.dropLast()) : config.failed
            guard name.hasPrefix(failedRoot + "/") else { return .failure(OutsideFailed()) }
            name = String(name.dropFirst(failedRoot.count + 1))
        }
        if name.hasSuffix(".reason") { name = String(name.dropLast(7)) }
        return .success(name)
    }
}
