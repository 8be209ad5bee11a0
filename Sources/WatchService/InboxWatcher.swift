import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging

/// What the watcher tells the daemon.
public enum WatchEvent: Sendable, Equatable {
    /// A file was closed after writing or moved in: path relative to the inbox.
    case file(String)
    /// Events may have been lost (queue overflow, new directory, inbox recreated,
    /// polling tick): look at the whole inbox.
    case rescan
}

/// Which folders of the inbox inotify does not watch, and how they are looked
/// at instead. inotify_add_watch fails with ENOSPC once the user's watches
/// (fs.inotify.max_user_watches, shared by all the user's programs) run out;
/// the folders it refused, and what is below them, are then rescanned every
/// `pollSeconds` and their watches tried again.
public struct WatchCoverage: Sendable, Equatable {
    /// Folders inotify refused, relative to the inbox ("" for the inbox
    /// itself), sorted; what is below each is not watched either.
    public var unwatched: [String] = []
    /// Folders watched by inotify.
    public var watched = 0
    /// How often the unwatched folders are rescanned (and their watches retried).
    public var pollSeconds: Double
    /// Why, for a person: the limit reached, with its value, or the error.
    public var reason: String?

    public init(unwatched: [String] = [], watched: Int = 0, pollSeconds: Double, reason: String? = nil) {
        self.unwatched = unwatched
        self.watched = watched
        self.pollSeconds = pollSeconds
        self.reason = reason
    }

    /// True when inotify watches everything it should.
    public var isComplete: Bool { unwatched.isEmpty }

    /// One line for `mtrnnctl status`; nil when everything is watched.
    public var summary: String? {
        guard !unwatched.isEmpty else { return nil }
        let what = unwatched == [""] ? "the inbox is not watched by inotify"
            : "\(unwatched.count) folder\(unwatched.count == 1 ? " is" : "s are") not watched by inotify (e.g. \(unwatched.first { !$0.isEmpty } ?? ""))"
        return "\(what)\(reason.map { ": \($0)" } ?? ""); polling \(unwatched == [""] ? "it" : "them") every \(WatchCoverage.seconds(pollSeconds))"
    }

    static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s)) s" : String(format: "%.1f s", s)
    }
}

/// inotify on the inbox (and its subdirectories when recursive), or a polling
/// timer for NFS/CIFS inboxes, where other clients' writes raise no events.
/// Watches are added in `init`, before the daemon's start-up scan, so nothing
/// that arrives during the scan is missed. Reads on its own thread.
///
/// Folders inotify refuses (its per-user limits) are not dropped: they are
/// logged at error level, reported through `coverage` and `onCoverageChange`,
/// rescanned every `fallbackPollSeconds`, and watched as soon as the kernel
/// lets them be (after `sysctl fs.inotify.max_user_watches=...`).
public final class InboxWatcher: @unchecked Sendable {
    /// The two inotify calls, so that tests can run out of watches on purpose.
    struct Kernel: Sendable {
        /// inotify_init1: the descriptor, or -1 and errno.
        var initialize: @Sendable () -> (fd: Int32, errno: Int32)
        /// inotify_add_watch: the watch descriptor, or -1 and errno.
        var addWatch: @Sendable (_ fd: Int32, _ path: String, _ mask: UInt32) -> (wd: Int32, errno: Int32)

        static let system = Kernel(
            initialize: {
                let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
                return (fd, fd < 0 ? errno : 0)
            },
            addWatch: { fd, path, mask in
                let wd = inotify_add_watch(fd, path, mask)
                return (wd, wd < 0 ? errno : 0)
            })
    }

    private let inbox: String
    private let recursive: Bool
    private let pollSeconds: Double
    private let fallbackPollSeconds: Double
    private let emit: @Sendable (WatchEvent) -> Void
    private let onCoverageChange: (@Sendable (WatchCoverage) -> Void)?
    private let kernel: Kernel
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false
    private var fd: Int32 = -1
    /// Watch descriptor -> directory relative to the inbox ("" for the inbox).
    private var directories: [Int32: String] = [:]
    private var inboxLost = false
    /// Folders inotify refused -> its errno.
    private var refused: [String: Int32] = [:]
    /// What was last reported (logged and passed to onCoverageChange).
    private var reported: WatchCoverage
    private var lastErrorLog: ContinuousClock.Instant?

