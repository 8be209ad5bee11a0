import ClusterQueue
import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchService

/// What identifies one version of a photo in the queue: its path, size,
/// mtime and a hash of its content.
enum WatchedFile {
    static func mtimeNanoseconds(_ st: stat) -> Int { Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec) }

    /// FNV-1a 64 of the whole content, hex; nil when it cannot be read.
    static func contentHash(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            for i in 0..<n { h = (h ^ UInt64(buffer[i])) &* 0x100_0000_01b3 }
        }
        return String(h, radix: 16)
    }
}

/// The watcher role: finds settled photos in the shared inbox and queues
/// them. Any number of watchers may run: a photo's version (path, size,
/// mtime, content hash) is queued once, whoever sees it first. inotify
/// wakes it where the inbox is local; `poll_seconds` (NFS, CIFS: inotify
/// sees only this host's writes) scans instead.
struct ClusterWatcher: Sendable {
    let config: WatchConfig
    let queue: PostgresQueue
    let name: String
    let logger: Logger
    let notifier: SystemdNotifier
    let stop: StopFlag

    final class Wakeup: @unchecked Sendable {
        private let lock = NSLock()
        private var dirty = true
        func set() { lock.withLock { dirty = true } }
        func take() -> Bool { lock.withLock { defer { dirty = false }; return dirty } }
    }

    func run() async {
        let wakeup = Wakeup()
        var inotify: InboxWatcher?
        do {
            inotify = try InboxWatcher(inbox: config.inbox, recursive: config.recursive, pollSeconds: config.pollSeconds,
                                       logger: logger) { _ in wakeup.set() }
            if config.pollSeconds <= 0 { inotify?.start() }
        } catch {
            logger.warning("cannot watch \(config.inbox) with inotify (\(error)); scanning it every 2 s instead")
        }
        defer { inotify?.stop() }
        // Old finished jobs are deleted beside the scans, at start and hourly,
        // on a connection of their own: a batch streaming 10,000 rows never
        // holds up an insert.
        let retention = Task { [config, queue, logger, stop] in
            let own = PostgresQueue(location: queue.location, logger: logger)
            await ClusterRetention(config: config, queue: own, logger: logger).run(stop: stop)
            await own.close()
        }
        let scanEvery: Duration = .milliseconds(Int64((config.pollSeconds > 0 ? config.pollSeconds : 5) * 1000))
        var lastScan = ContinuousClock.now - scanEvery
        // Seen, not yet queued: path -> (size, mtime ns, unchanged since).
        var settling: [String: (Int, Int, ContinuousClock.Instant)] = [:]
        // Queued (or found queued) by this watcher: path -> "size:mtime".
        var queued: [String: String] = [:]
        var backoff = Backoff()
        while !stop.isSet {
            let due = ContinuousClock.now - lastScan >= scanEvery
            guard wakeup.take() || due || !settling.isEmpty else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            lastScan = .now
            let files = scan()
            let present = Set(files.map(\.path))
            settling = settling.filter { present.contains($0.key) }
            queued = queued.filter { present.contains($0.key) }
            var failed = false
            for f in files where !failed {
                let version = "\(f.size):\(f.mtime)"
                if queued[f.path] == version { continue }
                guard let s = settling[f.path], s.0 == f.size, s.1 == f.mtime else {
                    settling[f.path] = (f.size, f.mtime, .now)
                    continue
                }
                guard ContinuousClock.now - s.2 >= .seconds(config.settleSeconds) else { continue }
                guard let hash = WatchedFile.contentHash(config.inbox + "/" + f.path) else { continue }
                do {
                    if try await queue.insert(path: f.path, size: f.size, mtimeNanoseconds: f.mtime, contentHash: hash) {
                        logger.info("queued: \(f.path)", metadata: ["MTRNN_FILE": "\(f.path)", "MTRNN_OUTCOME": "queued"])
                    }
                    queued[f.path] = version
                    settling[f.path] = nil
                    if backoff.failures > 0 {
                        logger.notice("the queue database \(queue.location) is reachable again")
                        backoff = Backoff()
                    }
                } catch {
                    failed = true
                    await ClusterWorker.unreachable(error, &backoff, logger: logger, notifier: notifier, what: "watcher")
                }
            }
            if !failed && settling.isEmpty { try? await Task.sleep(for: .milliseconds(200)) }
            else if !failed { try? await Task.sleep(for: .milliseconds(200)) }
        }
        retention.cancel()
        await retention.value
    }

    struct Found { var path: String; var size: Int; var mtime: Int }

    /// Regular files of the inbox (recursive: and of its folders), without
    /// what uploaders and we write on the way (InboxNames), never through a link.
    func scan() -> [Found] {
        var found: [Found] = []
        func walk(_ relative: String) {
            let dirPath = relative.isEmpty ? config.inbox : config.inbox + "/" + relative
            guard let dir = try? Directory.root(dirPath) else { return }
            for raw in dir.entries() {
                guard let n = String(validating: raw, as: UTF8.self), !InboxNames.isIgnored(n), !InboxNames.isTemporaryOutput(n),
                      let st = dir.info(n) else { continue }
                let rel = relative.isEmpty ? n : relative + "/" + n
                if FileOps.isRegular(st) {
                    found.append(Found(path: rel, size: Int(st.st_size), mtime: WatchedFile.mtimeNanoseconds(st)))
                } else if FileOps.isDirectory(st), config.recursive {
                    walk(rel)
                }
            }
        }
        walk("")
        return found
    }
}
