import ArgumentParser
import ClusterQueue
import Dispatch
import Foundation
import Logging
import WatchControl

/// `--cluster` for status, pause, resume and retry: the shared PostgreSQL
/// queue of `queue = postgresql://...` instead of one daemon's socket.
/// The database comes from --queue, else $MTRNN_QUEUE, else the `queue` line
/// of --config (default /etc/mtrnn-watch.conf).
struct ClusterOptions: ParsableArguments {
    @Flag(help: "The whole cluster on the shared queue (queue = postgresql://...), not this host's daemon.")
    var cluster = false

    @Option(help: ArgumentHelp("The shared queue's PostgreSQL URL (default: $MTRNN_QUEUE, else `queue` in --config).", valueName: "url"))
    var queue: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("The configuration file holding `queue` (default /etc/mtrnn-watch.conf).", valueName: "file"))
    var configFile: String?

    /// The location, or exit 78 with the remedy.
    func location() throws -> QueueLocation {
        var value = queue ?? ProcessInfo.processInfo.environment["MTRNN_QUEUE"]
        if value == nil {
            let file = configFile ?? "/etc/mtrnn-watch.conf"
            do { value = try QueueLocation.queueSetting(inConfigFile: file) } catch {
                fail("cannot read \(file) for its `queue` setting (\(error.localizedDescription)); give the queue with --queue URL", 78)
            }
            if value == nil { fail("\(file) sets no shared queue (`queue = postgresql://...`); give it with --queue URL", 78) }
        }
        do {
            guard let location = try QueueLocation.parse(value!) else {
                fail("the queue is `inbox` (one daemon, no cluster); use mtrnnctl without --cluster", 78)
            }
            return location
        } catch { fail("`queue`: \(error)", 78) }
    }

    /// Runs `body` against the queue: exit 3 when the database cannot be
    /// reached (as for a daemon that is not running), 1 when it refuses.
    func withQueue<T: Sendable>(_ body: @escaping @Sendable (PostgresQueue) async throws(QueueError) -> T) throws -> T {
        let location = try location()
        var logger = Logger(label: "mtrnnctl")
        logger.logLevel = .critical
        let box = ResultBox<T>()
        let done = DispatchSemaphore(value: 0)
        Task { [logger] in
            let queue = PostgresQueue(location: location, logger: logger)
            do throws(QueueError) { box.result = .success(try await body(queue)) } catch { box.result = .failure(error) }
            await queue.close()
            done.signal()
        }
        done.wait()
        switch box.result! {
        case .success(let value): return value
        case .failure(let error):
            if case .refused(_, let message) = error, message.contains("\"mtrnn_"), message.contains("does not exist") {
                fail("\(error): the database at \(location) has no mtrnn-watch tables yet; a watcher or worker creates "
                     + "them when it starts (mtrnn-watch --role ...), or check that the URL names the right database", 1)
            }
            fail("\(error)", error.isUnreachable ? 3 : 1)
        }
    }

    func fail(_ message: String, _ code: Int32) -> Never {
        FileHandle.standardError.write(Data("mtrnnctl: \(Printable.escaped(message))\n".utf8))
        Foundation.exit(code)
    }

    final class ResultBox<T>: @unchecked Sendable { var result: Result<T, QueueError>? }

    // The subcommands' --cluster halves.

    func status(json: Bool) throws {
        let status = try withQueue { q throws(QueueError) in
            guard try await q.schemaVersion() > 0 else { throw .refused(statement: "status", message: "no mtrnn-watch tables in this database yet: start a watcher or worker on it first") }
            return try await q.status()
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(status.text)
        }
    }

    func setPaused(_ paused: Bool) throws {
        try withQueue { q throws(QueueError) in try await q.setPaused(paused) }
        print(paused ? "paused the cluster: no worker takes a new photo (those in progress are finished)"
                     : "resumed the cluster: workers take photos again")
    }

    func retry(_ file: String) throws {
        let n = try withQueue { q throws(QueueError) in try await q.retryFailed(path: file == "*" ? nil : file) }
        guard n > 0 else {
            fail("no failed photo \(file == "*" ? "" : "`\(file)` ")in the shared queue (name it as it lies in failed/). "
                 + "A photo in failed/ that the queue does not know (it failed before this host joined the queue, or its row "
                 + "was pruned) is retried by moving it back into the shared inbox", 1)
        }
        print("queued \(n) photo\(n == 1 ? "" : "s") from failed/ again")
    }
}
