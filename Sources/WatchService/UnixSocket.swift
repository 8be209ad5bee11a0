import DurableFiles
@preconcurrency import Glibc
import WatchControl

/// The daemon's listening half of the control socket (the client half is in WatchControl).
extension UnixSocket {
    static func listen(_ path: String) throws(FileError) -> Int32 {
        try socket(at: path, operation: "listen on") { fd, address, length in
            bind(fd, address, length) < 0 || Glibc.listen(fd, 128) < 0 ? -1 : 0
        }
    }

    static func setNonBlocking(_ fd: Int32) {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
}
