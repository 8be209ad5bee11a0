import Foundation

/// The daemon's state as `mtrnnctl status` shows it. Plain data; its JSON
/// (`mtrnnctl status --json`, and the control socket's answers) has
/// snake_case keys, every key present (null where there is no value), and a
/// top-level `version`: the schema's, raised when a key changes meaning or
/// goes away (new keys may appear within a version). mtrnnctl(1) lists the keys.
public struct StatusReport: Codable, Sendable, Equatable {
    /// The JSON schema's version (the `version` key).
    public static let schemaVersion = 1

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

        enum CodingKeys: String, CodingKey {
            case file, fractionDone = "fraction_done", tilesDone = "tiles_done", tilesTotal = "tiles_total",
                 elapsedSeconds = "elapsed_seconds", etaSeconds = "eta_seconds"
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(file, forKey: .file)
            try c.encode(fractionDone, forKey: .fractionDone)
            try c.encode(tilesDone, forKey: .tilesDone)
            try c.encode(tilesTotal, forKey: .tilesTotal)
            try c.encode(elapsedSeconds, forKey: .elapsedSeconds)
            try c.encode(etaSeconds, forKey: .etaSeconds)   // null, not left out
        }
    }

    public var state: State
    public var pid: Int32
    /// The daemon's release (`MtrnnWatchVersion`).
    public var softwareVersion: String
    public var model: String
    /// The weights' SHA-256 (hashed once at load); nil for a test processor.
    public var weightsSHA256: String?
    public var inbox: String
    public var outbox: String
    public var queued: Int
    /// Seconds until the queue is empty (the current photo and those queued),
    /// from the seconds per megapixel of recent photos; nil before the first
    /// photo was measured, or when nothing is queued or in progress.
    public var queueEtaSeconds: Double?
    public var current: CurrentPhoto?
    public var done: Int
    public var failed: Int
    public var uptimeSeconds: Double
    /// Mean over the photos done since start; nil before the first.
    public var secondsPerPhoto: Double?
    public var megapixelsPerMinute: Double?
    /// Over the recent photos (the queue's ETA is made of it); nil before the first.
    public var secondsPerMegapixel: Double?
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
                lastError: String? = nil, lastErrorFile: String? = nil, watching: String? = nil, sharp: Int? = nil,
                softwareVersion: String = "", weightsSHA256: String? = nil, queueEtaSeconds: Double? = nil,
                secondsPerMegapixel: Double? = nil) {
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
        self.softwareVersion = softwareVersion
        self.weightsSHA256 = weightsSHA256
        self.queueEtaSeconds = queueEtaSeconds
        self.secondsPerMegapixel = secondsPerMegapixel
    }

    enum CodingKeys: String, CodingKey {
        case version
        case state, pid, model, inbox, outbox, queued, current, done, failed, sharp, watching
        case softwareVersion = "software_version", weightsSHA256 = "weights_sha256"
        case queueEtaSeconds = "queue_eta_seconds", uptimeSeconds = "uptime_seconds"
        case secondsPerPhoto = "seconds_per_photo", megapixelsPerMinute = "megapixels_per_minute"
        case secondsPerMegapixel = "seconds_per_megapixel"
        case lastError = "last_error", lastErrorFile = "last_error_file"
    }

    public struct SchemaMismatch: Error, CustomStringConvertible {
        public var found: Int
        public var description: String {
            "the daemon's status has schema version \(found); this mtrnnctl reads version \(StatusReport.schemaVersion) (use the mtrnnctl of the same release)"
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version == Self.schemaVersion else { throw SchemaMismatch(found: version) }
        state = try c.decode(State.self, forKey: .state)
        pid = try c.decode(Int32.self, forKey: .pid)
        softwareVersion = try c.decode(String.self, forKey: .softwareVersion)
        model = try c.decode(String.self, forKey: .model)
        weightsSHA256 = try c.decodeIfPresent(String.self, forKey: .weightsSHA256)
        inbox = try c.decode(String.self, forKey: .inbox)
        outbox = try c.decode(String.self, forKey: .outbox)
        queued = try c.decode(Int.self, forKey: .queued)
        queueEtaSeconds = try c.decodeIfPresent(Double.self, forKey: .queueEtaSeconds)
        current = try c.decodeIfPresent(CurrentPhoto.self, forKey: .current)
        done = try c.decode(Int.self, forKey: .done)
        failed = try c.decode(Int.self, forKey: .failed)
        uptimeSeconds = try c.decode(Double.self, forKey: .uptimeSeconds)
        secondsPerPhoto = try c.decodeIfPresent(Double.self, forKey: .secondsPerPhoto)
        megapixelsPerMinute = try c.decodeIfPresent(Double.self, forKey: .megapixelsPerMinute)
        secondsPerMegapixel = try c.decodeIfPresent(Double.self, forKey: .secondsPerMegapixel)
        lastError = try c.decodeIfPresent(String.self, forKey: .lastError)
        lastErrorFile = try c.decodeIfPresent(String.self, forKey: .lastErrorFile)
        watching = try c.decodeIfPresent(String.self, forKey: .watching)
        sharp = try c.decodeIfPresent(Int.self, forKey: .sharp)
    }

    /// Every key, absent values as null: a script reads `.last_error` and gets
    /// null, never a missing key.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Self.schemaVersion, forKey: .version)
        try c.encode(state, forKey: .state)
        try c.encode(pid, forKey: .pid)
        try c.encode(softwareVersion, forKey: .softwareVersion)
        try c.encode(model, forKey: .model)
        try c.encode(weightsSHA256, forKey: .weightsSHA256)
        try c.encode(inbox, forKey: .inbox)
        try c.encode(outbox, forKey: .outbox)
        try c.encode(queued, forKey: .queued)
        try c.encode(queueEtaSeconds, forKey: .queueEtaSeconds)
        try c.encode(current, forKey: .current)
        try c.encode(done, forKey: .done)
        try c.encode(failed, forKey: .failed)
        try c.encode(sharp, forKey: .sharp)
        try c.encode(uptimeSeconds, forKey: .uptimeSeconds)
        try c.encode(secondsPerPhoto, forKey: .secondsPerPhoto)
        try c.encode(megapixelsPerMinute, forKey: .megapixelsPerMinute)
        try c.encode(secondsPerMegapixel, forKey: .secondsPerMegapixel)
        try c.encode(lastError, forKey: .lastError)
        try c.encode(lastErrorFile, forKey: .lastErrorFile)
        try c.encode(watching, forKey: .watching)
    }

    /// `mtrnnctl status --json`: pretty, sorted keys, slashes as they are.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Every value is finite and every key a string: this cannot fail.
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The human form of `mtrnnctl status`.
    /// For people, in a terminal: names and reasons come from uploaders, so
    /// control characters (escape sequences) are shown escaped (`Printable`).
    public var text: String {
        var lines: [String] = []
        lines.append("mtrnn-watch: \(state.rawValue) (pid \(pid), up \(Self.duration(uptimeSeconds)))")
        lines.append("version:  \(softwareVersion)")
        lines.append("model:    \(model)")
        if let w = weightsSHA256 { lines.append("weights:  sha256 \(w)") }
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
        var q = "queued:   \(queued)"
        if let eta = queueEtaSeconds, eta > 0 { q += " (empty in about \(Self.duration(eta)))" }
        lines.append(q)
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
