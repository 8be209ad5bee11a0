import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging
import Testing
import WatchControl
@testable import WatchService

/// The control socket under hostile clients, in process: a slow sender, hundreds
/// of idle connections and an oversized request must not keep a real client
/// (`mtrnnctl status`) from its answer.
@Suite(.serialized) struct ControlServerTests {
    /// A server on a fresh socket whose handler answers every request at once.
    final class Fixture: @unchecked Sendable {
        let box: Sandbox
        let server: ControlServer
        let calls = Counter()
        let log = CapturingLog()

        init(access: ControlAccess = ControlAccess(), limits: ControlServer.Limits = .init()) throws {
            box = try Sandbox()
            chmod(box.root, 0o755)
            chmod(box.path("state"), 0o755)
            let calls = self.calls
            server = try ControlServer(path: box.socket, logger: log.logger, access: access, limits: limits) { request, peer in
                calls.increment(peer)
                let report = StatusReport(state: .idle, pid: getpid(), model: "m", inbox: "i", outbox: "o", queued: 0, current: nil,
                                          done: 0, failed: 0, uptimeSeconds: 1, secondsPerPhoto: nil, megapixelsPerMinute: nil,
                                          lastError: nil, lastErrorFile: nil)
                return ControlResponse(ok: true, message: "did \(request.command.rawValue)", status: request.command == .status ? report : nil)
            }
            server.start()
        }

        deinit { server.stop() }

        /// A status request through the real client; how long it took.
        func status() -> (ControlResponse?, Duration) {
            let start = ContinuousClock.now
            let response = try? ControlClient(socketPath: box.socket).send(ControlRequest(command: .status))
            return (response, ContinuousClock.now - start)
        }
    }

