import DurableFiles
@preconcurrency import Glibc
import Foundation

/// `mtrnnctl`'s end of the control socket.
public struct ControlClient: Sendable {
    public enum Failure: Error, CustomStringConvertible {
        /// Nothing listens: the daemon is not running (mtrnnctl exits with 3).
        case notRunning(String)
        case protocolError(String)

        public var description: String {
            switch self {
            case .notRunning(let why): return why
            case .protocolError(let why): return why
            }
        }
    }

    public var socketPath: String

    public init(socketPath: String) { self.socketPath = socketPath }

    /// The socket given, or the first of the default places that exists.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit { return explicit }
        if let env = environment["MTRNN_WATCH_SOCKET"], !env.isEmpty { return env }
        for p in ControlProtocol.defaultSocketPaths where FileOps.lstatInfo(p) != nil { return p }
        return ControlProtocol.defaultSocketPaths[0]
    }

    public func send(_ request: ControlRequest) throws(Failure) -> ControlResponse {
        let fd: Int32
        do { fd = try UnixSocket.connect(socketPath) } catch {
            switch error.errno {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                throw .notRunning("mtrnn-watch is not running: nothing answers on \(socketPath) (\(String(cString: strerror(error.errno)))). Start it with `systemctl start mtrnn-watch`, or give the socket with --socket.")
            default:
                throw .protocolError("cannot reach mtrnn-watch: \(error)")
            }
        }
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: 10)
        guard var data = try? JSONEncoder().encode(request) else { throw .protocolError("cannot encode the request") }
        data.append(UInt8(ascii: "\n"))
        guard UnixSocket.writeAll(fd, data) else { throw .protocolError("mtrnn-watch closed \(socketPath) before reading the request") }
        guard let line = UnixSocket.readLine(fd, limit: 1 << 20) else {
            throw .protocolError("mtrnn-watch sent no answer on \(socketPath) within 10 s")
        }
        do { return try JSONDecoder().decode(ControlResponse.self, from: line) } catch {
            throw .protocolError("mtrnn-watch sent an answer this mtrnnctl cannot read (\(error)); are both from the same release?")
        }
    }
}
