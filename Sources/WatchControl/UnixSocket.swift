import DurableFiles
@preconcurrency import Glibc
import Foundation

/// The AF_UNIX stream-socket calls of the control socket's client side (the
/// daemon's listening half extends this in WatchService).
public enum UnixSocket {
    public static func address(_ path: String) throws(FileError) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else { throw FileError(operation: "use socket path (too long)", path: path, errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    public static func connect(_ path: String) throws(FileError) -> Int32 {
        try socket(at: path, operation: "connect to") { Glibc.connect($0, $1, $2) }
    }

    /// A new AF_UNIX stream socket, and `call` (connect, or bind and listen)
    /// with `path`'s address; the socket is closed if `call` returns < 0.
    public static func socket(at path: String, operation: String,
                              _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(FileError) -> Int32 {
        var addr = try address(path)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try FileOps.check(fd, "create socket for", path)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if r < 0 {
            let e = errno
            close(fd)
            throw FileError(operation: operation, path: path, errno: e)
        }
        return fd
    }

    public static func setTimeout(_ fd: Int32, seconds: Int) {
        var tv = timeval()
        tv.tv_sec = seconds
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads until a newline or end of stream (at most `limit` bytes).
    public static func readLine(_ fd: Int32, limit: Int = 1 << 16) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            data.append(contentsOf: buffer[0..<n])
            if buffer[0..<n].contains(UInt8(ascii: "\n")) { break }
        }
        if let nl = data.firstIndex(of: UInt8(ascii: "\n")) { return data[data.startIndex..<nl] }
        return data.isEmpty ? nil : data
    }

    public static func writeAll(_ fd: Int32, _ data: Data) -> Bool {
        var sent = 0
        let bytes = [UInt8](data)
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
