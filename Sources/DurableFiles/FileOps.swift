import Foundation
@preconcurrency import Glibc

/// The POSIX file operations that take a path rather than an open folder
/// (`Directory`): for the administrator's own paths, which may contain links.
public enum FileOps {
    public static func check(_ result: Int32, _ operation: String, _ path: String) throws(FileError) {
        if result < 0 { throw FileError(operation: operation, path: path, errno: Glibc.errno) }
    }

    public static func lstatInfo(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    public static func isDirectory(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFDIR }
    public static func isRegular(_ st: stat) -> Bool { (st.st_mode & S_IFMT) == S_IFREG }

    /// mkdir -p: creates missing parents; an existing directory is fine.
    public static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(FileError) {
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

    public static func parent(_ path: String) -> String { PathName.parent(path).isEmpty ? "." : PathName.parent(path) }

    /// Copies from one descriptor to another until end of file.
    public static func pump(from src: Int32, sourceName: String, to dst: Int32, targetName: String) throws(FileError) {
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
                let w = buffer.withUnsafeBytes { Glibc.write(dst, $0.baseAddress! + written, n - written) }
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
    public static func writeAtomically(_ text: String, to path: String) throws(FileError) {
        try Directory.root(parent(path)).writeAtomically(text, to: PathName.last(path))
    }

    /// Writes `bytes` to `path` so that readers, and a crash, see either what
    /// was there or the whole new file: temporary file in the same folder,
    /// fsync, rename, fsync of the folder (as `Directory.writeAtomically`).
    /// `replacing: false`: EEXIST rather than replace a file that has the
    /// name. Every error names `path`, not the temporary file, which is gone
    /// by then.
    public static func write(_ bytes: [UInt8], to path: String, replacing: Bool) throws(FileError) {
        var doing = "creating a temporary file next to"
        do throws(FileError) {
            let folder = try Directory.root(parent(path))
            let (fd, tmp) = try folder.createTemporary(for: PathName.last(path), mode: 0o644)
            doing = "writing (temporary file)"
            let failure = Directory.writeAllAndSync(fd, bytes)
            close(fd)
            if failure != 0 {
                folder.removeIfPresent(tmp)
                throw FileError(operation: doing, path: path, errno: failure)
            }
            doing = "renaming the temporary file onto"
            try folder.rename(tmp, to: PathName.last(path), replacing: replacing)
            doing = "flushing to disk the folder of"
            try folder.sync()
        } catch {
            throw FileError(operation: doing, path: path, errno: error.errno)
        }
    }

    /// Whether two paths name the same file: the same path once "." and ".."
    /// and symbolic links are resolved, or the same inode (hard links, bind mounts).
    public static func sameFile(_ a: URL, _ b: URL) -> Bool {
        if a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path {
            return true
        }
        var sa = stat(), sb = stat()
        guard stat(a.path, &sa) == 0, stat(b.path, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }
}
