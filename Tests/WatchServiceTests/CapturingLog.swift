import Foundation
import Logging

/// A Logger whose records a test can read back.
final class CapturingLog: @unchecked Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
    }

    private let lock = NSLock()
    private var stored: [Record] = []

    var records: [Record] { lock.withLock { stored } }
    func contains(_ text: String, at level: Logger.Level? = nil) -> Bool {
        records.contains { $0.message.contains(text) && (level == nil || $0.level == level) }
    }
    fileprivate func append(_ r: Record) { lock.withLock { stored.append(r) } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: CapturingLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            sink.append(Record(level: event.level, message: "\(event.message)"))
        }
    }
}
