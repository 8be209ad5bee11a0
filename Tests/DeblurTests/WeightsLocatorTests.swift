import Foundation
import Testing
@testable import Deblur

struct WeightsLocatorTests {
    func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("weights-locator-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".build/x86_64-unknown-linux-gnu/debug"),
                                                withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("prefix/bin"), withIntermediateDirectories: true)
        return root
    }

    @Test func environmentWinsEvenWhenMissing() throws {
        let env = ["MTRNN_WEIGHTS": "/nonexistent/w.safetensors"]
        let found = WeightsLocator.locate(executable: URL(fileURLWithPath: "/usr/bin/mtrnnctl"), environment: env)
        #expect(found?.path == "/nonexistent/w.safetensors")
    }

    @Test func findsTheRepositoryModelsFromABuildFolder() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Models"), withIntermediateDirectories: true)
        let weights = root.appendingPathComponent("Models/mtrnn.safetensors")
        #expect(FileManager.default.createFile(atPath: weights.path, contents: Data([1])))
        let exe = root.appendingPathComponent(".build/x86_64-unknown-linux-gnu/debug/mtrnnctl")
        #expect(WeightsLocator.locate(executable: exe, environment: [:])?.standardizedFileURL == weights.standardizedFileURL)
    }

    @Test func prefersTheInstalledCopy() throws {
        let root = try makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let share = root.appendingPathComponent("prefix/share/mtrnn-watch")
        try FileManager.default.createDirectory(at: share, withIntermediateDirectories: true)
        let weights = share.appendingPathComponent("mtrnn.safetensors")
        #expect(FileManager.default.createFile(atPath: weights.path, contents: Data([1])))
        let exe = root.appendingPathComponent("prefix/bin/mtrnnctl")
        #expect(WeightsLocator.locate(executable: exe, environment: [:])?.standardizedFileURL == weights.standardizedFileURL)
        let none = root.appendingPathComponent(".build/x86_64-unknown-linux-gnu/debug/mtrnnctl")
        #expect(WeightsLocator.locate(executable: none, environment: [:]) == nil)
    }
}
