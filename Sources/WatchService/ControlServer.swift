import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import WatchControl

/// The daemon's end of the control socket. The socket is 0666, so any local
/// user may connect: one slow or idle client must not keep another from its
/// answer. One thread runs a poll(2) loop over every connection with
/// non-blocking reads and writes, so clients are served concurrently and a
/// connection costs a file descriptor, not a thread:
///
/// - a request must arrive whole within `Limits.requestDeadline` of the
///   connection (a total deadline that trickled bytes do not extend), and be
///   at most `Limits.maxRequestBytes` long;
/// - at most `Limits.maxConnections` connections are held; when a new one
///   comes past that, the oldest connection still sending its request, of the
///   user holding the most, is closed, so a flood of idle connections from one
///   user costs that user its own connections and nobody else's;
/// - a complete request is answered on a thread of its own (group lookups and
///   the wait for the daemon block), and the answer must be taken within
///   `Limits.responseDeadline`.
///
/// Anyone may ask for the status; requests that change state are refused
/// unless `access` permits the peer (SO_PEERCRED).
public final class ControlServer: @unchecked Sendable {
    public typealias Handler = @Sendable (ControlRequest) async -> ControlResponse
    /// A handler that is told who asked (nil when SO_PEERCRED failed, which it does not on Linux).
    public typealias PeerHandler = @Sendable (ControlRequest, PeerCredentials?) async -> ControlResponse

    public struct Limits: Sendable, Equatable {
        /// Connections held at once (each one file descriptor of the daemon's).
        public var maxConnections: Int
        /// From the connection to the request's newline (or end of stream).
        public var requestDeadline: Duration
        /// From the answer being ready to its last byte taken by the client.
        public var responseDeadline: Duration
        /// A request is one short JSON line; a longer one is refused.
        public var maxRequestBytes: Int

        public init(maxConnections: Int = 64, requestDeadline: Duration = .seconds(2),
                    responseDeadline: Duration = .seconds(2), maxRequestBytes: Int = 16 * 1024) {
            self.maxConnections = max(1, maxConnections)
            self.requestDeadline = requestDeadline
            self.responseDeadline = responseDeadline
            self.maxRequestBytes = maxRequestBytes
        }
    }

    public let path: String
    public let limits: Limits
    private let fd: Int32
    /// poll(2) wakes on this pipe when an answer is ready or the server stops.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let handler: PeerHandler
    private let logger: Logger
    private let lock = NSLock()
    private var stopped = false
    private var pipeClosed = false
    private var thread: Thread?
    private var currentAccess: ControlAccess
    /// Answers ready to be sent: connection id and the bytes.
    private var finished: [(id: UInt64, bytes: [UInt8])] = []

    // The loop thread's own state (not under the lock).
    private var connections: [Int32: Connection] = [:]
    private var nextID: UInt64 = 0
    private var evictedSinceReport = 0
    private var lastEvictionReport: ContinuousClock.Instant?
    /// After accept(2) fails for want of file descriptors, the listening socket
    /// stays readable: it is left out of poll(2) until then, not spun on.
    private var acceptPausedUntil: ContinuousClock.Instant?
    private var lastAcceptFailureReport: ContinuousClock.Instant?

    /// Binds `path`. A live daemon already answering there is an error; a
    /// stale socket file left by a crash is replaced.
    public convenience init(path: String, logger: Logger, handler: @escaping Handler) throws(FileError) {
        try self.init(path: path, logger: logger, access: ControlAccess(), limits: Limits()) { request, _ in await handler(request) }
    }

