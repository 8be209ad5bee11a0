import DurableFiles
import Foundation
@preconcurrency import Glibc

/// Records, in the state directory, which inbox files already have their result
/// in the outbox. Written (fsynced) before the result is renamed into place, so a
/// crash between that rename and archiving the original does not deblur the
/// photo again on restart; with `originals = keep` it is what tells a kept
/// original from a new photo. One small file per inbox path.
struct ProcessedLedger: Sendable {
    let directory: String

    init(stateDirectory: String) { directory = stateDirectory + "/done" }

    func prepare() throws(FileError) { try FileOps.makeDirectory(directory, mode: 0o750) }

    private func recordPath(_ relative: String) -> String {
        // A hash: file names may be longer than NAME_MAX once escaped; the path itself is inside.
        directory + "/" + String(FNV1a.hash(relative.utf8), radix: 16)
    }

    private struct Record: Codable {
        var identity: String
        var path: String
        /// The result's path under the outbox: the photo's own, or NAME-N.EXT
        /// where an earlier result had the name (results are never replaced).
        var output: String
    }

    /// `output`: where the result went, relative to the outbox.
    func record(_ relative: String, _ identity: FileIdentity, output: String? = nil) throws(FileError) {
        let r = Record(identity: "\(identity)", path: relative, output: output ?? relative)
        let json = (try? JSONEncoder().encode(r)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        try FileOps.writeAtomically(json + "\n", to: recordPath(relative))
    }

    private func read(_ path: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        if let r = try? JSONDecoder().decode(Record.self, from: data) { return r }
        // Records of versions before 2026-11-30: "IDENTITY\nPATH\n", the result under the photo's own name.
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard lines.count == 2, FileIdentity(text: String(lines[0])) != nil, lines[1].hasSuffix("\n") else { return nil }
        let path = String(lines[1].dropLast())
        return Record(identity: String(lines[0]), path: path, output: path)
    }

    func matches(_ relative: String, _ identity: FileIdentity) -> Bool { output(relative, identity) != nil }

    /// Where the result of this version of the photo went (relative to the
    /// outbox), if it was recorded.
    func output(_ relative: String, _ identity: FileIdentity) -> String? {
        guard let r = read(recordPath(relative)), FileIdentity(text: r.identity) == identity, r.path == relative else { return nil }
        return r.output
    }

    func remove(_ relative: String) { unlink(recordPath(relative)) }

    /// Drops records whose inbox file is gone (originals deleted by hand in keep mode).
    func prune(inbox: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where !name.hasPrefix(".") {
            let path = directory + "/" + name
            guard let r = read(path) else { unlink(path); continue }
            if FileOps.lstatInfo(inbox + "/" + r.path) == nil { unlink(path) }
        }
    }
}
