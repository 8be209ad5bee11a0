@preconcurrency import Glibc

/// A failed system call on a named file: what was being done, to which file,
/// and errno. Reads "OPERATION PATH: strerror" ("create /srv/outbox/x.jpg:
/// Permission denied"), so that whoever shows it names the file and the cause.
public struct FileError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }

    /// No space left (ENOSPC) or over quota (EDQUOT): a reason to wait for
    /// room, not something wrong with the file.
    public var isOutOfSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}