    /// - Parameters:
    ///   - access: who may change state (see `ControlAccess`); can be changed later with `access`.
    ///   - handler: called with the peer's credentials, for the daemon's log; the
    ///     server has already refused the requests `access` does not permit.
    public init(path: String, logger: Logger, access: ControlAccess, limits: Limits = Limits(),
                handler: @escaping PeerHandler) throws(FileError) {
        if let existing = try? UnixSocket.connect(path) {
            close(existing)
            throw FileError(operation: "bind control socket (another mtrnn-watch answers there; stop it first)", path: path, errno: EADDRINUSE)
        }
        unlink(path)
        fd = try UnixSocket.listen(path)
        UnixSocket.setNonBlocking(fd)
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw FileError(operation: "create a wake-up pipe for", path: path, errno: e)
        }
        for p in pipeFDs {
            UnixSocket.setNonBlocking(p)
            _ = fcntl(p, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        chmod(path, 0o666)
        self.path = path
        self.limits = limits
        self.handler = handler
        self.logger = logger
        self.currentAccess = access
    }

    /// Who may change state; set it again when the configuration is reloaded.
    public var access: ControlAccess {
        get { lock.withLock { currentAccess } }
        set { lock.withLock { currentAccess = newValue } }
    }

    public func start() {
        let t = Thread { [self] in self.loop() }
        t.name = "control-socket"
        thread = t
        t.start()
    }

    public func stop() {
        let already = lock.withLock { () -> Bool in
            defer { stopped = true }
            return stopped
        }
        guard !already else { return }
        unlink(path)
        wake()
    }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Under the lock, so that a request finishing after the loop has closed
    /// the pipe never writes to a descriptor number reused by another file.
    private func wake() {
        lock.withLock {
            guard !pipeClosed else { return }
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    private func closeDescriptors() {
        lock.withLock {
            guard !pipeClosed else { return }
            pipeClosed = true
            close(fd)
            close(wakeRead)
            close(wakeWrite)
        }
    }

    deinit {
        // Never started (the loop holds the server while it runs, and closes them itself).
        closeDescriptors()
    }

    // MARK: the loop

    private final class Connection {
        enum Phase { case reading, answering, writing }
        let id: UInt64
        let fd: Int32
        let peer: PeerCredentials?
        let opened: ContinuousClock.Instant
        var deadline: ContinuousClock.Instant
        var phase = Phase.reading
        var input: [UInt8] = []
        var output: [UInt8] = []
        var sent = 0

        init(id: UInt64, fd: Int32, peer: PeerCredentials?, deadline: ContinuousClock.Instant) {
            self.id = id
            self.fd = fd
            self.peer = peer
            self.opened = .now
            self.deadline = deadline
        }
    }

    private func loop() {
        defer {
            for c in connections.values { close(c.fd) }
            connections.removeAll()
            closeDescriptors()
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !isStopped {
            let polled = Array(connections.values.filter { $0.phase != .answering })
            let now = ContinuousClock.now
            if let until = acceptPausedUntil, until <= now { acceptPausedUntil = nil }
            let listening = acceptPausedUntil == nil
            var pfds = [pollfd(fd: listening ? fd : -1, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            for c in polled { pfds.append(pollfd(fd: c.fd, events: Int16(c.phase == .reading ? POLLIN : POLLOUT), revents: 0)) }
            var timeout = 1000
            if let next = (polled.map(\.deadline) + [acceptPausedUntil].compactMap { $0 }).min() {
                let (s, atto) = max(.zero, next - now).components
                timeout = min(timeout, Int(s) * 1000 + Int(atto / 1_000_000_000_000_000) + 1)
            }
            let r = poll(&pfds, nfds_t(pfds.count), Int32(timeout))
            if r < 0 && errno != EINTR { usleep(10_000) }
            if isStopped { break }
            if r > 0 {
                if pfds[1].revents != 0 { while read(wakeRead, &buffer, buffer.count) > 0 {} }
                for (i, c) in polled.enumerated() where pfds[i + 2].revents != 0 && connections[c.fd] === c {
                    if c.phase == .reading { receive(c, &buffer) } else { flush(c) }
                }
                if pfds[0].revents != 0 { acceptAll() }
            }
            for answer in lock.withLock({ () -> [(id: UInt64, bytes: [UInt8])] in defer { finished.removeAll() }; return finished }) {
                guard let c = connections.values.first(where: { $0.id == answer.id }) else { continue }
                c.phase = .writing
                c.output = answer.bytes
                c.deadline = .now + limits.responseDeadline
                flush(c)
            }
            expire()
        }
    }

    private func acceptAll() {
        // A bounded batch, so a connect flood cannot keep the loop from answering.
        for _ in 0..<256 {
            let client = accept(fd, nil, nil)
            if client < 0 {
                let e = errno
                if e == EAGAIN || e == EWOULDBLOCK { return }
                if e == EINTR || e == ECONNABORTED { continue }
                // Out of descriptors: an idle connection makes room, if there is one.
                if (e == EMFILE || e == ENFILE) && evict(toAdmit: nil) { continue }
                // Else (or ENOBUFS, ENOMEM): try again in a while.
                if lastAcceptFailureReport.map({ ContinuousClock.now - $0 > .seconds(60) }) ?? true {
                    lastAcceptFailureReport = .now
                    logger.warning("Control socket: cannot accept a connection: \(String(cString: strerror(e))); trying again in 0.1 s")
                }
                acceptPausedUntil = .now + .milliseconds(100)
                return
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            UnixSocket.setNonBlocking(client)
            let peer = PeerCredentials(socket: client)
            if connections.count >= limits.maxConnections && !evict(toAdmit: peer?.uid) {
                // Every held connection has sent its request: they end soon, this one may retry.
                reject(client, "mtrnn-watch is answering \(connections.count) requests; try again")
                continue
            }
            nextID &+= 1
            connections[client] = Connection(id: nextID, fd: client, peer: peer, deadline: .now + limits.requestDeadline)
        }
    }

    /// Makes room for a connection from `uid` by closing one still sending its
    /// request (see `evictionVictim`). False when no connection is still sending.
    private func evict(toAdmit uid: uid_t?) -> Bool {
        let reading = connections.values.filter { $0.phase == .reading }
        guard let i = Self.evictionVictim(held: reading.map { ($0.peer?.uid, $0.opened) }, newcomer: uid) else { return false }
        let victim = reading[i]
        reject(victim.fd, "mtrnn-watch has too many connections open (\(limits.maxConnections)); closed the oldest one that had not sent its request")
        connections[victim.fd] = nil
        evictedSinceReport += 1
        if lastEvictionReport.map({ ContinuousClock.now - $0 > .seconds(60) }) ?? true {
            logger.warning("Control socket: \(connections.count + 1) connections open (at most \(limits.maxConnections), and as many as file descriptors allow); closed \(evictedSinceReport) that had sent no request (the latest from uid \(victim.peer.map { String($0.uid) } ?? "unknown"))")
            lastEvictionReport = .now
            evictedSinceReport = 0
        }
        return true
    }

    /// Which of the connections still sending a request to close for a
    /// newcomer: the oldest of the user who holds the most of them (the
    /// newcomer counted with its user), so a user who floods the socket loses
    /// its own connections first; on a tie, the user whose oldest connection
    /// is oldest. Nil when `held` is empty.
    static func evictionVictim(held: [(uid: uid_t?, opened: ContinuousClock.Instant)], newcomer: uid_t?) -> Int? {
        guard !held.isEmpty else { return nil }
        var count: [uid_t?: Int] = [newcomer: 1]
        var oldest: [uid_t?: Int] = [:]
        for (i, h) in held.enumerated() {
            count[h.uid, default: 0] += 1
            if let o = oldest[h.uid], held[o].opened <= h.opened { continue }
            oldest[h.uid] = i
        }
        return oldest.max { a, b in
            let (na, nb) = (count[a.key]!, count[b.key]!)
            return na != nb ? na < nb : held[a.value].opened > held[b.value].opened
        }!.value
    }

    private func receive(_ c: Connection, _ buffer: inout [UInt8]) {
        while true {
            let n = recv(c.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n < 0 { drop(c); return }
            if n == 0 {
                // End of stream: what came is the request (an old client may not send a newline).
                if c.input.isEmpty { answer(c, ControlResponse(ok: false, error: "empty request")) } else { dispatch(c, c.input) }
                return
            }
            let start = c.input.count
            c.input.append(contentsOf: buffer[0..<n])
            if let nl = c.input[start...].firstIndex(of: UInt8(ascii: "\n")) {
                guard nl <= limits.maxRequestBytes else { tooLarge(c); return }
                dispatch(c, Array(c.input[..<nl]))
                return
            }
            if c.input.count > limits.maxRequestBytes { tooLarge(c); return }
        }
    }

    private func tooLarge(_ c: Connection) {
        answer(c, ControlResponse(ok: false, error: "request too large (over \(limits.maxRequestBytes) bytes); a request is one JSON line such as {\"version\":1,\"command\":\"status\"}"))
    }

    /// Answers a complete request on a thread of its own.
    private func dispatch(_ c: Connection, _ line: [UInt8]) {
        c.phase = .answering
        c.input = []
        let id = c.id, peer = c.peer
        let t = Thread { [self] in
            let response = self.respond(to: Data(line), peer: peer)
            let bytes = Self.encode(response)
            lock.withLock { finished.append((id: id, bytes: bytes)) }
            wake()
        }
        t.name = "control-request"
        t.start()
    }

    /// Answers from the loop itself: an error that needs no handler.
    private func answer(_ c: Connection, _ response: ControlResponse) {
        c.phase = .writing
        c.input = []
        c.output = Self.encode(response)
        c.deadline = .now + limits.responseDeadline
        flush(c)
    }

    private func flush(_ c: Connection) {
        while c.sent < c.output.count {
            let n = c.output.withUnsafeBytes { send(c.fd, $0.baseAddress! + c.sent, c.output.count - c.sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            if n <= 0 { break }
            c.sent += n
        }
        drop(c)
    }

    private func expire() {
        let now = ContinuousClock.now
        for c in connections.values where c.phase != .answering && c.deadline <= now {
            if c.phase == .reading {
                reject(c.fd, "request not complete within \(limits.requestDeadline); send one JSON line such as {\"version\":1,\"command\":\"status\"}")
                connections[c.fd] = nil
            } else {
                drop(c)
            }
        }
    }

    /// Closes a connection after a best-effort error line (never waits for the client).
    private func reject(_ client: Int32, _ error: String) {
        let bytes = Self.encode(ControlResponse(ok: false, error: error))
        _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        close(client)
    }

    private func drop(_ c: Connection) {
        close(c.fd)
        connections[c.fd] = nil
    }

    static func encode(_ response: ControlResponse) -> [UInt8] {
        var data = (try? JSONEncoder().encode(response)) ?? Data("{\"version\":1,\"ok\":false}".utf8)
        data.append(UInt8(ascii: "\n"))
        return [UInt8](data)
    }

    // MARK: answering

    private func respond(to line: Data, peer: PeerCredentials?) -> ControlResponse {
        if let probe = try? JSONDecoder().decode(VersionProbe.self, from: line), probe.version != ControlProtocol.version {
            return ControlResponse(ok: false, error: "protocol version \(probe.version) is not supported; this daemon speaks version \(ControlProtocol.version) (use the mtrnnctl of the same release)")
        }
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: line) else {
            return ControlResponse(ok: false, error: "malformed request (expected one JSON line: {\"version\":1,\"command\":\"status\"})")
        }
        if request.command.changesState {
            let access = self.access
            guard let peer, access.permits(peer) else {
                logger.warning("Refused `\(request.command.rawValue)` from uid \(peer.map { String($0.uid) } ?? "unknown"): not root, the service user or in group \(access.groupName)")
                return ControlResponse(ok: false, error: "permission denied: `\(request.command.rawValue)` is only for \(access.whoMay)")
            }
        }
        let box = ResponseBox()
        let semaphore = DispatchSemaphore(value: 0)
        let handler = self.handler
        Task {
            box.value = await handler(request, peer)
            semaphore.signal()
        }
        semaphore.wait()
        return box.value ?? ControlResponse(ok: false, error: "internal error")
    }

    static func groupName(_ gid: gid_t) -> String { ControlAccess.groupName(gid) }

    private struct VersionProbe: Decodable { var version: Int }
    private final class ResponseBox: @unchecked Sendable { var value: ControlResponse? }
}
