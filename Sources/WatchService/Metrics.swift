import DurableFiles
import Foundation
import Identity
import WatchControl

// Monitoring: a node_exporter textfile collector file (`metrics_file`),
// rewritten atomically after every photo and every `metrics_interval`
// seconds, with counters that survive restarts (kept in the state directory).

extension WatchConfig {
    /// The keys of logging and monitoring, appended to `WatchConfig.keys`.
    static let monitoringKeys: [Key] = [
        Key(name: "log_level", show: { $0.logLevel }) { c, v throws(ConfigError) in
            guard let level = JournalLogHandler.level(named: v) else {
                throw .value("one of \(JournalLogHandler.levelNames.map(\.name).joined(separator: ", "))")
            }
            c.logLevel = JournalLogHandler.name(of: level)
        },
        Key(name: "metrics_file", show: { $0.metricsFile }) { c, v throws(ConfigError) in
            // node_exporter's textfile collector reads only *.prom files.
            guard v.isEmpty || (v.hasSuffix(".prom") && !v.hasSuffix("/.prom") && !v.contains("\0")) else {
                throw .value("a file name ending in .prom (node_exporter's textfile collector reads only those), or nothing to write none")
            }
            c.metricsFile = v
        },
        Key(name: "metrics_interval", show: { $0.metricsInterval == $0.metricsInterval.rounded() ? String(Int($0.metricsInterval)) : String($0.metricsInterval) }) { c, v throws(ConfigError) in
            guard let d = Double(v), (1...3600).contains(d) else { throw .value("a number of seconds from 1 to 3600") }
            c.metricsInterval = d
        },
    ]
}

/// What the metrics count across restarts. Kept in the state directory
/// (`metrics.counters`), written durably (temporary, fsync, rename, folder
/// fsync) after each photo's outcome is recorded: a crash between a photo's
/// end and that write loses at most that one photo's increment.
struct MetricsCounters: Equatable, Sendable {
    var done = 0
    var failed = 0
    var sharp = 0
    var seconds = 0.0
    var megapixels = 0.0
    /// Unix time of the last photo done; 0 before the first.
    var lastSuccess = 0.0

    static let fileName = "metrics.counters"

    /// Counts `outcome`; false when it is not a photo's final outcome (a stop,
    /// a retry later, a photo that vanished), which counts nothing.
    @discardableResult
    mutating func record(_ outcome: JobOutcome, at time: Double) -> Bool {
        switch outcome {
        case .done(let r) where r.leftAloneAsSharp != nil:
            sharp += 1
        case .leftAlone(_?):
            sharp += 1
        case .done(let r):
            done += 1
            seconds += r.seconds
            megapixels += r.megapixels
            lastSuccess = time
        case .alreadyDone:
            // The result was written before a crash that came before this count
            // was saved: counted now, its cost unknown.
            done += 1
            lastSuccess = time
        case .failed:
            failed += 1
        case .vanished, .replaced, .unsettled, .abandoned, .noSpace, .leftAlone(nil):
            return false
        }
        return true
    }

    var text: String {
        """
        # mtrnn-watch's metrics counters (metrics_file in mtrnn-watch.conf); rewritten after every photo
        done \(done)
        failed \(failed)
        sharp \(sharp)
        seconds \(seconds)
        megapixels \(megapixels)
        last_success \(lastSuccess)

        """
    }

    /// Parses `text`; nil when a line is not `name number` of a known name.
    init?(text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]), value.isFinite, value >= 0 else { return nil }
            switch parts[0] {
            case "done": done = Int(value)
            case "failed": failed = Int(value)
            case "sharp": sharp = Int(value)
            case "seconds": seconds = value
            case "megapixels": megapixels = value
            case "last_success": lastSuccess = value
            default: return nil
            }
        }
    }

    init() {}

    /// The counters saved in `stateDirectory`: zero when there are none; an
    /// error (for the journal) with zeros when the file cannot be read.
    static func load(stateDirectory: String) -> (MetricsCounters, problem: String?) {
        let path = stateDirectory + "/" + fileName
        guard FileOps.lstatInfo(path) != nil else { return (MetricsCounters(), nil) }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8),
              let counters = MetricsCounters(text: text) else {
            return (MetricsCounters(), "cannot read the metrics counters \(path); they start again from zero")
        }
        return (counters, nil)
    }

    func save(stateDirectory: String) throws(FileError) {
        try Directory.root(stateDirectory).writeAtomically(text, to: Self.fileName)
    }
}

/// The textfile collector's file: Prometheus text format 0.0.4, HELP and TYPE
/// for every family, every series present from the start (a rate over a
/// series that appears late misses its first increase).
struct MetricsFile {
    /// What the file says besides the counters.
    struct Gauges {
        var up = true
        var paused = false
        var busy = false
        var queued = 0
        var queueEtaSeconds: Double?
        var startTime = 0.0
        var version = MtrnnWatchVersion.string
        var weightsSHA256: String?
    }