    static let fileMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)
    static let dirMask = UInt32(IN_CREATE | IN_ONLYDIR) | UInt32(IN_DELETE_SELF | IN_MOVE_SELF)

    /// - Parameters:
    ///   - pollSeconds: above 0, poll the inbox (no inotify).
    ///   - fallbackPollSeconds: how often folders inotify refused are rescanned.
    ///   - onCoverageChange: told when folders stop or start being watched
    ///     (from `init` too, before it returns; never after `stop()`);
    ///     `coverage` says the same.
    public convenience init(inbox: String, recursive: Bool, pollSeconds: Double, fallbackPollSeconds: Double = 10,
                            onCoverageChange: (@Sendable (WatchCoverage) -> Void)? = nil,
                            logger: Logger, emit: @escaping @Sendable (WatchEvent) -> Void) throws(FileError) {
        try self.init(inbox: inbox, recursive: recursive, pollSeconds: pollSeconds, fallbackPollSeconds: fallbackPollSeconds,
                      onCoverageChange: onCoverageChange, kernel: .system, logger: logger, emit: emit)
    }

    init(inbox: String, recursive: Bool, pollSeconds: Double, fallbackPollSeconds: Double = 10,
         onCoverageChange: (@Sendable (WatchCoverage) -> Void)? = nil, kernel: Kernel,
         logger: Logger, emit: @escaping @Sendable (WatchEvent) -> Void) throws(FileError) {
        self.inbox = inbox
        self.recursive = recursive
        self.pollSeconds = pollSeconds
        self.fallbackPollSeconds = max(0.1, fallbackPollSeconds)
        self.onCoverageChange = onCoverageChange
        self.kernel = kernel
        self.logger = logger
        self.emit = emit
        self.reported = WatchCoverage(pollSeconds: max(0.1, fallbackPollSeconds))
        if pollSeconds <= 0 {
            let (fd, e) = kernel.initialize()
            if fd < 0 {
                guard Self.isKernelLimit(e) else { throw FileError(operation: "inotify_init1 for", path: inbox, errno: e) }
                // Out of inotify instances: poll the whole inbox until one is free.
                lock.withLock { refused[""] = e }
            } else {
                self.fd = fd
                do { try addWatches(relative: "") } catch {
                    close(fd)
                    throw error
                }
            }
            reportCoverage()
        }
    }

    /// What inotify watches and what is polled instead.
    public var coverage: WatchCoverage {
        lock.withLock { makeCoverage() }
    }

    public var isPolling: Bool { pollSeconds > 0 }

    public func start() {
        let t = Thread { [self] in
            if self.pollSeconds > 0 { self.pollLoop() } else { self.inotifyLoop() }
        }
        t.name = "inbox-watcher"
        t.start()
    }

    public func stop() { lock.withLock { stopped = true } }
    private var isStopped: Bool { lock.withLock { stopped } }

    /// Watches `relative` and, when recursive, every directory below it (not
    /// dot-directories). A folder the kernel refuses for want of watches (or
    /// for any reason but its absence) is recorded and not descended into; only
    /// the inbox's own failures for other reasons are thrown.
    private func addWatches(relative: String) throws(FileError) {
        let path = relative.isEmpty ? inbox : inbox + "/" + relative
        let mask = Self.fileMask | (recursive || relative.isEmpty ? Self.dirMask : 0) | UInt32(IN_DONT_FOLLOW) | UInt32(IN_ONLYDIR)
        let (wd, e) = fd < 0 ? (-1, EBADF) : kernel.addWatch(fd, path, mask)
        if wd < 0 {
            if relative.isEmpty && !Self.isKernelLimit(e) { throw FileError(operation: "watch", path: path, errno: e) }
            // Gone or no longer a directory: nothing to watch (its parent's events tell).
            if e == ENOENT || e == ENOTDIR { return }
            lock.withLock { refused[relative] = e }
            return
        }
        lock.withLock {
            directories[wd] = relative
            refused[relative] = nil
        }
        guard recursive else { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in entries.sorted() where !InboxNames.isIgnored(name) {
            let child = relative.isEmpty ? name : relative + "/" + name
            if let st = FileOps.lstatInfo(inbox + "/" + child), FileOps.isDirectory(st) {
                try? addWatches(relative: child)
            }
        }
    }

    /// ENOSPC (watches), EMFILE (instances), ENOMEM: the kernel's limits, not the folder's fault.
    static var userName: String {
        if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
        return String(getuid())
    }

    static func isKernelLimit(_ e: Int32) -> Bool { e == ENOSPC || e == EMFILE || e == ENFILE || e == ENOMEM }

    private func makeCoverage() -> WatchCoverage {
        var c = WatchCoverage(unwatched: refused.keys.sorted(), watched: directories.count, pollSeconds: fallbackPollSeconds)
        if let e = refused.values.max(by: { Self.rank($0) < Self.rank($1) }) { c.reason = Self.reason(e) }
        return c
    }

    /// The most telling error first: a limit over a folder's own trouble.
    private static func rank(_ e: Int32) -> Int { e == ENOSPC ? 3 : e == EMFILE ? 2 : isKernelLimit(e) ? 1 : 0 }

    static func reason(_ e: Int32) -> String {
        switch e {
        case ENOSPC:
            return "the limit of \(limit("max_inotify_watches", "max_user_watches").map(String.init) ?? "?") inotify watches per user is reached (sysctl fs.inotify.max_user_watches)"
        case EMFILE:
            return "the limit of \(limit("max_inotify_instances", "max_user_instances").map(String.init) ?? "?") inotify instances per user is reached (sysctl fs.inotify.max_user_instances)"
        default:
            return String(cString: strerror(e))
        }
    }

    /// The smaller of the user namespace's limit and the system's (they are the same outside containers).
    static func limit(_ userKey: String, _ fsKey: String) -> Int? {
        [("/proc/sys/user/" + userKey), ("/proc/sys/fs/inotify/" + fsKey)]
            .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
            .compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            .min()
    }

    /// Tells the daemon and the journal when the set of refused folders changed.
    private func reportCoverage() {
        let (now, before, newlyRefused) = lock.withLock { () -> (WatchCoverage, WatchCoverage, [String]) in
            let c = makeCoverage()
            let before = reported
            reported = c
            return (c, before, c.unwatched.filter { !before.unwatched.contains($0) })
        }
        guard now.unwatched != before.unwatched || now.reason != before.reason else { return }
        if !newlyRefused.isEmpty {
            // The first refusal at once, then at most one record a minute while more come.
            let due = lock.withLock { () -> Bool in
                guard lastErrorLog.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true else { return false }
                lastErrorLog = .now
                return true
            }
            if due {
                let first = newlyRefused[0]
                let e = lock.withLock { refused[first] } ?? ENOSPC
                let folder = first.isEmpty ? inbox : inbox + "/" + first
                let scope = now.unwatched == [""] ? "The inbox is" : "\(now.unwatched.count) folder\(now.unwatched.count == 1 ? "" : "s") of the inbox (with what is below them) \(now.unwatched.count == 1 ? "is" : "are")"
                var advice = ""
                if e == ENOSPC || e == EMFILE {
                    let (key, user) = e == ENOSPC ? ("max_user_watches", "max_inotify_watches") : ("max_user_instances", "max_inotify_instances")
                    let value = Self.limit(user, key) ?? 8192
                    advice = " Every program of user \(Self.userName) counts against this limit; raise it with `sysctl -w fs.inotify.\(key)=\(max(value * 4, e == ENOSPC ? 524_288 : 1024))` (and a file in /etc/sysctl.d/ to keep it)."
                }
                logger.error("Cannot watch \(folder) with inotify: \(Self.reason(e)). \(scope) not watched; rescanning every \(WatchCoverage.seconds(fallbackPollSeconds)) instead, and trying the watches again.\(advice)", metadata: [
                    JournalField.unwatched: "\(now.unwatched.count)"])
            }
        } else if now.isComplete {
            logger.notice("inotify watches all of \(inbox) again (\(now.watched) folders)")
        }
        // A watcher replaced on reload says no more: the new one speaks for the inbox.
        if !isStopped { onCoverageChange?(now) }
    }

    /// Tries the refused folders again (shallowest first), dropping those gone;
    /// true when one is watched now.
    private func retryRefused() -> Bool {
        if fd < 0 {
            let (newFD, _) = kernel.initialize()
            guard newFD >= 0 else { return false }
            lock.withLock { fd = newFD; refused[""] = nil }
            try? addWatches(relative: "")
            return true
        }
        var gained = false
        for relative in lock.withLock({ refused.keys.sorted { $0.count < $1.count } }) {
            guard lock.withLock({ refused[relative] != nil }) else { continue }
            let path = relative.isEmpty ? inbox : inbox + "/" + relative
            guard let st = FileOps.lstatInfo(path), FileOps.isDirectory(st) else {
                lock.withLock { refused[relative] = nil }
                continue
            }
            lock.withLock { refused[relative] = nil }
            try? addWatches(relative: relative)
            if lock.withLock({ refused[relative] == nil }) { gained = true }
        }
        return gained
    }

    private func pollLoop() {
        while !isStopped {
            let deadline = ContinuousClock.now + .milliseconds(Int64(pollSeconds * 1000))
            while !isStopped && ContinuousClock.now < deadline { usleep(100_000) }
            if !isStopped { emit(.rescan) }
        }
    }

    private func inotifyLoop() {
        defer { if fd >= 0 { close(fd) } }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var nextPoll = ContinuousClock.now + .milliseconds(Int64(fallbackPollSeconds * 1000))
        while !isStopped {
            if lock.withLock({ inboxLost }) { rearm() }
            if ContinuousClock.now >= nextPoll {
                nextPoll = .now + .milliseconds(Int64(fallbackPollSeconds * 1000))
                if lock.withLock({ !refused.isEmpty }) {
                    _ = retryRefused()
                    reportCoverage()
                    // Whether or not they are watched now, files may have come in since the last look.
                    emit(.rescan)
                }
            }
            guard fd >= 0 else { usleep(250_000); continue }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 250) <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { continue }
            parse(buffer, count: n)
        }
    }

    /// The inbox was removed or moved away: try to watch it again (once a second)
    /// and rescan when it is back.
    private func rearm() {
        usleep(1_000_000)
        guard let st = FileOps.lstatInfo(inbox), FileOps.isDirectory(st) else { return }
        do {
            try addWatches(relative: "")
            lock.withLock { inboxLost = false }
            logger.notice("Inbox \(inbox) is back; watching it again")
            reportCoverage()
            emit(.rescan)
        } catch {}
    }

    /// The kernel's records: a 16-byte header (wd, mask, cookie, len) then
    /// `len` bytes of NUL-padded name, which Swift does not import.
    private func parse(_ buffer: [UInt8], count: Int) {
        var offset = 0
        while offset + 16 <= count {
            let (wd, mask, len) = buffer.withUnsafeBytes { raw -> (Int32, UInt32, Int) in
                (raw.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                 raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self),
                 Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self)))
            }
            var name = ""
            if len > 0 {
                let bytes = buffer[(offset + 16)..<min(offset + 16 + len, count)]
                let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
                // A name that is not UTF-8 cannot be named as a String (decoding would
                // replace bytes and point at no file): the scan files it under failed/.
                guard let decoded = String(validating: bytes[bytes.startIndex..<end], as: UTF8.self) else {
                    offset += 16 + len
                    if mask & UInt32(IN_ISDIR) == 0 || recursive { emit(.rescan) }
                    continue
                }
                name = decoded
            }
            offset += 16 + len
            handle(wd: wd, mask: mask, name: name)
        }
    }

    private func handle(wd: Int32, mask: UInt32, name: String) {
        if mask & UInt32(IN_Q_OVERFLOW) != 0 {
            logger.warning("inotify queue overflowed; rescanning the inbox")
            emit(.rescan)
            return
        }
        let dir = lock.withLock { directories[wd] }
        guard let dir else { return }
        if mask & UInt32(IN_IGNORED) != 0 {
            lock.withLock {
                directories[wd] = nil
                if dir.isEmpty { inboxLost = true }
            }
            if dir.isEmpty { logger.error("Inbox \(inbox) was removed or moved; waiting for it to come back") }
            return
        }
        if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF) != 0 {
            if mask & UInt32(IN_MOVE_SELF) != 0 {
                inotify_rm_watch(fd, wd)
            }
            return
        }
        guard !name.isEmpty, !InboxNames.isIgnored(name) else { return }
        let relative = dir.isEmpty ? name : dir + "/" + name
        if mask & UInt32(IN_ISDIR) != 0 {
            // A new subdirectory: watch it, then rescan for files that arrived before the watch.
            if recursive, mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                try? addWatches(relative: relative)
                reportCoverage()
                emit(.rescan)
            } else if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                // Not recursive: a folder is no photo; the scan says once that `recursive = yes` takes its photos.
                emit(.rescan)
            }
            return
        }
        if mask & Self.fileMask != 0 { emit(.file(relative)); return }
        // A symbolic link (or FIFO, socket) is never closed after writing: IN_CREATE is all it gets.
        if mask & UInt32(IN_CREATE) != 0, let st = FileOps.lstatInfo(inbox + "/" + relative), !FileOps.isRegular(st) {
            emit(.file(relative))
        }
    }
}
