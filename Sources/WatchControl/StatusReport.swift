import Foundation

/// The daemon's state as `mtrnnctl status` shows it. Plain data, serialised as is.
public struct StatusReport: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable {
        case starting, idle, working, paused, reloading, stopping
    }

    public struct CurrentPhoto: Codable, Sendable, Equatable {
        public var file: String
        public var fractionDone: Double
        public var tilesDone: Int
        public var tilesTotal: Int
        public var elapsedSeconds: Double
        /// Estimated from the progress so far; nil until there is some.
        public var etaSeconds: Double?

        public init(file: String, fractionDone: Double, tilesDone: Int, tilesTotal: Int,
                    elapsedSeconds: Double, etaSeconds: Double? = nil) {
            self.file = file
            self.fractionDone = fractionDone
            self.tilesDone = tilesDone
            self.tilesTotal = tilesTotal
            self.elapsedSeconds = elapsedSeconds
            self.etaSeconds = etaSeconds
        }
    }

    public var state: State
    public var pid: Int32
    public var model: String
    public var inbox: String
    public var outbox: String
    public var queued: Int
    public var current: CurrentPhoto?
    public var done: Int
    public var failed: Int
    public var uptimeSeconds: Double
    /// Mean over the photos done since start; nil before the first.
    public var secondsPerPhoto: Double?
    public var megapixelsPerMinute: Double?
    public var lastError: String?
    public var lastErrorFile: String?
    /// Set while inotify cannot watch all of the inbox (`WatchCoverage.summary`):
    /// which folders are polled instead, and why.
    public var watching: String?
    /// Photos left alone because they were sharp already (`sharp_photos`):
    /// copied unchanged to the outbox, or left in the inbox. Not in `done`.
    public var sharp: Int?

    // Public memberwise initialisers: the daemon (WatchService) builds these
    // values, and a struct's synthesised one is internal to its module.
    public init(state: State, pid: Int32, model: String, inbox: String, outbox: String, queued: Int,
                current: CurrentPhoto?, done: Int, failed: Int, uptimeSeconds: Double,
                secondsPerPhoto: Double? = nil, megapixelsPerMinute: Double? = nil,
                lastError: String? = nil, lastErrorFile: String? = nil, watching: String? = nil, sharp: Int? = nil) {
        self.state = state
        self.pid = pid
        self.model = model
        self.inbox = inbox
        self.outbox = outbox
        self.queued = queued
        self.current = current
        self.done = done
        self.failed = failed
        self.uptimeSeconds = uptimeSeconds
        self.secondsPerPhoto = secondsPerPhoto
        self.megapixelsPerMinute = megapixelsPerMinute
        self.lastError = lastError
        self.lastErrorFile = lastErrorFile
        self.watching = watching
        self.sharp = sharp
    }

    /// The human form of `mtrnnctl status`.
    /// For people, in a terminal: names and reasons come from uploaders, so
    /// control characters (escape sequences) are shown escaped (`Printable`).
    public var text: String {
        var lines: [String] = []
        lines.append("mtrnn-watch: \(state.rawValue) (pid \(pid), up \(Self.duration(uptimeSeconds)))")
        lines.append("model:    \(model)")
        lines.append("inbox:    \(inbox)")
        lines.append("outbox:   \(outbox)")
        if let c = current {
            var l = "current:  \(c.file): \(Int((c.fractionDone * 100).rounded(.down)))%"
            if c.tilesTotal > 0 { l += " (tile \(c.tilesDone)/\(c.tilesTotal))" }
            l += ", \(Self.duration(c.elapsedSeconds)) elapsed"
            if let eta = c.etaSeconds { l += ", about \(Self.duration(eta)) left" }
            lines.append(l)
        } else {
            lines.append("current:  none")
        }
        lines.append("queued:   \(queued)")
        lines.append("done:     \(done)")
        lines.append("failed:   \(failed)")
        if let s = sharp, s > 0 { lines.append("sharp:    \(s) (left alone: sharp already)") }
        if let s = secondsPerPhoto {
            var l = "speed:    \(Self.duration(s)) per photo"
            if let mp = megapixelsPerMinute, mp > 0 { l += String(format: ", %.2f megapixels/minute", mp) }
            lines.append(l)
        }
        if let w = watching { lines.append("watching: \(w)") }
        if let e = lastError { lines.append("last error: \(e)") }
        return lines.map(Printable.escaped).joined(separator: "\n")
    }

    /// The one duration format of mtrnnctl: "8.3 s", "95 s", "3 min 4 s", "2 h 5 min".
    public static func duration(_ s: Double) -> String {
        if s < 10 { return String(format: "%.1f s", s) }
        let t = Int(s.rounded())
        if t < 120 { return "\(t) s" }
        if t < 7200 { return "\(t / 60) min \(t % 60) s" }
        return "\(t / 3600) h \(t % 3600 / 60) min"
    }
}

