import Foundation
@preconcurrency import Glibc
import Testing
@testable import DurableFiles

/// A fresh folder under the system's temporary folder, removed at the end.
final class Scratch {
    let url: URL
    var path: String { url.path }
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func list() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url.appendingPathComponent(name))) }
}

/// Whole files by path (what `mtrnnctl deblur` writes its results with).
struct DurableWriteTests {
    @Test func writesAndReplacesLeavingNoTemporaryFile() throws {
        let folder = try Scratch()
        let target = folder.path + "/out.jpg"
        try FileOps.write([1, 2, 3], to: target, replacing: true)
        try FileOps.write(Array(repeating: 7, count: 100_000), to: target, replacing: true)
        #expect(try folder.read("out.jpg") == Array(repeating: 7, count: 100_000))
        #expect(try folder.list() == ["out.jpg"])
    }

    @Test func withoutReplacingAnExistingFileStays() throws {
        let folder = try Scratch()
        let target = folder.path + "/out.jpg"
        try FileOps.write([1, 2, 3], to: target, replacing: false)
        do {
            try FileOps.write([9], to: target, replacing: false)
            Issue.record("an existing file was replaced")
        } catch {
            #expect(error.errno == EEXIST)
            #expect(error.path == target, "errors name the destination, not the temporary file")
        }
        #expect(try folder.read("out.jpg") == [1, 2, 3])
        #expect(try folder.list() == ["out.jpg"])
    }

    @Test func missingFolderIsAClearError() throws {
        let target = "/nonexistent-\(UUID().uuidString)/out.jpg"
        do {
            try FileOps.write([1], to: target, replacing: true)
            Issue.record("expected a failure")
        } catch {
            #expect(error.description.contains("No such file or directory"))
            #expect(error.description.contains("/out.jpg"))
        }
    }

    @Test func recognisesTheSameFileThroughLinks() throws {
        let folder = try Scratch()
        let a = folder.url.appendingPathComponent("a.png")
        try FileOps.write([1], to: a.path, replacing: true)
        let hard = folder.url.appendingPathComponent("hard.png")
        let soft = folder.url.appendingPathComponent("soft.png")
        try FileManager.default.linkItem(at: a, to: hard)
        try FileManager.default.createSymbolicLink(at: soft, withDestinationURL: a)
        #expect(FileOps.sameFile(a, hard))
        #expect(FileOps.sameFile(a, soft))
        #expect(FileOps.sameFile(a, folder.url.appendingPathComponent("./sub/../a.png")))
        #expect(!FileOps.sameFile(a, folder.url.appendingPathComponent("b.png")))
    }
}

/// Files in an open folder: the daemon's queue (inbox, outbox, failed/, archive, state).
struct DirectoryTests {
    @Test func writeTemporaryThenMoveNeverReplacesAnEarlierResult() throws {
        let folder = try Scratch()
        let dir = try Directory.root(folder.path)
        try dir.writeAtomically([1], to: "IMG.jpg")
        let tmp = try dir.writeTemporary([2, 2], for: "IMG.jpg")
        #expect(TemporaryName.matches(tmp))
        var claimed: [String] = []
        let got = try Directory.move(dir, tmp, to: dir, as: "IMG.jpg") { claimed.append($0) }
        #expect(got == "IMG-1.jpg" && claimed == ["IMG-1.jpg"])
        #expect(try folder.read("IMG.jpg") == [1] && folder.read("IMG-1.jpg") == [2, 2])
        #expect(try folder.list() == ["IMG-1.jpg", "IMG.jpg"])
    }

    @Test func renameNoReplaceRefusesATakenName() throws {
        let folder = try Scratch()
        let dir = try Directory.root(folder.path)
        try dir.writeAtomically([1], to: "a")
        try dir.writeAtomically([2], to: "b")
        #expect(throws: FileError.self) { try Directory.renameNoReplace(dir, "a", dir, "b") }
        #expect(try folder.read("b") == [2])
        try dir.rename("a", to: "b", replacing: true)
        #expect(try folder.read("b") == [1] && folder.list() == ["b"])
    }

