import CSystemd
import Foundation
@preconcurrency import Glibc
import Logging

/// A swift-log handler for a daemon: native journal records with structured
/// fields when stderr is connected to the journal, `<N>`-prefixed lines on
/// stderr otherwise (which journald and syslog both understand).
/// Metadata keys that are valid journal field names (MTRNN_FILE, ...) become
/// fields; the rest are appended to the message.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let identifier: String
    private let useJournal: Bool

    public init(label: String, identifier: String = "mtrnn-watch",
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.identifier = identifier
        self.useJournal = Self.stderrIsJournal(environment)
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
        if useJournal {
            var fields = ["MESSAGE=\(text)", "PRIORITY=\(priority)", "SYSLOG_IDENTIFIER=\(identifier)"]
            var extra: [String] = []
            for key in sortedKeys {
                if Self.isFieldName(key) { fields.append("\(key)=\(all[key]!)") } else { extra.append("\(key)=\(all[key]!)") }
            }
            if !extra.isEmpty { fields[0] += " " + extra.joined(separator: " ") }
            Self.sendv(fields)
        } else {
            var lineText = "<\(priority)>\(text)"
            for key in sortedKeys {
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
