import DurableFiles
import Foundation
@preconcurrency import Glibc
import WatchControl

/// Inbox entries whose names are not UTF-8 (written by a client using another
/// character set). A Swift String cannot name them: decoding replaces the bad
/// bytes and the result points at no file, so such a photo would wait in the
/// inbox forever, unreported. The scan moves them to failed/ by their bytes,
/// under a readable name (each stray byte as %XX), with a .reason.
enum UndecodableNames {
    static let reason = "its name is not valid UTF-8 (written with another character set), so it cannot be given the same name in the outbox. Rename it using UTF-8 characters and copy it into the inbox again"

    struct Filed: Sendable { var shownName: String; var movedTo: String }
    struct Unmovable: Sendable { var shownName: String; var problem: String }

    /// Moves every non-directory entry of `directory` with a non-UTF-8 name to
    /// `failedDirectory`. Dot-names and upload names are left alone like any other.
    /// `failedRoot`/`sub`: the folder it goes to, opened without following a
    /// link below the configured root (an uploader may plant one in failed/);
    /// where that fails, failed/ itself.
    static func fileAway(inbox inboxRoot: String, toFailed failedRoot: String, sub: [String]) -> (filed: [Filed], unmovable: [Unmovable]) {
        let directory = ([inboxRoot] + sub).joined(separator: "/")
        var filed: [Filed] = [], unmovable: [Unmovable] = []
        let names = undecodable(in: directory)   // listed by path; opened below without links
        if names.isEmpty { return ([], []) }
        // The folders as opened now, links never followed (see Directory): the inbox
        // and failed/ belong to uploaders too.
        guard let source = try? Directory.root(inboxRoot).subdirectory(sub) else { return ([], []) }
        for name in names {
            let shown = escaped(name)
            if InboxNames.isIgnored(shown) { continue }
            var st = stat()
            guard withCPath(name, { fstatat(source.fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0, !FileOps.isDirectory(st) else { continue }
            do {
                let root = try Directory.root(failedRoot, create: true)
                let failed = (try? root.subdirectory(sub, create: true)) ?? root
                let failedDirectory = failed.path
                var target = ""
                for _ in 0..<100 {
                    target = failed.uniqueName(for: shown, reserving: ".reason")
                    do throws(FileError) {
                        try Directory.renameNoReplace(source, rawName: name, shownName: shown, failed, target)
                        break
                    } catch where error.errno == EEXIST {
                        continue   // taken between the look and the move
                    }
                }
                try failed.sync()
                try? source.sync()
                let text = "file: \(Printable.escaped(shown))\ntime: \(ISO8601DateFormatter().string(from: Date()))\nreason: \(reason)\n"
                try? failed.writeAtomically(text, to: target + ".reason")
                filed.append(Filed(shownName: shown, movedTo: failedDirectory + "/" + target))
            } catch {
                unmovable.append(Unmovable(shownName: shown, problem: "\(error)"))
            }
        }
        return (filed, unmovable)
    }

    /// Names in `directory` that are not valid UTF-8, as the kernel has them.
    static func undecodable(in directory: String) -> [[UInt8]] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if String(validating: name, as: UTF8.self) == nil { names.append(name) }
        }
        return names
    }

    /// The name with its valid UTF-8 kept and every other byte written as %XX.
    static func escaped(_ name: [UInt8]) -> String {
        var out = ""
        var i = 0
        while i < name.count {
            let lead = name[i]
            let length = lead < 0x80 ? 1 : lead >> 5 == 0b110 ? 2 : lead >> 4 == 0b1110 ? 3 : lead >> 3 == 0b11110 ? 4 : 0
            if length > 0, i + length <= name.count, let s = String(validating: name[i..<i + length], as: UTF8.self) {
                out += s
                i += length
            } else {
                out += String(format: "%%%02X", lead)
                i += 1
            }
        }
        return out
    }

    private static func withCPath<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { p in p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count, body) }
    }
}
