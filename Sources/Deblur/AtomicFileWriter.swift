import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that readers (and a crash) see either the old file or
/// the whole new one: a hidden temporary file in the destination folder,
/// fsync, rename over the destination, fsync of the folder.
///
/// The temporary name starts with a dot and ends in `.tmp`, which the
/// daemon's watcher ignores, so an outbox that is also watched never picks
/// up a half-written photo.
public enum AtomicFileWriter {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The destination, not the temporary file, which is gone by then.
        public var path: String
        public var operation: String
        public var code: Int32
        public var description: String {
            "\(operation) \(path): \(String(cString: strerror(code)))"
        }
    }

    public static func write(_ bytes: [UInt8], to destination: URL, permissions: mode_t = 0o644) throws(Failure) {
        let folder = destination.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(
            ".\(destination.lastPathComponent).\(getpid())-\(UInt32.random(in: .min ... .max)).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else { throw Failure(path: destination.path, operation: "creating a temporary file next to", code: errno) }
        var done = false
        defer {
            if !done { unlink(temporary.path) }
        }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { raw in
                    Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(path: destination.path, operation: "writing (temporary file)", code: errno)
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw Failure(path: destination.path, operation: "flushing to disk (temporary file)", code: errno) }
        }
        guard rename(temporary.path, destination.path) == 0 else {
            throw Failure(path: destination.path, operation: "renaming the temporary file onto", code: errno)
        }
        done = true
        // The rename is durable only once the folder entry is on disk.
        let dirfd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// Whether two paths name the same file: the same path once symlinks
    /// are resolved, or the same inode (hard links, bind mounts).
    public static func sameFile(_ a: URL, _ b: URL) -> Bool {
        if a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path {
            return true
        }
        var sa = stat(), sb = stat()
        guard stat(a.path, &sa) == 0, stat(b.path, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
