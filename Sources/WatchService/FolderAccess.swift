@preconcurrency import Glibc

/// Can the daemon write every folder it has to write? Asked at start-up (and
/// before a reload takes new folders), so that a folder the sandbox keeps
/// read-only (the shipped unit's `ProtectSystem=strict` with `ReadWritePaths=`
/// naming only the /srv folders) or that the service user may not write stops
/// the start with a message naming the folder and the remedy, instead of every
/// photo failing one by one.
///
/// Nothing is written: `faccessat(W_OK | X_OK, AT_EACCESS)` answers for the
/// effective user, with its groups and ACLs, and says EROFS for a read-only
/// mount, root included. A folder that does not exist yet is judged by its
/// nearest existing parent, where the daemon would create it.
///
/// Which folders to pass is the caller's choice: the outbox, failed, state and
/// runtime folders always; the archive with `originals = archive`; the inbox
/// unless `originals = keep` (originals and failures are moved out of it).
public enum FolderAccess {
    public struct Problem: Error, CustomStringConvertible, Equatable, Sendable {
        /// The configuration key: inbox, outbox, archive, failed, state_dir, runtime_dir.
        public var key: String
        /// The folder as configured.
        public var path: String
        /// What was checked: the folder itself, or its nearest existing parent.
        public var checked: String
        /// errno of the check: EROFS, EACCES, ENOTDIR, ...
        public var code: Int32

        public var description: String {
            let what = checked == path ? "cannot write the \(key) directory \(path)"
                                       : "cannot create the \(key) directory \(path) in \(checked)"
            let why = String(cString: strerror(code))
            switch code {
            case EROFS:
                return "\(what): \(why). Under the shipped systemd unit the daemon may write only the folders in ReadWritePaths= "
                    + "(the /srv ones): add this one with `systemctl edit mtrnn-watch` ([Service] ReadWritePaths=-\(path))"
                    + (checked == path ? "" : " and have it made before the start (a tmpfiles.d line)")
                    + ", see \"Directories under the shipped unit\" in mtrnn-watch(8)"
            case EACCES, EPERM:
                return "\(what): \(why) for \(FolderAccess.userName()). Give it write access "
                    + "(owner, group or ACL; a tmpfiles.d line keeps it), see mtrnn-watch(8)"
            default:
                return "\(what): \(why)"
            }
        }
    }

    /// Every folder the daemon cannot write, in the order given; empty when all are fine.
    public static func problems(_ folders: [(key: String, path: String)]) -> [Problem] {
        folders.compactMap { check(key: $0.key, path: $0.path) }
    }

    /// Throws the first folder the daemon cannot write.
    public static func requireWritable(_ folders: [(key: String, path: String)]) throws(Problem) {
        if let first = problems(folders).first { throw first }
    }

    static func check(key: String, path: String) -> Problem? {
        var candidate = path.isEmpty ? "." : path
        while true {
            var st = stat()
            if stat(candidate, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else {
                    return Problem(key: key, path: path, checked: candidate, code: ENOTDIR)
                }
                if faccessat(AT_FDCWD, candidate, W_OK | X_OK, AT_EACCESS) != 0 {
                    // The kernel answers EACCES before it looks at the mount:
                    // on a read-only mount (the unit's sandbox) that is what
                    // to fix first, whatever the folder's owner and mode.
                    let code = errno
                    return Problem(key: key, path: path, checked: candidate,
                                   code: (code == EACCES || code == EPERM) && isReadOnlyMount(candidate) ? EROFS : code)
                }
                return nil
            }
            let code = errno
            let up = parent(candidate)
            // Only a missing folder is judged by its parent; anything else
            // (a parent that cannot be searched, a loop of links) is the answer.
            guard code == ENOENT, up != candidate else {
                return Problem(key: key, path: path, checked: candidate, code: code)
            }
            candidate = up
        }
    }

    static func isReadOnlyMount(_ path: String) -> Bool {
        var fs = statvfs()
        return statvfs(path, &fs) == 0 && fs.f_flag & UInt(ST_RDONLY) != 0
    }

    /// "a/b/c" -> "a/b", "/a" -> "/", "a" -> ".", "/" -> "/", "." -> ".".
    static func parent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "." }
        let up = p[..<slash]
        return up.isEmpty ? "/" : String(up)
    }

    static func userName() -> String {
        let uid = geteuid()
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { return "user \(String(cString: name)) (uid \(uid))" }
        return "uid \(uid)"
    }
}

/// What `mtrnn-watch --check-config` requires to exist beyond the keys
/// themselves: the inbox (start-up would make a missing one, but a missing
/// inbox is nearly always a typo or a share that is not mounted, and photos
/// dropped "there" would never be seen) and the weights file (start-up exits
/// 1 without them). Each problem names the key, the path and the remedy.
public enum RequiredInputs {
    public struct Missing: CustomStringConvertible, Equatable, Sendable {
        public var key: String
        public var path: String
        public var problem: String
        public var remedy: String
        public var description: String { "`\(key) = \(path)`: \(problem); \(remedy)" }
    }

    /// The inbox and, unless nil (a test processor needs none), the weights
    /// the daemon would load (after `WeightsLocator`'s fallback).
    public static func missing(_ c: WatchConfig, weights: String?) -> [Missing] {
        var out: [Missing] = []
        var st = stat()
        if stat(c.inbox, &st) != 0 {
            let why = String(cString: strerror(errno))
            out.append(Missing(key: "inbox", path: c.inbox, problem: "the inbox does not exist (\(why))",
                               remedy: "create it (under the shipped unit `systemd-tmpfiles --create mtrnn-watch.conf` makes the /srv folders; "
                                   + "elsewhere `mkdir -p \(c.inbox)`, writable by the service's group), mount its share, "
                                   + "or set `inbox` to the folder photos are dropped in"))
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
            out.append(Missing(key: "inbox", path: c.inbox, problem: "the inbox is not a directory",
                               remedy: "set `inbox` to the folder photos are dropped in"))
        }
        if let weights {
            var ws = stat()
            if stat(weights, &ws) != 0 {
                let why = String(cString: strerror(errno))
                out.append(Missing(key: "weights", path: weights, problem: "the model weights file does not exist (\(why))",
                                   remedy: "set `weights` to the shipped mtrnn.safetensors (scripts/install.sh puts it in PREFIX/share/mtrnn-watch/), "
                                       + "or set $MTRNN_WEIGHTS"))
            } else if (ws.st_mode & S_IFMT) != S_IFREG {
                out.append(Missing(key: "weights", path: weights, problem: "the model weights path is not a regular file",
                                   remedy: "set `weights` to the mtrnn.safetensors file itself"))
            }
        }
        return out
    }
}
