import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What a finished child process did.
public struct ProcessResult: Sendable, CustomStringConvertible {
    public var status: Int32
    public var output: Data
    public var errorOutput: Data
    /// Killed after the timeout it was given.
    public var timedOut = false

    public var stdout: String { String(decoding: output, as: UTF8.self) }
    public var stderr: String { String(decoding: errorOutput, as: UTF8.self) }
    public var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Runs `argv` to completion: the one process launcher of the test targets
/// (the built binaries, exiftool, sha256sum, mount, setpriv, ...).
/// `environment` adds to the test's own (nil removes a variable). Output goes
/// through files, not pipes: a grandchild that keeps a pipe open cannot hang
/// a test, and a large output cannot fill a pipe nobody reads yet. With
/// `timeout`, a child still running then is killed and `timedOut` says so.
public func runProcess(_ argv: [String], in directory: String? = nil, environment: [String: String?] = [:],
                       timeout: Double? = nil) -> ProcessResult {
    func failed(_ why: String) -> ProcessResult { ProcessResult(status: -1, output: Data(), errorOutput: Data(why.utf8)) }
    var template = Array("/tmp/mtrnn-test-run-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    guard fd >= 0 else { return failed("mkstemp: errno \(errno)") }
    close(fd)
    let out = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self), err = out + ".err"
    defer { unlink(out); unlink(err) }
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    guard let outHandle = FileHandle(forWritingAtPath: out), let errHandle = FileHandle(forWritingAtPath: err) else {
        return failed("cannot open \(out)")
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
    p.standardOutput = outHandle
    p.standardError = errHandle
    p.standardInput = FileHandle.nullDevice
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    do { try p.run() } catch { return failed("\(argv[0]): \(error)") }
    var timedOut = false
    if let timeout, done.wait(timeout: .now() + timeout) == .timedOut {
        kill(p.processIdentifier, SIGKILL)
        timedOut = true
        done.wait()
    } else if timeout == nil {
        done.wait()
    }
    try? outHandle.close()
    try? errHandle.close()
    return ProcessResult(status: p.terminationStatus,
                         output: FileManager.default.contents(atPath: out) ?? Data(),
                         errorOutput: FileManager.default.contents(atPath: err) ?? Data(), timedOut: timedOut)
}
