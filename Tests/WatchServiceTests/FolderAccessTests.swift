import Foundation
@preconcurrency import Glibc
import Testing
@testable import WatchService

/// FolderAccess (issue 19): a folder the daemon cannot write is found at
/// start-up and named with the remedy. The read-only case is what the shipped
/// unit's ProtectSystem=strict does to a folder outside ReadWritePaths=: a
/// read-only mount, which stops root as well.
@Suite(.serialized) struct FolderAccessTests {
    static let isRoot = getuid() == 0

    private static func tempDir() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/folder-access-XXXXXX").utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        return String(cString: p)
    }

    private static func run(_ argv: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: argv[0])
        p.arguments = Array(argv.dropFirst())
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test func writableAndMissingUnderAWritableParentAreFine() throws {
        let root = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        mkdir(root + "/outbox", 0o755)
        #expect(FolderAccess.problems([("outbox", root + "/outbox"), ("failed", root + "/not/yet/failed"),
                                       ("archive", root + "/outbox/")]).isEmpty)
    }

    @Test func aFileWhereAFolderShouldBeIsNamed() throws {
        let root = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        FileManager.default.createFile(atPath: root + "/outbox", contents: Data())
        let p = FolderAccess.problems([("outbox", root + "/outbox"), ("failed", root + "/outbox/failed")])
        #expect(p.map(\.code) == [ENOTDIR, ENOTDIR])
        #expect(p.first?.description.contains("cannot write the outbox directory \(root)/outbox") == true)
    }

    @Test(.enabled(if: isRoot, "mounting a read-only tmpfs needs root"))
    func aReadOnlyMountIsRefusedWithTheDropInRemedy() throws {
        let root = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ro = root + "/data"
        mkdir(ro, 0o755)
        try #require(Self.run(["/bin/mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro]) == 0, "cannot mount a tmpfs here")
        defer { _ = Self.run(["/bin/umount", "-l", ro]) }
        let p = FolderAccess.problems([("inbox", ro), ("outbox", ro + "/outbox"), ("failed", root + "/failed")])
        #expect(p.map(\.key) == ["inbox", "outbox"], "the writable failed/ is fine: \(p)")
        #expect(p.map(\.code) == [EROFS, EROFS])
        #expect(p.map(\.checked) == [ro, ro], "a missing folder is judged where it would be made")
        let text = p.first?.description ?? ""
        #expect(text.contains("cannot write the inbox directory \(ro): Read-only file system"), "\(text)")
        #expect(text.contains("systemctl edit mtrnn-watch") && text.contains("ReadWritePaths=-\(ro)"), "\(text)")
        #expect(p.last?.description.contains("cannot create the outbox directory \(ro)/outbox in \(ro)") == true)
        #expect(p.last?.description.contains("have it made before the start") == true, "a missing folder needs making too")
        // What turns the service user's EACCES on such a mount into EROFS
        // (root gets EROFS from the kernel itself).
        #expect(FolderAccess.isReadOnlyMount(ro))
        #expect(!FolderAccess.isReadOnlyMount(root))
        #expect(throws: FolderAccess.Problem.self) { try FolderAccess.requireWritable([("inbox", ro)]) }
    }

    @Test(.enabled(if: !isRoot, "root may write any folder whatever its mode"))
    func aFolderTheUserMayNotWriteIsRefused() throws {
        let root = try Self.tempDir()
        defer { chmod(root + "/outbox", 0o755); try? FileManager.default.removeItem(atPath: root) }
        mkdir(root + "/outbox", 0o555)
        let p = FolderAccess.problems([("outbox", root + "/outbox")])
        #expect(p.map(\.code) == [EACCES])
        #expect(p.first?.description.contains("Permission denied for user") == true)
    }

    @Test func parentOfPaths() {
        #expect(FolderAccess.parent("/srv/inbox") == "/srv")
        #expect(FolderAccess.parent("/srv/inbox/") == "/srv")
        #expect(FolderAccess.parent("/srv") == "/")
        #expect(FolderAccess.parent("/") == "/")
        #expect(FolderAccess.parent("inbox") == ".")
        #expect(FolderAccess.parent("./inbox") == ".")
    }
}
