import CSystemd
import Foundation
@preconcurrency import Glibc
import Logging

/// The least severe level logged (`log_level`, `--log-level`): one value
/// shared by every copy of the handler, so a reload changes it for all.
public final class LogThreshold: @unchecked Sendable {
    public static let shared = LogThreshold()
    private let lock = NSLock()
    private var value: Logger.Level

    public init(_ level: Logger.Level = .info) { value = level }

    public var level: Logger.Level {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }
}

/// A swift-log handler for a daemon. Where its records go:
/// * stderr is the journal's stream ($JOURNAL_STREAM names it): native
///   journal records with structured fields (sd_journal_send);
/// * otherwise under systemd ($INVOCATION_ID: StandardError=syslog, file:...):
///   `<N>`-prefixed lines on stderr, which journald and syslog understand;
/// * otherwise (a terminal, a file, a pipe): plain lines, warnings and worse
///   led by their level ("warning: ...").
/// Metadata keys that are valid journal field names (MTRNN_FILE, ...) become
/// fields; the rest are appended to the message. MESSAGE_ID only goes to the
/// journal.
public struct JournalLogHandler: LogHandler {
    public enum Output: Equatable, Sendable { case journal, prefixed, plain }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level {
        get { threshold.level }
        set { threshold.level = newValue }
    }
    private let identifier: String
    private let output: Output
    private let threshold: LogThreshold

    public init(label: String, identifier: String = "mtrnn-watch",
                environment: [String: String] = ProcessInfo.processInfo.environment,
                threshold: LogThreshold = .shared) {
        self.identifier = identifier
        self.output = Self.output(environment)
        self.threshold = threshold
    }

    /// Where records go in `environment` (see the type's comment).
    public static func output(_ environment: [String: String]) -> Output {
        if stderrIsJournal(environment) { return .journal }
        if let id = environment["INVOCATION_ID"], !id.isEmpty { return .prefixed }
        return .plain
    }

    /// The `log_level` names (syslog's), to swift-log's levels.
    public static let levelNames: [(name: String, level: Logger.Level)] = [
        ("debug", .debug), ("info", .info), ("notice", .notice), ("warning", .warning), ("err", .error),
    ]

    public static func level(named name: String) -> Logger.Level? {
        let n = name.lowercased()
        if n == "error" { return .error }
        return levelNames.first { $0.name == n }?.level
    }

    public static func name(of level: Logger.Level) -> String {
        levelNames.first { $0.level == level }?.name ?? (level == .critical ? "crit" : "debug")
    }

    /// $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected; it is
    /// inherited by children, so compare it with what stderr really is.
    public static func stderrIsJournal(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    static func isFieldName(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first != "_", !("0"..."9").contains(first) else { return false }
        return key.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    public func log(event: LogEvent) {
        write(level: event.level, message: event.message, metadata: event.metadata)
    }

    public func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?,
                    source: String, file: String, function: String, line: UInt) {
        write(level: level, message: message, metadata: explicit)
    }

    private func write(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?) {
        var all = metadata
        if let explicit { all.merge(explicit) { $1 } }
        let sortedKeys = all.keys.sorted()
        let priority = Self.priority(level)
        // One line: newlines inside file names would otherwise split the record.
        let text = message.description.replacingOccurrences(of: "\n", with: "\\n")
        if output == .journal {
            var fields = ["MESSAGE=\(text)", "PRIORITY=\(priority)", "SYSLOG_IDENTIFIER=\(identifier)"]
            var extra: [String] = []
            for key in sortedKeys {
                if Self.isFieldName(key) { fields.append("\(key)=\(all[key]!)") } else { extra.append("\(key)=\(all[key]!)") }
            }
            if !extra.isEmpty { fields[0] += " " + extra.joined(separator: " ") }
            Self.sendv(fields)
        } else {
            var lineText = Self.lead(priority: priority, level: level, output: output) + text
            for key in sortedKeys where key != JournalField.messageID {
                let value = "\(all[key]!)".replacingOccurrences(of: "\n", with: "\\n")
                lineText += " \(key)=\(value)"
            }
            lineText += "\n"
            // One write(2) per record: lines from threads do not interleave.
            var bytes = Array(lineText.utf8)[...]
            while !bytes.isEmpty {
                let n = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes = bytes.dropFirst(n)
            }
        }
    }

    /// What starts a line on stderr: `<N>` for journald and syslog, a level
    /// word for people (nothing for info and notice).
    static func lead(priority: Int, level: Logger.Level, output: Output) -> String {
        if output == .prefixed { return "<\(priority)>" }
        switch level {
        case .trace, .debug: return "debug: "
        case .info, .notice: return ""
        case .warning: return "warning: "
        case .error: return "error: "
        case .critical: return "critical: "
        }
    }

    private static func sendv(_ fields: [String]) {
        let buffers = fields.map { Array($0.utf8) }
        var pointers: [UnsafeMutableRawPointer] = []
        var iov: [iovec] = []
        for b in buffers {
            let p = UnsafeMutableRawPointer.allocate(byteCount: max(b.count, 1), alignment: 1)
            b.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: b.count) }
            pointers.append(p)
            iov.append(iovec(iov_base: p, iov_len: b.count))
        }
        _ = sd_journal_sendv(&iov, Int32(iov.count))
        pointers.forEach { $0.deallocate() }
    }
}
