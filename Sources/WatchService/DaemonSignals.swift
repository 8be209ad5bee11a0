import Dispatch
@preconcurrency import Glibc

/// Routes SIGTERM/SIGINT to `stop()` and SIGHUP to `reload()` through Dispatch
/// signal sources (async-signal-safe, unlike work in a C handler).
public final class DaemonSignals: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []

    public init(daemon: WatchDaemon) {
        let queue = DispatchQueue(label: "mtrnn-watch.signals")
        for sig in [SIGTERM, SIGINT, SIGHUP] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if sig == SIGHUP { Task { await daemon.reload() } } else { Task { await daemon.stop() } }
            }
            source.resume()
            sources.append(source)
        }
    }
}
