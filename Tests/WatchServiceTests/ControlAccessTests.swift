import Foundation
@preconcurrency import Glibc
import Testing
@testable import WatchService

/// Who may change the daemon's state over the control socket.
@Suite struct ControlAccessTests {
    @Test func operatorGroupFromTheConfiguration() throws {
        #expect(try ControlAccess(operatorGroup: nil) == ControlAccess())
        #expect(try ControlAccess(operatorGroup: " ") == ControlAccess())
        let root = try ControlAccess(operatorGroup: "root", serviceUID: 990)
        #expect(root.operatorGID == 0 && root.serviceUID == 990 && root.groupName == "root")
        #expect(try ControlAccess(operatorGroup: "4242").operatorGID == 4242)
        #expect(throws: ControlAccess.UnknownGroup.self) { try ControlAccess(operatorGroup: "no-such-group-mtrnn") }
        let a = ControlAccess(serviceUID: 990, operatorGID: 4242)
        #expect(a.permits(PeerCredentials(pid: 1, uid: 0, gid: 0)))
        #expect(a.permits(PeerCredentials(pid: 1, uid: 990, gid: 5)))
        #expect(a.permits(PeerCredentials(pid: 1, uid: 65534, gid: 4242)))
        #expect(!a.permits(PeerCredentials(pid: 1, uid: 65534, gid: 65534)))
        // The default operator group is the daemon's own.
        #expect(!a.permits(PeerCredentials(pid: 1, uid: 65534, gid: 990)))
    }
}
