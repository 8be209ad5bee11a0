@preconcurrency import Glibc
import Foundation

/// Who is on the other end of a Unix socket (SO_PEERCRED), and whether they
/// may change the daemon's state: root, the daemon's own user, or a member of
/// the daemon's group (the group that may write the inbox).
public struct PeerCredentials: Sendable, Equatable {
    public var pid: Int32
    public var uid: uid_t
    public var gid: gid_t

    public init(pid: Int32, uid: uid_t, gid: gid_t) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    public init?(socket fd: Int32) {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: Glibc exports it only with _GNU_SOURCE.
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, len == 12 else { return nil }
        self.init(pid: cred.0, uid: cred.1, gid: cred.2)
    }

    public func mayChangeState(daemonUID: uid_t = getuid(), daemonGID: gid_t = getgid()) -> Bool {
        if uid == 0 || uid == daemonUID || gid == daemonGID { return true }
        return Self.groups(ofUID: uid, primary: gid).contains(daemonGID)
    }

    /// The peer's supplementary groups from the group database; reading
    /// /proc/PID/status would fail under ProtectProc=invisible.
    static func groups(ofUID uid: uid_t, primary: gid_t) -> [gid_t] {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil, let name = pwd.pw_name else { return [primary] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [primary] }
        }
        return Array(groups.prefix(Int(count)))
    }
}
