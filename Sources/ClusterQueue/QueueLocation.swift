import Foundation

/// Where the shared queue is: the `queue` key. `inbox` (the default) is the
/// single-machine queue of old, the inbox itself; `postgresql://...` is a
/// PostgreSQL database that many daemons on many hosts share.
///
/// Accepted spellings, as libpq's (a subset):
///   postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]
///   postgresql://USER@/DATABASE?host=/run/postgresql      (Unix socket folder)
/// `postgres://` is the same. The password may also come from
/// $MTRNN_QUEUE_PASSWORD (so that it need not be in the configuration file).
public struct QueueLocation: Sendable, Equatable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require }

    public var user: String
    public var password: String?
    /// A host name or address; nil with a Unix socket.
    public var host: String?
    public var port: Int
    /// The folder holding the server's socket (`.s.PGSQL.PORT`).
    public var socketDirectory: String?
    public var database: String
    public var tls: TLSMode

    /// The socket's full path, where the location is a Unix socket.
    public var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    /// The location for messages and status: never the password.
    public var description: String {
        let at = socketDirectory.map { "\($0) (socket)" } ?? "\(host ?? "localhost"):\(port)"
        return "postgresql://\(user)@\(at)/\(database)"
    }

    /// The value of `queue`: nil for `inbox`, the location for a URL.
    /// Throws a message naming what is wrong with it.
    public static func parse(_ value: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(QueueLocationError) -> QueueLocation? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if v == "inbox" || v.isEmpty { return nil }
        guard v.hasPrefix("postgresql://") || v.hasPrefix("postgres://"),
              let components = URLComponents(string: v) else {
            throw QueueLocationError("`inbox` or a PostgreSQL URL postgresql://USER@HOST[:PORT]/DATABASE")
        }
        guard let user = components.user, !user.isEmpty else {
            throw QueueLocationError("a user name in the URL (postgresql://USER@HOST/DATABASE)")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw QueueLocationError("a database name in the URL (postgresql://USER@HOST/DATABASE)")
        }
        var location = QueueLocation(user: user.removingPercentEncoding ?? user,
                                     password: components.password?.removingPercentEncoding,
                                     host: components.host.flatMap { $0.isEmpty ? nil : $0 },
                                     port: components.port ?? 5432, socketDirectory: nil, database: database,
                                     tls: .prefer)
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host":
                guard let h = item.value, !h.isEmpty else { throw QueueLocationError("a value for host=") }
                if h.hasPrefix("/") { location.socketDirectory = h; location.host = nil } else { location.host = h }
            case "port":
                guard let p = item.value.flatMap(Int.init), (1...65535).contains(p) else { throw QueueLocationError("a port 1-65535") }
                location.port = p
            case "sslmode":
                guard let m = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw QueueLocationError("sslmode=disable, prefer or require")
                }
                location.tls = m
            default:
                throw QueueLocationError("only host, port and sslmode as URL parameters (not `\(item.name)`)")
            }
        }
        if location.host == nil && location.socketDirectory == nil {
            location.socketDirectory = "/run/postgresql"   // libpq's default on Debian
        }
        if location.socketDirectory != nil { location.tls = .disable }
        if location.password == nil, let p = environment["MTRNN_QUEUE_PASSWORD"], !p.isEmpty { location.password = p }
        return location
    }

    /// The `queue` line of a configuration file (key = value lines, `#`
    /// comments), for mtrnnctl, which does not load the daemon's
    /// configuration code. nil when the file sets none (inbox).
    public static func queueSetting(inConfigFile path: String) throws -> String? {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var found: String?
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            guard line[..<eq].trimmingCharacters(in: .whitespaces) == "queue" else { continue }
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            found = value
        }
        return found
    }
}

public struct QueueLocationError: Error, CustomStringConvertible, Equatable {
    /// What was expected ("a user name in the URL ...").
    public var expected: String
    public init(_ expected: String) { self.expected = expected }
    public var description: String { "expected \(expected)" }
}
