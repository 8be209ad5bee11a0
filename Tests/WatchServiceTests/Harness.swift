import Foundation
@preconcurrency import Glibc
import TestSupport
import Testing

/// A temporary working directory with the local-default layout, removed at the end.
final class Sandbox: @unchecked Sendable {
    let root: String

    init() throws {
        var template = Array("/tmp/mtrnn-watch-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: p)
        for d in ["inbox", "outbox", "archive", "failed", "state"] { mkdir(root + "/" + d, 0o755) }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ relative: String) -> String { root + "/" + relative }

    func write(_ relative: String, _ bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: path(relative), contents: Data(bytes))
    }

    func read(_ relative: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path(relative)).map { [UInt8]($0) }
    }

    func list(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(dir))) ?? []).sorted()
    }

    var socket: String { path("state/control.sock") }
}

/// Bytes that pass the fake processor's magic check; `tag` makes each file distinct.
func fakeJPEG(_ tag: String, size: Int = 64) -> [UInt8] {
    var b: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0] + Array(tag.utf8)
    while b.count < size { b.append(UInt8(b.count % 251)) }
    return b
}

/// The built executables sit next to the test bundle in the products directory.
enum Products {
    static var directory: String {
        if let d = ProcessInfo.processInfo.environment["MTRNN_PRODUCTS_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // On Linux the runner may live inside NAME.xctest/; step out of it.
        while !FileManager.default.fileExists(atPath: dir + "/mtrnn-watch"), dir.count > 1 {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }
    static var watch: String { directory + "/mtrnn-watch" }
    static var ctl: String { directory + "/mtrnnctl" }
}

/// Waits for `condition` for up to `seconds`. The default is generous: the
/// suite runs tests in parallel, each with its own daemon process, on shared
/// 2-core machines, and a daemon that is only slow must not fail a test (a
/// condition that never comes true still fails, just later).
func eventually(_ seconds: Double = 30, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}

/// The built `mtrnn-watch` as a child process in a sandbox.
final class DaemonProcess: @unchecked Sendable {
    let process = Process()
    let sandbox: Sandbox
    let logPath: String

    /// - Parameters:
    ///   - processor: MTRNN_WATCH_TEST_PROCESSOR; nil runs the real pipeline.
    ///   - launcher: a command that execs the daemon (e.g. setpriv to run it as another user).
    init(_ sandbox: Sandbox, arguments: [String] = [], environment: [String: String] = [:],
         processor: String? = "copy:0", logName: String = "daemon.log", launcher: [String] = []) throws {
        self.sandbox = sandbox
        logPath = sandbox.path(logName)
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: launcher.first ?? Products.watch)
        process.arguments = launcher.dropFirst() + (launcher.isEmpty ? [] : [Products.watch]) + ["--settle", "0.2"] + arguments
        var env = ProcessInfo.processInfo.environment
        for k in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM", "RUNTIME_DIRECTORY", "MTRNN_WATCH_SOCKET"] {
            env[k] = nil
        }
        env["MTRNN_WATCH_TEST_PROCESSOR"] = processor
        env.merge(environment) { $1 }
        process.environment = env
        process.currentDirectoryURL = URL(fileURLWithPath: sandbox.root)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until the control socket answers.
    func waitReady() async -> Bool {
        await eventually { FileManager.default.fileExists(atPath: sandbox.socket) && ctl(sandbox, ["status"]).status == 0 }
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    /// Sends SIGTERM and waits for the exit status.
    @discardableResult
    func stop() async -> Int32? {
        if process.isRunning { kill(pid, SIGTERM) }
        guard await eventually(10, { !process.isRunning }) else {
            kill(pid, SIGKILL)
            return nil
        }
        return process.terminationStatus
    }

    func kill9() async {
        kill(pid, SIGKILL)
        _ = await eventually(5) { !process.isRunning }
    }

    deinit { if process.isRunning { kill(pid, SIGKILL) } }
}

struct CommandResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs the built `mtrnnctl` against the sandbox's socket.
func ctl(_ sandbox: Sandbox?, _ arguments: [String]) -> CommandResult {
    runCommand([Products.ctl] + arguments + (sandbox.map { ["--socket", $0.socket] } ?? []),
               in: sandbox?.root, environment: ["MTRNN_WATCH_SOCKET": nil])
}

/// Runs `argv` to completion (TestSupport's launcher, shared by every test target).
func runCommand(_ argv: [String], in directory: String? = nil, environment: [String: String?] = [:]) -> CommandResult {
    let r = runProcess(argv, in: directory, environment: environment)
    return CommandResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
}

/// A fake systemd notify socket: a bound AF_UNIX datagram socket that collects
/// what the daemon sends.
final class FakeNotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(ContinuousClock.Instant, String)] = []
    private var closed = false

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let b = Array(path.utf8)
            raw.copyBytes(from: b)
            raw[b.count] = 0
        }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw POSIXError(.EADDRINUSE) }
        let t = Thread { [self] in self.loop() }
        t.start()
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !lock.withLock({ closed }) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pfd, 1, 100) <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                let text = String(decoding: buffer[0..<n], as: UTF8.self)
                lock.withLock { received.append((.now, text)) }
            }
        }
        close(fd)
    }

    var messages: [String] { lock.withLock { received.map(\.1) } }
    var timedMessages: [(ContinuousClock.Instant, String)] { lock.withLock { received } }

    func contains(_ line: String) -> Bool {
        messages.contains { $0.split(separator: "\n").contains { $0 == line || $0.hasPrefix(line) } }
    }

    func finish() { lock.withLock { closed = true } }
    deinit { finish() }
}
