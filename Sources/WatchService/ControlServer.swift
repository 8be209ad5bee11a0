@preconcurrency import Glibc
import Foundation
import Logging

/// The daemon's end of the control socket. Accepts on its own thread (blocking
/// calls stay off Swift's small cooperative pool) and hands each request to
/// `handler`. Anyone may ask for the status (the socket is 0666); requests that
/// change state are refused unless the peer may change state (SO_PEERCRED).
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse

    public let path: String
    private let fd: Int32
    private let handler: Handler
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false
    private var thread: Thread?

    /// Binds `path`. A live daemon already answering there is an error; a
    /// stale socket file left by a crash is replaced.
    public init(path: String, logger: Logger, handler: @escaping Handler) throws(FileError) {
        if let existing = try? UnixSocket.connect(path) {
            close(existing)
            throw FileError(operation: "bind control socket (another mtrnn-watch answers there; stop it first)", path: path, errno: EADDRINUSE)
        }
        unlink(path)
        fd = try UnixSocket.listen(path)
        chmod(path, 0o666)
        self.path = path
        self.handler = handler
        self.logger = logger
    }

    public func start() {
        let t = Thread { [self] in self.acceptLoop() }
        t.name = "control-socket"
        thread = t
        t.start()
    }

    public func stop() {
        lock.withLock { stopped = true }
        unlink(path)
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    private func acceptLoop() {
        defer { close(fd) }
        while !isStopped {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&pfd, 1, 200)
            if r <= 0 { continue }
            let client = accept(fd, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            serve(client)
            close(client)
        }
    }

    private func serve(_ client: Int32) {
        UnixSocket.setTimeout(client, seconds: 2)
        let response: ControlResponse
        if let line = UnixSocket.readLine(client) {
            response = respond(to: line, peer: PeerCredentials(socket: client))
        } else {
            response = ControlResponse(ok: false, error: "empty request")
        }
        var data = (try? JSONEncoder().encode(response)) ?? Data("{\"version\":1,\"ok\":false}".utf8)
        data.append(UInt8(ascii: "\n"))
        _ = UnixSocket.writeAll(client, data)
    }

    private func respond(to line: Data, peer: PeerCredentials?) -> ControlResponse {
        if let probe = try? JSONDecoder().decode(VersionProbe.self, from: line), probe.version != ControlProtocol.version {
            return ControlResponse(ok: false, error: "protocol version \(probe.version) is not supported; this daemon speaks version \(ControlProtocol.version) (use the mtrnnctl of the same release)")
        }
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: line) else {
            return ControlResponse(ok: false, error: "malformed request (expected one JSON line: {\"version\":1,\"command\":\"status\"})")
        }
        if request.command.changesState {
            guard let peer, peer.mayChangeState() else {
                let group = Self.groupName(getgid())
                logger.warning("Refused `\(request.command.rawValue)` from uid \(peer.map { String($0.uid) } ?? "unknown"): not in group \(group)")
                return ControlResponse(ok: false, error: "permission denied: `\(request.command.rawValue)` is only for root, the service user and members of group \(group)")
            }
        }
        let box = ResponseBox()
        let semaphore = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            box.value = await handler(request)
            semaphore.signal()
        }
        semaphore.wait()
        return box.value ?? ControlResponse(ok: false, error: "internal error")
    }

    static func groupName(_ gid: gid_t) -> String {
        if let g = getgrgid(gid), let name = g.pointee.gr_name { return String(cString: name) }
        return String(gid)
    }

    private struct VersionProbe: Decodable { var version: Int }
    private final class ResponseBox: @unchecked Sendable { var value: ControlResponse? }
}
