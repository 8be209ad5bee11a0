import CDurableFiles
@preconcurrency import Glibc

/// An open directory, and the file operations done in it, all relative to
/// its descriptor (openat, mkdirat, renameat2, unlinkat, fstatat) and none
/// following a symbolic link.
///
/// What makes a write durable lives here and only here: a new file is
/// written under a temporary name (`TemporaryName`, created O_EXCL), fsynced,
/// renamed into place (never over an existing result where the caller says
/// so), and then the folder is fsynced, so that after a crash the name holds
/// either nothing or the whole file.
///
/// The inbox and failed/ are writable by every uploader. A path string walked
/// again for each operation lets one of them swap a folder for a link between
/// two steps, and send the daemon's writes, moves and deletions anywhere the
/// service user may write (the outbox, the state folder). A descriptor names
/// the folder that was opened, whatever its name points at later.
public final class Directory: @unchecked Sendable {
    public let fd: Int32
    /// For messages only: never opened again by this name.
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// A configured root (inbox, outbox, failed, archive, state): the
    /// administrator's path, which may contain links.
    /// `create`: made (with its parents) if missing, as at start-up: one removed
    /// while the daemon runs comes back.
    public static func root(_ path: String, create: Bool = false) throws(FileError) -> Directory {
        if create { try FileOps.makeDirectory(path) }
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileError(operation: "open", path: path, errno: errno) }
        return Directory(fd: fd, path: path)
    }

    /// The folder `components` below this one, never through a link (ELOOP);
    /// missing ones are made when `create`.
    public func subdirectory(_ components: [String], create: Bool = false, mode: mode_t = 0o755) throws(FileError) -> Directory {
        var current = self
        for c in components {
            let name = current.path + "/" + c
            var fd = openat(current.fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0, errno == ENOENT, create {
                if mkdirat(current.fd, c, mode) != 0, errno != EEXIST {
                    throw FileError(operation: "create directory", path: name, errno: errno)
                }
                fd = openat(current.fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            if fd < 0 {
                // O_NOFOLLOW|O_DIRECTORY on a link reports ENOTDIR or ELOOP: say "link" either way,
                // unless it really is a plain file.
                var e = errno
                if e == ENOTDIR, let st = current.info(c), (st.st_mode & S_IFMT) == S_IFLNK { e = ELOOP }
                throw FileError(operation: "open", path: name, errno: e)
            }
            current = Directory(fd: fd, path: name)
        }
        return current
    }

    /// lstat of an entry.
    public func info(_ name: String) -> stat? {
        var st = stat()
        return fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    public func exists(_ name: String) -> Bool { info(name) != nil }

    /// Opens an entry for reading, refusing a link (ELOOP) and never blocking on a FIFO.
    public func openForReading(_ name: String) throws(FileError) -> Int32 {
        let fd = openat(self.fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw FileError(operation: "open", path: path + "/" + name, errno: errno) }
        return fd
    }

    /// Creates a new file; fails (EEXIST) if the name is taken by anything,
    /// a link or a hard link planted there included.
    public func createExclusive(_ name: String, mode: mode_t = 0o644) throws(FileError) -> Int32 {
        let fd = openat(self.fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        if fd < 0 { throw FileError(operation: "create", path: path + "/" + name, errno: errno) }
        return fd
    }

    public func remove(_ name: String) throws(FileError) {
        if unlinkat(fd, name, 0) != 0 { throw FileError(operation: "remove", path: path + "/" + name, errno: errno) }
    }

    /// Removes an entry if it is there; errors other than "not there" are ignored.
    public func removeIfPresent(_ name: String) { unlinkat(fd, name, 0) }

    public func sync() throws(FileError) {
        if fsync(fd) != 0 { throw FileError(operation: "fsync", path: path, errno: errno) }
    }

    /// The names in this folder ("." and ".." left out).
    public func entries() -> [[UInt8]] {
        let copy = dup(fd)
        guard copy >= 0, let dir = fdopendir(copy) else { return [] }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    /// A name here not taken yet: NAME, then STEM-1.EXT, STEM-2.EXT, ... Names
    /// at NAME_MAX (255 bytes, the reserved suffix ".reason" included) are
    /// shortened so that the suffix fits. Taking it is up to the caller's
    /// exclusive create or no-replace rename, which fail if another took it first.
    public func uniqueName(for name: String, reserving extra: String? = nil) -> String {
        func taken(_ n: String) -> Bool { exists(n) || (extra.map { exists(n + $0) } ?? false) }
        let room = 255 - (extra?.utf8.count ?? 0) - 8
        let name = name.utf8.count + (extra?.utf8.count ?? 0) > 255 ? PathName.shortened(name, toBytes: room) : name
        if !taken(name) { return name }
        let ext = PathName.pathExtension(name)
        var stem = PathName.stem(name)
        if name.utf8.count > room { stem = PathName.shortened(stem, toBytes: room - ext.utf8.count - 1) }
        var i = 1
        while true {
            let candidate = ext.isEmpty ? "\(stem)-\(i)" : "\(stem)-\(i).\(ext)"
            if !taken(candidate) { return candidate }
            i += 1
        }
    }

    /// A new file under a fresh temporary name for `name` here
    /// (`TemporaryName`), created O_EXCL: nothing planted under that name, a
    /// link or a hard link, is written through.
    func createTemporary(for name: String, mode: mode_t) throws(FileError) -> (fd: Int32, name: String) {
        let tmp = TemporaryName.make(for: name)
        return (try createExclusive(tmp, mode: mode), tmp)
    }

    /// Writes all of `bytes` to `fd` and fsyncs it: 0, or the errno that stopped it.
    static func writeAllAndSync(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += n
        }
        return fsync(fd) == 0 ? 0 : errno
    }

    /// Writes `bytes` under a fresh temporary name for `name` here and fsyncs
    /// it; returns that name. Nothing is left behind when it fails. Taking the
    /// final name is the caller's next step: `move` (never over an earlier
    /// file) or `rename`.
    public func writeTemporary(_ bytes: [UInt8], for name: String, mode: mode_t = 0o644) throws(FileError) -> String {
        let (out, tmp) = try createTemporary(for: name, mode: mode)
        let failure = Self.writeAllAndSync(out, bytes)
        close(out)
        if failure != 0 {
            removeIfPresent(tmp)
            throw FileError(operation: "write", path: path + "/" + tmp, errno: failure)
        }
        return tmp
    }

    /// Renames the temporary file `tmp` here onto `name` here. `replacing`:
    /// whatever has the name is replaced (a link included, without following
    /// it); otherwise EEXIST if the name is taken. `tmp` is removed if it fails.
    public func rename(_ tmp: String, to name: String, replacing: Bool) throws(FileError) {
        do throws(FileError) {
            if replacing {
                if renameat(fd, tmp, fd, name) != 0 {
                    throw FileError(operation: "rename to \(path)/\(name):", path: path + "/" + tmp, errno: errno)
                }
            } else {
                try Self.renameNoReplace(self, tmp, self, name)
            }
        } catch {
            removeIfPresent(tmp)
            throw error
        }
    }

    /// Writes a file atomically: temporary name, fsync, rename onto `name`
    /// (see `rename` for `replacing`), fsync of this folder.
    public func writeAtomically(_ bytes: [UInt8], to name: String, mode: mode_t = 0o644, replacing: Bool = true) throws(FileError) {
        let tmp = try writeTemporary(bytes, for: name, mode: mode)
        try rename(tmp, to: name, replacing: replacing)
        try sync()
    }

    /// A small text file, atomically (as the bytes above).
    public func writeAtomically(_ text: String, to name: String, mode: mode_t = 0o644) throws(FileError) {
        try writeAtomically(Array(text.utf8), to: name, mode: mode)
    }

    /// Copies everything readable from `source` into a new file `name` here, fsynced.
    public func copy(from source: Int32, sourceName: String, to name: String) throws(FileError) {
        let dst = try createExclusive(name)
        var ok = false
        defer {
            close(dst)
            if !ok { removeIfPresent(name) }
        }
        try FileOps.pump(from: source, sourceName: sourceName, to: dst, targetName: path + "/" + name)
        if fsync(dst) != 0 { throw FileError(operation: "fsync", path: path + "/" + name, errno: errno) }
        ok = true
    }

    /// rename(2) that never replaces: EEXIST if `newName` is taken. Where the
    /// file system cannot do that atomically, link and unlink instead (which
    /// also refuses a taken name).
    public static func renameNoReplace(_ from: Directory, _ oldName: String, _ to: Directory, _ newName: String) throws(FileError) {
        let e = oldName.withCString { renameNoReplace(from, $0, to, newName) }
        if e != 0 { throw FileError(operation: "move to \(to.path)/\(newName):", path: from.path + "/" + oldName, errno: e) }
    }

    /// The same for an entry whose name is not a Swift String (not UTF-8):
    /// `rawName` is its bytes as the kernel has them, `shownName` how errors show it.
    public static func renameNoReplace(_ from: Directory, rawName: [UInt8], shownName: String,
                                       _ to: Directory, _ newName: String) throws(FileError) {
        let e = (rawName + [0]).withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { renameNoReplace(from, $0, to, newName) }
        }
        if e != 0 { throw FileError(operation: "move to \(to.path)/\(newName):", path: from.path + "/" + shownName, errno: e) }
    }

    /// 0, or the errno.
    private static func renameNoReplace(_ from: Directory, _ oldName: UnsafePointer<CChar>, _ to: Directory, _ newName: String) -> Int32 {
        if df_rename_noreplace(from.fd, oldName, to.fd, newName) == 0 { return 0 }
        let e = errno
        guard e == EINVAL || e == ENOSYS else { return e }
        guard linkat(from.fd, oldName, to.fd, newName, 0) == 0 else { return errno }
        unlinkat(from.fd, oldName, 0)
        return 0
    }

    /// Moves `oldName` here to a name not taken in `to` (`newName`, else
    /// STEM-N.EXT), across file systems if it must (copy, fsync, rename,
    /// remove), and fsyncs both folders. Returns the name it got.
    /// `claim` is told each name just before the move tries to take it (the
    /// daemon records a result's name before the result appears under it).
    @discardableResult
    public static func move(_ from: Directory, _ oldName: String, to: Directory, as newName: String,
                     reserving extra: String? = nil,
                     claim: ((String) throws(FileError) -> Void)? = nil) throws(FileError) -> String {
        for _ in 0..<100 {
            let target = to.uniqueName(for: newName, reserving: extra)
            do {
                try claim?(target)
                try renameNoReplace(from, oldName, to, target)
                try to.sync()
                if from.fd != to.fd { try? from.sync() }
                return target
            } catch {
                if error.errno == EEXIST { continue }   // taken between the look and the move
                guard error.errno == EXDEV else { throw error }
            }
            // Another file system: copy to a temp name there, then rename into place.
            let src = try from.openForReading(oldName)
            defer { close(src) }
            let tmp = TemporaryName.make(for: target)
            try to.copy(from: src, sourceName: from.path + "/" + oldName, to: tmp)
            do { try renameNoReplace(to, tmp, to, target) } catch {
                to.removeIfPresent(tmp)
                if error.errno == EEXIST { continue }
                throw error
            }
            try to.sync()
            try from.remove(oldName)
            try? from.sync()
            return target
        }
        throw FileError(operation: "move to \(to.path)/\(newName):", path: from.path + "/" + oldName, errno: EEXIST)
    }
}
