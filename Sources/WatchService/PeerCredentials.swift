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
        ControlAccess(serviceUID: daemonUID, operatorGID: daemonGID).permits(self)
    }

    /// Whether the peer is in `gid`: as its primary group, or as a supplementary
    /// one in the group database.
    public func isMember(of gid: gid_t) -> Bool {
        self.gid == gid || Self.groups(ofUID: uid, primary: self.gid).contains(gid)
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

/// Who may send the control commands that change the daemon's state (pause,
/// resume, retry, rescan): root, the service user, and members of one group,
/// the operator group. Anyone may ask for the status.
///
/// By default the operator group is the daemon's own group (the group that
/// may write the inbox); `operator_group` in the configuration names another.
public struct ControlAccess: Sendable, Equatable, CustomStringConvertible {
    public var serviceUID: uid_t
    public var operatorGID: gid_t
    /// The operator group's name, for messages.
    public var groupName: String

    public init(serviceUID: uid_t = getuid(), operatorGID: gid_t = getgid()) {
        self.serviceUID = serviceUID
        self.operatorGID = operatorGID
        self.groupName = Self.groupName(operatorGID)
    }

    /// `operator_group` as configured: a group name, or a number; nil or empty
    /// keeps the daemon's own group.
    public init(operatorGroup: String?, serviceUID: uid_t = getuid()) throws(UnknownGroup) {
        guard let name = operatorGroup?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            self.init(serviceUID: serviceUID)
            return
        }
        guard let gid = Self.groupID(name) else { throw UnknownGroup(name: name) }
        self.init(serviceUID: serviceUID, operatorGID: gid)
    }

    public struct UnknownGroup: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "operator_group: there is no group \(name) on this system (`getent group \(name)` finds none); create it with `groupadd \(name)`, or name an existing group" }
    }

    public func permits(_ peer: PeerCredentials) -> Bool {
        peer.uid == 0 || peer.uid == serviceUID || peer.isMember(of: operatorGID)
    }

    /// For the refusal: "root, the service user and members of group NAME".
    public var whoMay: String { "root, the service user and members of group \(groupName)" }
    public var description: String { "uid 0, uid \(serviceUID) and group \(groupName) (\(operatorGID))" }

    static func groupName(_ gid: gid_t) -> String {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getgrgid_r(gid, &group, &buffer, buffer.count, &result) == 0, result != nil, let name = group.gr_name {
            return String(cString: name)
        }
        return String(gid)
    }

    static func groupID(_ name: String) -> gid_t? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil { return group.gr_gid }
        if let n = UInt32(name) { return n }
        return nil
    }
}
