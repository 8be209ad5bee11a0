import ArgumentParser
import Foundation
import WatchControl

/// Options every control subcommand shares: where the daemon's socket is.
struct SocketOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "The daemon's control socket (default: $MTRNN_WATCH_SOCKET, /run/mtrnn-watch/control.sock, then ./state/control.sock).",
        valueName: "path"))
    var socket: String?

    /// Sends one request; maps "not running" to exit code 3 and a refused request to 1.
    func send(_ request: ControlRequest) throws -> ControlResponse {
        let client = ControlClient(socketPath: ControlClient.locate(explicit: socket))
        let response: ControlResponse
        do { response = try client.send(request) } catch {
            FileHandle.standardError.write(Data("mtrnnctl: \(error)\n".utf8))
            if case .notRunning = error { throw ExitCode(3) }
            throw ExitCode(1)
        }
        guard response.ok else {
            FileHandle.standardError.write(Data("mtrnnctl: \(Printable.escaped(response.error ?? "the daemon refused the request"))\n".utf8))
            throw ExitCode(1)
        }
        return response
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what mtrnn-watch is doing: state, queue, current photo, counts, last error.",
        discussion: "Exit status 3 when the daemon is not running.")

    @OptionGroup var options: SocketOptions
    @Flag(help: "Print the status as JSON (for scripts).") var json = false
    @OptionGroup var shared: ClusterOptions

    func run() throws {
        if shared.cluster { return try shared.status(json: json) }
        let response = try options.send(ControlRequest(command: .status))
        guard let status = response.status else { throw ExitCode(1) }
        if json {
            print(status.json)
        } else {
            print(status.text)
        }
    }
}

struct Pause: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop taking new photos (the current one is finished). Needs the service's group.")
    @OptionGroup var options: SocketOptions
    @OptionGroup var shared: ClusterOptions
    func run() throws {
        if shared.cluster { return try shared.setPaused(true) }
        print(Printable.escaped(try options.send(ControlRequest(command: .pause)).message ?? "paused"))
    }
}

struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Take photos from the queue again. Needs the service's group.")
    @OptionGroup var options: SocketOptions
    @OptionGroup var shared: ClusterOptions
    func run() throws {
        if shared.cluster { return try shared.setPaused(false) }
        print(Printable.escaped(try options.send(ControlRequest(command: .resume)).message ?? "resumed"))
    }
}

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Process a photo from the failed directory again. Needs the service's group.")
    @OptionGroup var options: SocketOptions
    @Argument(help: ArgumentHelp("The photo's name in the failed directory (or its path there).", valueName: "file"))
    var file: String
    @OptionGroup var shared: ClusterOptions
    func run() throws {
        if shared.cluster { return try shared.retry(file) }
        // Paths are resolved by the daemon, whose working directory may differ.
        // A path that exists here is sent absolute; anything else as a name in failed/.
        let local = FileManager.default.currentDirectoryPath + "/" + file
        let path = !file.hasPrefix("/") && file.contains("/") && FileManager.default.fileExists(atPath: local) ? local : file
        print(Printable.escaped(try options.send(ControlRequest(command: .retry, file: path)).message ?? "queued"))
    }
}

struct Rescan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at the whole inbox again (after events were lost). Needs the service's group.")
    @OptionGroup var options: SocketOptions
    func run() throws { print(Printable.escaped(try options.send(ControlRequest(command: .rescan)).message ?? "rescanning")) }
}
