@preconcurrency import Glibc
import Foundation
import Logging

/// What the watcher tells the daemon.
public enum WatchEvent: Sendable, Equatable {
    /// A file was closed after writing or moved in: path relative to the inbox.
    case file(String)
    /// Events may have been lost (queue overflow, new directory, inbox recreated,
    /// polling tick): look at the whole inbox.
    case rescan
}

/// inotify on the inbox (and its subdirectories when recursive), or a polling
/// timer for NFS/CIFS inboxes, where other clients' writes raise no events.
/// Watches are added in `init`, before the daemon's start-up scan, so nothing
/// that arrives during the scan is missed. Reads on its own thread.
public final class InboxWatcher: @unchecked Sendable {
    private let inbox: String
    private let recursive: Bool
    private let pollSeconds: Double
    private let emit: @Sendable (WatchEvent) -> Void
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false
    private var fd: Int32 = -1
    /// Watch descriptor -> directory relative to the inbox ("" for the inbox).
    private var directories: [Int32: String] = [:]
    private var inboxLost = false

    static let fileMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)
    static let dirMask = UInt32(IN_CREATE | IN_ONLYDIR) | UInt32(IN_DELETE_SELF | IN_MOVE_SELF)

    public init(inbox: String, recursive: Bool, pollSeconds: Double, logger: Logger,
                emit: @escaping @Sendable (WatchEvent) -> Void) throws(FileError) {
        self.inbox = inbox
        self.recursive = recursive
        self.pollSeconds = pollSeconds
        self.logger = logger
        self.emit = emit
        if pollSeconds <= 0 {
            fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
            try FileOps.check(fd, "inotify_init1 for", inbox)
            do { try addWatches(relative: "") } catch {
                close(fd)
                throw error
            }
        }
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

    /// Watches `relative` and, when recursive, every directory below it (not dot-directories).
    private func addWatches(relative: String) throws(FileError) {
        let path = relative.isEmpty ? inbox : inbox + "/" + relative
        let mask = Self.fileMask | (recursive || relative.isEmpty ? Self.dirMask : 0) | UInt32(IN_DONT_FOLLOW) | UInt32(IN_ONLYDIR)
        let wd = inotify_add_watch(fd, path, mask)
        try FileOps.check(wd, "watch", path)
        lock.withLock { directories[wd] = relative }
        guard recursive else { return }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        for name in entries where !InboxNames.isIgnored(name) {
            let child = relative.isEmpty ? name : relative + "/" + name
            if let st = FileOps.lstatInfo(inbox + "/" + child), FileOps.isDirectory(st) {
                try? addWatches(relative: child)
            }
        }
    }

    private func pollLoop() {
        while !isStopped {
            let deadline = ContinuousClock.now + .milliseconds(Int64(pollSeconds * 1000))
            while !isStopped && ContinuousClock.now < deadline { usleep(100_000) }
            if !isStopped { emit(.rescan) }
        }
    }

    private func inotifyLoop() {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !isStopped {
            if lock.withLock({ inboxLost }) { rearm() }
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
                emit(.rescan)
            } else if mask & UInt32(IN_MOVED_TO) != 0 || (mask & UInt32(IN_CREATE) != 0 && WatchDaemon.looksLikePhoto(name)) {
                // Not recursive: a directory named like a photo is reported, as the scan does.
                emit(.file(relative))
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