    @Test func neverFollowsALink() throws {
        let folder = try Scratch()
        let outside = try Scratch()
        let dir = try Directory.root(folder.path)
        #expect(symlink(outside.path, folder.path + "/sub") == 0)
        do {
            _ = try dir.subdirectory(["sub"])
            Issue.record("a linked folder was opened")
        } catch {
            #expect(error.errno == ELOOP)
        }
        #expect(symlink(outside.path + "/planted", folder.path + "/x.jpg") == 0)
        #expect(throws: FileError.self) { _ = try dir.openForReading("x.jpg") }
        #expect(throws: FileError.self) { _ = try dir.createExclusive("x.jpg") }
        #expect(try outside.list().isEmpty, "nothing was written through the link")
        // A link under the final name is replaced, not written through.
        try dir.writeAtomically("text", to: "x.jpg")
        #expect(try outside.list().isEmpty && folder.read("x.jpg") == Array("text".utf8))
    }

    @Test func failedWritesLeaveNothingBehind() throws {
        let folder = try Scratch()
        let dir = try Directory.root(folder.path)
        try dir.writeAtomically([1], to: "taken")
        #expect(throws: FileError.self) { try dir.writeAtomically([2], to: "taken", replacing: false) }
        #expect(try folder.list() == ["taken"])
    }

    @Test func uniqueNamesFitNameMax() throws {
        let folder = try Scratch()
        let dir = try Directory.root(folder.path)
        let long = String(repeating: "é", count: 126) + ".jpeg"   // 257 bytes
        let name = dir.uniqueName(for: long, reserving: ".reason")
        #expect(name.utf8.count + ".reason".utf8.count <= 255 && name.hasSuffix(".jpeg"))
        let tmp = try dir.writeTemporary([1], for: long)
        #expect(tmp.utf8.count <= 255 && TemporaryName.matches(tmp))
    }

    @Test func copiesAcrossDescriptors() throws {
        let folder = try Scratch()
        let dir = try Directory.root(folder.path, create: true)
        try dir.writeAtomically(Array(repeating: 5, count: 3 << 20), to: "big")
        let fd = try dir.openForReading("big")
        defer { close(fd) }
        let sub = try dir.subdirectory(["a", "b"], create: true)
        try sub.copy(from: fd, sourceName: "big", to: "copy")
        #expect(try folder.read("a/b/copy") == Array(repeating: 5, count: 3 << 20))
    }
}

/// The one temporary-name rule (InboxNames and start-up's clean-up use it).
struct TemporaryNameTests {
    @Test func temporaryNamesAreHiddenAndRecognised() {
        let t = TemporaryName.make(for: "IMG.jpg")
        #expect(t.hasPrefix(".IMG.jpg.mtrnn-tmp.") && t.hasSuffix(".tmp"))
        #expect(TemporaryName.matches(t))
        #expect(TemporaryName.matches(TemporaryName.base(for: "IMG.jpg")), "the tag-less names of earlier versions")
        #expect(!TemporaryName.matches("IMG.jpg"))
        // a temp file on its way to a temp result (earlier versions' pipeline, left by a kill)
        #expect(TemporaryName.matches("." + t + ".11974-4205832182.tmp"))
        #expect(!TemporaryName.matches(".IMG.jpg.part"))
        #expect(!TemporaryName.matches("IMG.mtrnn-tmp.1.tmp"))
        #expect(TemporaryName.make(for: "IMG.jpg") != t, "a fresh random part each time")
    }

    @Test func hashesAreStable() {
        // The state folder names records by these: a change would orphan them.
        #expect(FNV1a.hash("".utf8) == 0xcbf2_9ce4_8422_2325)
        #expect(FNV1a.hash("a".utf8) == 0xaf63_dc4c_8601_ec8c)
        #expect(PathName.shortened(String(repeating: "x", count: 300) + ".jpg", toBytes: 40).utf8.count <= 40)
    }
}
