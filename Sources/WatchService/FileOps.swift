@preconcurrency import Glibc
import Foundation

/// A failed system call on a named file, with errno's text.
public struct FileError: Error, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32
    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}

/// The small set of POSIX file operations the durable queue needs, with the
/// fsyncs that make a rename survive a power cut.
enum FileOps {
    static func check(_ result: Int32, _ operation: String, _ path: String) throws(FileError) {
        if result < 0 { throw FileError(operation: operation, path: path, errno: Glibc.errno) }
    }

    static func lstatInfo(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    static func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }
    static func isRegular(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFREG }

    /// mkdir -p: creates missing parents; an existing directory is fine.
    static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(FileError) {
        if let st = lstatInfo(path) {
            if isDirectory(st) { return }
            throw FileError(operation: "create directory", path: path, errno: ENOTDIR)
        }
        let up = parent(path)
        if up != path, up != ".", up != "/" { try makeDirectory(up, mode: mode) }
        if mkdir(path, mode) != 0, Glibc.errno != EEXIST {
            throw FileError(operation: "create directory", path: path, errno: Glibc.errno)
        }
    }

    static func parent(_ path: String) -> String { PathName.parent(path).isEmpty ? "." : PathName.parent(path) }

    /// Copies from one descriptor to another until end of file.
    static func pump(from src: Int32, sourceName: String, to dst: Int32, targetName: String) throws(FileError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(src, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                throw FileError(operation: "read", path: sourceName, errno: Glibc.errno)
            }
            if n == 0 { break }
            var written = 0
            while written < n {
                let w = buffer.withUnsafeBytes { write(dst, $0.baseAddress! + written, n - written) }
                if w < 0 {
                    if Glibc.errno == EINTR { continue }
                    throw FileError(operation: "write", path: targetName, errno: Glibc.errno)
                }
                written += w
            }
        }
    }

    /// Writes a small text file atomically (exclusive temp name, fsync,
    /// rename, fsync of the folder): `Directory.writeAtomically` on its folder.
    static func writeAtomically(_ text: String, to path: String) throws(FileError) {
        try Directory.root(parent(path)).writeAtomically(text, to: PathName.last(path))
    }
}
