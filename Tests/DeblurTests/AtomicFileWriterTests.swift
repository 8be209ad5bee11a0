import Foundation
import Testing
@testable import Deblur

struct AtomicFileWriterTests {
    func tempFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func writesAndReplacesLeavingNoTemporaryFile() throws {
        let folder = try tempFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let target = folder.appendingPathComponent("out.jpg")
        try AtomicFileWriter.write([1, 2, 3], to: target)
        try AtomicFileWriter.write(Array(repeating: 7, count: 100_000), to: target)
        #expect(try Data(contentsOf: target) == Data(repeating: 7, count: 100_000))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["out.jpg"])
    }

    @Test func missingFolderIsAClearError() throws {
        let target = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/out.jpg")
        do {
            try AtomicFileWriter.write([1], to: target)
            Issue.record("expected a failure")
        } catch {
            #expect(error.description.contains("No such file or directory"))
            #expect(error.description.contains("/out.jpg"))
        }
    }

    @Test func recognisesTheSameFileThroughLinks() throws {
        let folder = try tempFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let a = folder.appendingPathComponent("a.png")
        try AtomicFileWriter.write([1], to: a)
        let hard = folder.appendingPathComponent("hard.png")
        let soft = folder.appendingPathComponent("soft.png")
        try FileManager.default.linkItem(at: a, to: hard)
        try FileManager.default.createSymbolicLink(at: soft, withDestinationURL: a)
        #expect(AtomicFileWriter.sameFile(a, hard))
        #expect(AtomicFileWriter.sameFile(a, soft))
        #expect(AtomicFileWriter.sameFile(a, folder.appendingPathComponent("./sub/../a.png")))
        #expect(!AtomicFileWriter.sameFile(a, folder.appendingPathComponent("b.png")))
    }
}
