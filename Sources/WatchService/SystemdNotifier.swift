import CSystemd
import Foundation
@preconcurrency import Glibc
import WatchControl

/// The daemon's side of the sd_notify protocol. Every call is a no-op without
/// $NOTIFY_SOCKET, so the daemon runs the same outside systemd.
public final class SystemdNotifier: @unchecked Sendable {
    private let lock = NSLock()
    private var lastWatchdog = ContinuousClock.now - .seconds(3600)
    private var lastStatus = ""
    /// WATCHDOG=1 at most this often: a quarter of WatchdogSec, at most 1 s.
    private let watchdogInterval: Duration
    public let isEnabled: Bool
    public let watchdogEnabled: Bool

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        isEnabled = environment["NOTIFY_SOCKET"] != nil
        var interval = Duration.seconds(1)
        var watchdog = false
        if let usecText = environment["WATCHDOG_USEC"], let usec = Int64(usecText), usec > 0 {
            watchdog = true
            interval = min(interval, .microseconds(usec / 4))
        }
        watchdogInterval = interval
        watchdogEnabled = watchdog
    }

    private func send(_ state: String) {
        guard isEnabled else { return }
        _ = sd_notify(0, state)
    }

    /// Each line of a notification is a command to systemd: a file name with a
    /// newline in STATUS= would send its own (`WATCHDOG_USEC=1`, `STOPPING=1`).
    static func statusField(_ text: String) -> String { "STATUS=" + Printable.escaped(text) }

    public func ready(status: String) { send("READY=1\n" + Self.statusField(status)) }

    /// STATUS=, sent only when the text changed.
    public func status(_ text: String) {
        let changed = lock.withLock { () -> Bool in
            if lastStatus == text { return false }
            lastStatus = text
            return true
        }
        if changed { send(Self.statusField(text)) }
    }

    /// WATCHDOG=1, rate limited. Called from the worker's progress and from the
    /// idle loop only while no photo is being processed, so a hung worker stops it.
    public func watchdog() {
        guard isEnabled else { return }
        let due = lock.withLock { () -> Bool in
            let now = ContinuousClock.now
            if now - lastWatchdog < watchdogInterval { return false }
            lastWatchdog = now
            return true
        }
        if due { send("WATCHDOG=1") }
    }

    public func reloading() {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let usec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)")
    }

    public func stopping(status: String) { send("STOPPING=1\n" + Self.statusField(status)) }
}
