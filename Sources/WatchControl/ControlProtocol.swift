import Foundation

/// The control socket's protocol, shared by the daemon and `mtrnnctl`: one JSON
/// request line, one JSON response line, on a Unix stream socket.
/// A client of another version gets an error that names both versions.
public enum ControlProtocol {
    public static let version = 1
    public static let socketName = "control.sock"
    /// Where `mtrnnctl` looks when not told: the system service's socket, then the local default's.
    public static let defaultSocketPaths = ["/run/mtrnn-watch/\(socketName)", "./state/\(socketName)"]
}

public enum ControlCommand: String, Codable, Sendable, CaseIterable {
    case status, pause, resume, retry, rescan

    /// Everything but `status` changes state and is reserved to the service's group.
    public var changesState: Bool { self != .status }
}

public struct ControlRequest: Codable, Sendable, Equatable {
    public var version: Int
    public var command: ControlCommand
    /// For `retry`: a file name in failed/ (or a path ending in one).
    public var file: String?

    public init(command: ControlCommand, file: String? = nil, version: Int = ControlProtocol.version) {
        self.version = version
        self.command = command
        self.file = file
    }
}

public struct ControlResponse: Codable, Sendable, Equatable {
    public var version: Int
    public var ok: Bool
    /// What went wrong and what to do, for a person.
    public var error: String?
    /// What the command did, for a person.
    public var message: String?
    public var status: StatusReport?

    public init(ok: Bool, error: String? = nil, message: String? = nil, status: StatusReport? = nil) {
        self.version = ControlProtocol.version
        self.ok = ok
        self.error = error
        self.message = message
        self.status = status
    }
}
