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
        // FNV-1a: file names may be longer than NAME_MAX once escaped; the path itself is inside.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in relative.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return directory + "/" + String(h, radix: 16)
    }

    func record(_ relative: String, _ identity: FileIdentity) throws(FileError) {
        try FileOps.writeAtomically("\(identity)\n\(relative)\n", to: recordPath(relative))
    }

    func matches(_ relative: String, _ identity: FileIdentity) -> Bool {
        guard let text = try? String(contentsOfFile: recordPath(relative), encoding: .utf8) else { return false }
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard lines.count == 2, let id = FileIdentity(text: String(lines[0])) else { return false }
        return id == identity && lines[1].dropLast() == Substring(relative)
    }

    func remove(_ relative: String) { unlink(recordPath(relative)) }

    /// Drops records whose inbox file is gone (originals deleted by hand in keep mode).
    func prune(inbox: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where !name.hasPrefix(".") {
            let path = directory + "/" + name
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
            guard lines.count == 2 else { unlink(path); continue }
            if FileOps.lstatInfo(inbox + "/" + String(lines[1].dropLast())) == nil { unlink(path) }
        }
    }
}