    static func render(_ c: MetricsCounters, _ g: Gauges) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += name + (s.labels.isEmpty ? "" : "{\(s.labels)}") + " " + s.value + "\n" }
        }
        family("mtrnn_watch_photos_total", "counter",
               "Photos finished, by outcome: done (deblurred), failed (moved to the failed directory), skipped (left alone; reason sharp: sharp already).",
               [("outcome=\"done\"", "\(c.done)"), ("outcome=\"failed\"", "\(c.failed)"),
                ("outcome=\"skipped\",reason=\"sharp\"", "\(c.sharp)")])
        family("mtrnn_watch_processing_seconds_total", "counter", "Seconds spent deblurring the photos done.",
               [("", number(c.seconds))])
        family("mtrnn_watch_megapixels_total", "counter", "Megapixels of the photos deblurred.",
               [("", number(c.megapixels))])
        family("mtrnn_watch_last_success_timestamp_seconds", "gauge",
               "Unix time of the last photo deblurred; 0 before the first.", [("", number(c.lastSuccess))])
        family("mtrnn_watch_queue_photos", "gauge", "Photos waiting in the queue, not counting the one in progress.",
               [("", "\(g.queued)")])
        family("mtrnn_watch_queue_eta_seconds", "gauge",
               "Seconds until the queue is empty, from the recent photos' seconds per megapixel; NaN while unknown or paused.",
               [("", g.queueEtaSeconds.map(number) ?? "NaN")])
        family("mtrnn_watch_busy", "gauge", "1 while a photo is being processed.", [("", g.busy ? "1" : "0")])
        family("mtrnn_watch_paused", "gauge", "1 while paused (mtrnnctl pause, or a full disk).", [("", g.paused ? "1" : "0")])
        family("mtrnn_watch_up", "gauge", "1 while the daemon runs; it writes 0 when it stops.", [("", g.up ? "1" : "0")])
        family("mtrnn_watch_start_time_seconds", "gauge", "Unix time the daemon started.", [("", number(g.startTime))])
        family("mtrnn_watch_model_info", "gauge", "The release and the weights (SHA-256) in use; always 1.",
               [("version=\"\(label(g.version))\",weights_sha256=\"\(label(g.weightsSHA256 ?? ""))\"", "1")])
        return out
    }

    /// A sample value: Prometheus reads Go's float syntax (Swift's "1e+20",
    /// "0.5" and integers included).
    static func number(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d > 0 ? "+Inf" : "-Inf" }
        return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : "\(d)"
    }

    /// A label value: backslash, double quote and newline escaped.
    static func label(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// Writes `text` to `path` atomically: readers (node_exporter) see the
    /// old file or the new one, never half of one.
    static func write(_ text: String, to path: String) throws(FileError) {
        try FileOps.write(Array(text.utf8), to: path, replacing: true)
    }
}

/// The daemon's metrics: the counters (loaded at start, saved after each
/// photo) and the file, written after each photo and every `interval`.
struct DaemonMetrics {
    private(set) var counters: MetricsCounters
    let path: String
    let stateDirectory: String
    let interval: Duration
    let startTime: Double
    private var lastWrite = ContinuousClock.now - .seconds(86400)
    /// The last failure, reported once until a write succeeds again.
    private var failing = false

    /// nil when `metrics_file` is not set. `problem`: the saved counters could not be read.
    static func make(_ config: WatchConfig, startTime: Double) -> (DaemonMetrics?, problem: String?) {
        guard !config.metricsFile.isEmpty else { return (nil, nil) }
        let (counters, problem) = MetricsCounters.load(stateDirectory: config.stateDirectory)
        return (DaemonMetrics(counters: counters, path: config.metricsFile, stateDirectory: config.stateDirectory,
                              interval: .milliseconds(Int64(config.metricsInterval * 1000)), startTime: startTime), problem)
    }

    private init(counters: MetricsCounters, path: String, stateDirectory: String, interval: Duration, startTime: Double) {
        self.counters = counters
        self.path = path
        self.stateDirectory = stateDirectory
        self.interval = interval
        self.startTime = startTime
    }

    /// The same metrics under a new configuration (a reload): the counters carry on.
    func reconfigured(_ config: WatchConfig) -> DaemonMetrics? {
        guard !config.metricsFile.isEmpty else { return nil }
        var m = DaemonMetrics(counters: counters, path: config.metricsFile, stateDirectory: stateDirectory,
                              interval: .milliseconds(Int64(config.metricsInterval * 1000)), startTime: startTime)
        m.failing = failing
        return m
    }

    /// Counts a photo's outcome and saves the counters; returns a problem to log.
    mutating func record(_ outcome: JobOutcome, at time: Double = Date().timeIntervalSince1970) -> String? {
        guard counters.record(outcome, at: time) else { return nil }
        do { try counters.save(stateDirectory: stateDirectory) } catch {
            return "cannot save the metrics counters: \(error)"
        }
        return nil
    }

    func gauges(_ r: StatusReport, weightsSHA256: String?, up: Bool = true) -> MetricsFile.Gauges {
        MetricsFile.Gauges(up: up, paused: r.state == .paused, busy: r.current != nil, queued: r.queued,
                           queueEtaSeconds: r.queueEtaSeconds, startTime: startTime,
                           weightsSHA256: weightsSHA256)
    }

    func isDue(now: ContinuousClock.Instant = .now) -> Bool { now - lastWrite >= interval }

    /// Writes the file now (`force`) or when `interval` has passed; returns a
    /// problem to log the first time writing fails.
    mutating func write(_ gauges: MetricsFile.Gauges, force: Bool, now: ContinuousClock.Instant = .now) -> String? {
        guard force || now - lastWrite >= interval else { return nil }
        lastWrite = now
        do {
            try MetricsFile.write(MetricsFile.render(counters, gauges), to: path)
            failing = false
            return nil
        } catch {
            defer { failing = true }
            return failing ? nil : "cannot write the metrics file (metrics_file): \(error)"
        }
    }
}