    /// How many requests reached the handler, and from whom.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var uids: [uid_t?] = []
        func increment(_ peer: PeerCredentials? = nil) { lock.withLock { uids.append(peer?.uid) } }
        var value: Int { lock.withLock { uids.count } }
        var peers: [uid_t?] { lock.withLock { uids } }
    }

    /// A connection that sends `bytes` one at a time, `every` apart, on its own
    /// thread; records when the server closed it and what it answered.
    final class SlowSender: @unchecked Sendable {
        let fd: Int32
        private let lock = NSLock()
        private var closedAt: ContinuousClock.Instant?
        private var answer = Data()
        let started = ContinuousClock.now

        init(path: String, bytes: [UInt8], every: Duration) throws {
            fd = try UnixSocket.connect(path)
            let t = Thread { [self] in
                for b in bytes {
                    var byte = b
                    if send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) != 1 { break }
                    if self.poll(for: every) { break }
                }
                _ = self.poll(for: .seconds(10))
            }
            t.start()
        }

        /// Waits up to `d` for the server to answer or close; true once it closed.
        private func poll(for d: Duration) -> Bool {
            let deadline = ContinuousClock.now + d
            while ContinuousClock.now < deadline {
                if lock.withLock({ closedAt != nil }) { return true }
                var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard Glibc.poll(&pfd, 1, 20) > 0 else { continue }
                var buffer = [UInt8](repeating: 0, count: 4096)
                let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n > 0 { lock.withLock { answer.append(contentsOf: buffer[0..<n]) }; continue }
                if n == 0 || (errno != EAGAIN && errno != EINTR) {
                    lock.withLock { closedAt = .now }
                    return true
                }
            }
            return false
        }

        /// How long after connecting the server closed the connection (nil: still open).
        var closedAfter: Duration? { lock.withLock { closedAt.map { $0 - started } } }
        var response: String { lock.withLock { String(decoding: answer, as: UTF8.self) } }
        deinit { close(fd) }
    }

    @Test(.timeLimit(.minutes(1))) func statusAnswersWhileASlowClientTricklesBytes() async throws {
        // A 60 s request deadline keeps the slow client connected for its whole
        // 10 s trickle, so a server that served it first would answer the status
        // only after it, and the test needs no bound on a round trip (a 1 s bound
        // failed on a loaded machine without the server being at fault).
        let f = try Fixture(limits: .init(requestDeadline: .seconds(60)))
        // One byte every 0.3 s: a per-read timeout of 2 s never fires.
        let loris = try SlowSender(path: f.box.socket, bytes: Array("{\"version\":1,\"command\":\"status\"".utf8), every: .milliseconds(300))
        try await Task.sleep(for: .milliseconds(200))
        for _ in 0..<3 {
            let (response, took) = f.status()
            #expect(response?.ok == true)
            #expect(loris.closedAfter == nil && loris.response.isEmpty,
                    "status took \(took): answered only after the slow client was done")
        }
    }

    @Test(.timeLimit(.minutes(1))) func aSlowClientIsCutOffAtTheRequestDeadline() async throws {
        let f = try Fixture()
        let loris = try SlowSender(path: f.box.socket, bytes: [UInt8](repeating: UInt8(ascii: " "), count: 40), every: .milliseconds(200))
        #expect(await eventually(6) { loris.closedAfter != nil })
        let after = try #require(loris.closedAfter)
        #expect(after < .milliseconds(3000), "the slow client kept its connection \(after)")
        #expect(after > .milliseconds(1500), "closed before the 2 s deadline: \(after)")
        #expect(loris.response.contains("not complete within"), "\(loris.response)")
        #expect(f.calls.value == 0)
    }

    @Test(.timeLimit(.minutes(2))) func hundredsOfIdleConnectionsDoNotStarveAClient() async throws {
        // With a 60 s request deadline the idle connections are not cut off
        // while the test runs: a client they starved would wait about that
        // long, so 10 s is a bound that tells the two apart and that a loaded
        // machine does not break (1 s failed at 1.13 s under load).
        let f = try Fixture(limits: .init(requestDeadline: .seconds(60)))
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        // Non-blocking connects: a server that stops accepting fills its backlog
        // and the rest fail with EAGAIN rather than hang the test.
        // A full backlog (EAGAIN) is retried for up to 3 s in all.
        let giveUp = ContinuousClock.now + .seconds(3)
        while idle.count < 400 && ContinuousClock.now < giveUp {
            if let fd = try? Self.connectNonBlocking(f.box.socket) { idle.append(fd) } else { usleep(1000) }
        }
        #expect(idle.count >= 300, "only \(idle.count) connections accepted")
        for _ in 0..<3 {
            let (response, took) = f.status()
            #expect(response?.ok == true)
            #expect(took < .seconds(10), "status took \(took) behind \(idle.count) idle connections")
        }
    }

    @Test(.timeLimit(.minutes(1))) func anOversizedRequestIsRefusedAtOnce() async throws {
        let f = try Fixture()
        let fd = try UnixSocket.connect(f.box.socket)
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: 5)
        let start = ContinuousClock.now
        // 1 MiB without a newline; the server may close while it is still sent.
        let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 64 * 1024)
        for _ in 0..<16 where send(fd, chunk, chunk.count, Int32(MSG_NOSIGNAL)) > 0 {}
        let line = UnixSocket.readLine(fd).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(line.contains("too large"), "\(line)")
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(f.calls.value == 0)
        #expect(f.status().0?.ok == true)
    }

    @Test func requestsStillWork() throws {
        let f = try Fixture()
        let client = ControlClient(socketPath: f.box.socket)
        #expect(try client.send(ControlRequest(command: .pause)).message == "did pause")
        // A request ended by closing the write side rather than by a newline.
        let fd = try UnixSocket.connect(f.box.socket)
        defer { close(fd) }
        UnixSocket.setTimeout(fd, seconds: 5)
        _ = UnixSocket.writeAll(fd, Data("{\"version\":1,\"command\":\"resume\"}".utf8))
        shutdown(fd, Int32(SHUT_WR))
        let line = try #require(UnixSocket.readLine(fd))
        #expect(try JSONDecoder().decode(ControlResponse.self, from: line).message == "did resume")
        let bad = try client.send(ControlRequest(command: .status, version: 99))
        #expect(bad.error?.contains("version 99") == true)
    }

    @Test func evictionTakesTheOldestConnectionOfTheUserWhoHoldsTheMost() {
        let t0 = ContinuousClock.now
        func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }
        #expect(ControlServer.evictionVictim(held: [], newcomer: 0) == nil)
        // root's one old connection survives a flood from uid 65534.
        let flood: [(uid: uid_t?, opened: ContinuousClock.Instant)] = [(0, at(0)), (65534, at(3)), (65534, at(1)), (65534, at(2))]
        #expect(ControlServer.evictionVictim(held: flood, newcomer: 0) == 2)
        #expect(ControlServer.evictionVictim(held: flood, newcomer: 65534) == 2)
        // The newcomer counts for its user: 2 against 2, then the oldest goes.
        let even: [(uid: uid_t?, opened: ContinuousClock.Instant)] = [(1000, at(5)), (1000, at(6)), (1001, at(4))]
        #expect(ControlServer.evictionVictim(held: even, newcomer: 1001) == 2)
        #expect(ControlServer.evictionVictim(held: even, newcomer: 1000) == 0)
        #expect(ControlServer.evictionVictim(held: even, newcomer: nil) == 0)
    }

    @Test(.timeLimit(.minutes(1))) func atTheConnectionCapTheIdleOnesGoFirst() async throws {
        let f = try Fixture(limits: .init(maxConnections: 8))
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<50 { idle.append(try UnixSocket.connect(f.box.socket)) }
        let (response, took) = f.status()
        #expect(response?.ok == true)
        #expect(took < .seconds(1))
        // The first ones were closed with a reason; the server holds at most 8.
        UnixSocket.setTimeout(idle[0], seconds: 2)
        let line = UnixSocket.readLine(idle[0]).map { String(decoding: $0, as: UTF8.self) } ?? ""
        #expect(line.contains("too many connections"), "\(line)")
        #expect(f.log.contains("that had sent no request", at: .warning))
    }

    static let canSwitchUser = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")

    /// Another user's flood of idle connections must not close root's
    /// connection that is still sending its request.
    @Test(.enabled(if: canSwitchUser && FileManager.default.isExecutableFile(atPath: "/usr/bin/perl")), .timeLimit(.minutes(1)))
    func anotherUsersFloodDoesNotCloseRootsConnection() async throws {
        let f = try Fixture(limits: .init(maxConnections: 16, requestDeadline: .seconds(5)))
        let mine = try UnixSocket.connect(f.box.socket)
        defer { close(mine) }
        UnixSocket.setTimeout(mine, seconds: 5)
        _ = UnixSocket.writeAll(mine, Data("{\"version\":1,".utf8))
        let flood = Process()
        flood.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        flood.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/perl", "-MIO::Socket::UNIX", "-e",
                           "$| = 1; my @s; for (1..300) { my $s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or next; push @s, $s } print scalar(@s), \"\\n\"; sleep 10",
                           f.box.socket]
        let out = Pipe()
        flood.standardOutput = out
        try flood.run()
        defer { flood.terminate() }
        let count = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(count) ?? 0 >= 300, "the flood connected \(count) times")
        _ = UnixSocket.writeAll(mine, Data("\"command\":\"status\"}\n".utf8))
        let line = try #require(UnixSocket.readLine(mine))
        #expect(try JSONDecoder().decode(ControlResponse.self, from: line).ok)
        #expect(f.calls.peers == [0])
        #expect(f.log.contains("(the latest from uid 65534)"))
    }

    /// The operator check: with an operator group set, only root, the
    /// service user and that group's members may change state; the handler
    /// is told who asked.
    @Test(.enabled(if: canSwitchUser), .timeLimit(.minutes(1)))
    func stateChangesNeedTheOperatorGroup() async throws {
        let f = try Fixture(access: ControlAccess(serviceUID: 990, operatorGID: 4242))
        func ctlAs(_ gid: Int, _ args: [String]) -> CommandResult {
            runCommand(["/usr/bin/setpriv", "--reuid=65534", "--regid=\(gid)", "--clear-groups", Products.ctl] + args + ["--socket", f.box.socket])
        }
        let status = ctlAs(65534, ["status", "--json"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(f.calls.peers == [65534])
        for command in ["pause", "resume", "rescan", "retry"] {
            let refused = ctlAs(65534, command == "retry" ? [command, "x.jpg"] : [command])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("permission denied: `\(command)` is only for root, the service user and members of group 4242"), "\(refused.stderr)")
        }
        #expect(f.calls.value == 1, "a refused request reached the handler")
        #expect(f.log.contains("Refused `pause` from uid 65534", at: .warning))
        #expect(ctlAs(4242, ["pause"]).status == 0)
        #expect(ctl(nil, ["pause", "--socket", f.box.socket]).status == 0)
        #expect(f.calls.peers == [65534, 65534, 0])
        // A reload that names another group takes effect at once.
        f.server.access = ControlAccess(serviceUID: 990, operatorGID: 4343)
        #expect(ctlAs(4242, ["pause"]).status == 1)
        #expect(ctlAs(4343, ["pause"]).status == 0)
    }

    static func connectNonBlocking(_ path: String) throws -> Int32 {
        var addr = try UnixSocket.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r < 0 {
            close(fd)
            throw POSIXError(.EAGAIN)
        }
        return fd
    }
}
