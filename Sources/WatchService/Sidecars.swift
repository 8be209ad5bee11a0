import DurableFiles
import Foundation
@preconcurrency import Glibc
import Logging

/// Sidecars (`.xmp`, `.aae`, `.thm`, any case) travel with their photo, as
/// darktable and Lightroom users expect: a copy goes beside the result in the
/// outbox, named after the result ("IMG_1-1.jpg.xmp", "IMG_1-1.xmp"), and
/// the sidecar itself follows the original (archived beside it, deleted with
/// it, kept with it). A sidecar is never a photo and never goes to failed/.
///
/// One that arrives before its photo waits in the inbox untouched and is
/// taken by its photo's turn. One that arrives after (the photo already
/// filed) follows the most recent matching result in the outbox folder when
/// that result was written less than `lateWindow` ago; otherwise it stays in
/// the inbox, waiting, and nothing is lost.
enum Sidecars {
    /// How recent a result must be for a sidecar that arrives after its photo to follow it.
    static let lateWindow: Double = 600
    /// Sidecars are small; anything bigger is left where it is.
    static let maxBytes = 64 << 20

    /// The names in `dir` that are sidecars of `photo`, sorted; `folder`: `dir`
    /// relative to the inbox, for the filter. Every name a sidecar of it may
    /// have is looked up (48 at most: 3 extensions in any case, whole name or
    /// stem) rather than the folder listed: an inbox of 80,000 photos must not
    /// be read once per photo.
    static func of(_ photo: String, in dir: Directory, folder: [String], filter: InboxFilter) -> [String] {
        let stem = PathName.pathExtension(photo).isEmpty ? nil : PathName.stem(photo)
        var found: Set<String> = []
        for ext in InboxNames.sidecarExtensions {
            for variant in caseVariants(ext) {
                for name in [photo + "." + variant] + (stem.map { [$0 + "." + variant] } ?? [])
                where dir.info(name).map(FileOps.isRegular) == true && !filter.excludes((folder + [name]).joined(separator: "/")) {
                    found.insert(name)
                }
            }
        }
        return found.sorted()
    }

    /// "xmp", "xmP", ..., "XMP": every spelling of an ASCII extension.
    static func caseVariants(_ ext: String) -> [String] {
        ext.reduce([""]) { spellings, ch in
            let forms = Set([String(ch).lowercased(), String(ch).uppercased()])
            return spellings.flatMap { s in forms.sorted().map { s + $0 } }
        }
    }

    static func names(_ dir: Directory) -> [String] {
        dir.entries().compactMap { String(validating: $0, as: UTF8.self) }
    }

    /// Copies `sidecar` from `source` beside `result` (a path under the
    /// outbox), named after it. Done twice (a crash between the copy and
    /// filing the original), it finds its copy and writes nothing. Returns the
    /// copy's name, and whether it was written now.
    @discardableResult
    static func copy(_ sidecar: String, of photo: String, from source: Directory, outbox: String, result: String) throws(FileError) -> (name: String, written: Bool) {
        let parts = PathName.components(result) ?? [result]
        let out = try Directory.root(outbox, create: true).subdirectory(Array(parts.dropLast()), create: true, mode: JobRunner.sharedFolderMode)
        let bytes = try read(sidecar, in: source)
        let wanted = InboxNames.sidecarName(sidecar, of: photo, as: parts.last!)
        var target = wanted
        for n in 0..<100 {
            if n > 0 { target = out.uniqueName(for: wanted) }
            if let existing = try? read(target, in: out), existing == bytes { return (target, false) }
            if out.exists(target) { continue }
            do {
                try out.writeAtomically(bytes, to: target, replacing: false)
                return (target, true)
            } catch where error.errno == EEXIST {
                continue
            }
        }
        throw FileError(operation: "copy to", path: out.path + "/" + wanted, errno: EEXIST)
    }

    private static func read(_ name: String, in dir: Directory) throws(FileError) -> [UInt8] {
        let fd = try dir.openForReading(name)
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FileError(operation: "stat", path: dir.path + "/" + name, errno: errno) }
        guard FileOps.isRegular(st) else { throw FileError(operation: "read", path: dir.path + "/" + name, errno: EINVAL) }
        guard Int(st.st_size) <= maxBytes else { throw FileError(operation: "read", path: dir.path + "/" + name, errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 { if errno == EINTR { continue }; throw FileError(operation: "read", path: dir.path + "/" + name, errno: errno) }
            if n == 0 { break }
            done += n
        }
        return Array(bytes.prefix(done))
    }

    /// After the original `photo` was filed (as `filedName` in `archive`, or
    /// deleted, or kept): its sidecars follow it. A stem sidecar ("IMG_1.xmp")
    /// that another photo still in the folder shares ("IMG_1.tif") stays for
    /// that photo's turn. Failures are returned as text: the result and the
    /// original are safe, and a sidecar left behind is filed later as a late one.
    static func file(_ sidecars: [String], of photo: String, from source: Directory, policy: OriginalsPolicy,
                     archive: Directory?, filedName: String?) -> [String] {
        guard policy != .keep else { return [] }
        var problems: [String] = []
        // Only a stem sidecar can be shared; only then is the folder read.
        let stems = sidecars.filter { InboxNames.sidecarBase($0) != photo }
        let remaining = stems.isEmpty ? [] : names(source).filter { !InboxNames.isSidecar($0) && $0 != photo }
        for sidecar in sidecars where !remaining.contains(where: { InboxNames.sidecar(sidecar, belongsTo: $0) }) {
            do {
                if policy == .archive, let archive {
                    try Directory.move(source, sidecar, to: archive,
                                       as: InboxNames.sidecarName(sidecar, of: photo, as: filedName ?? photo))
                } else {
                    try source.remove(sidecar)
                }
            } catch {
                problems.append("\(source.path)/\(sidecar): \(error)")
            }
        }
        if policy == .delete { try? source.sync() }
        return problems
    }

    // MARK: a sidecar on its own

    /// A settled sidecar of the inbox (`relative`), met on its own. Its photo
    /// in the folder: it waits for the photo's turn (with `originals = keep`,
    /// a kept photo already done gets the copy now). No photo: it follows the
    /// newest matching result written less than `lateWindow` ago, or waits.
    /// Returns what was done, for the journal; nil when nothing was.
    static func fileAlone(_ relative: String, config: WatchConfig, now: Date = Date()) -> String? {
        guard let parts = PathName.components(relative) else { return nil }
        let folder = Array(parts.dropLast()), sidecar = parts.last!
        guard let source = try? Directory.root(config.inbox).subdirectory(folder),
              let st = source.info(sidecar), FileOps.isRegular(st) else { return nil }
        let photos = names(source).filter {
            InboxNames.sidecar(sidecar, belongsTo: $0) && config.inputFilter.takesPhoto((folder + [$0]).joined(separator: "/"))
        }
        if !photos.isEmpty {
            guard config.originals == .keep else { return nil }
            let ledger = ProcessedLedger(stateDirectory: config.stateDirectory)
            var copied: [String] = []
            for photo in photos.sorted() {
                guard let pst = source.info(photo), let output = ledger.output((folder + [photo]).joined(separator: "/"), FileIdentity(pst)),
                      !output.isEmpty, FileOps.lstatInfo(config.outbox + "/" + output).map(FileOps.isRegular) == true,
                      let (name, written) = try? copy(sidecar, of: photo, from: source, outbox: config.outbox, result: output),
                      written else { continue }   // copied at an earlier look: nothing to say again
                copied.append((PathName.components(output).map { Array($0.dropLast()) } ?? []).map { $0 + "/" }.joined() + name)
            }
            return copied.isEmpty ? nil : "sidecar \(relative) of a kept photo: copied beside its result as \(copied.joined(separator: ", "))"
        }
        // Its photo went before it: the newest recent result it belongs to.
        guard let out = try? Directory.root(config.outbox).subdirectory(folder) else { return nil }
        var best: (name: String, time: Double)?
        for name in names(out) where !InboxNames.isSidecar(name) && !InboxNames.isIgnored(name) {
            guard let rst = out.info(name), FileOps.isRegular(rst),
                  originalNames(ofResult: name).contains(where: { InboxNames.sidecar(sidecar, belongsTo: $0) }) else { continue }
            let ctime = Double(rst.st_ctim.tv_sec) + Double(rst.st_ctim.tv_nsec) / 1e9
            guard now.timeIntervalSince1970 - ctime <= lateWindow else { continue }
            if best.map({ ctime > $0.time }) ?? true { best = (name, ctime) }
        }
        guard let result = best?.name else { return nil }
        let resultPath = (folder + [result]).joined(separator: "/")
        let photo = originalNames(ofResult: result).first { InboxNames.sidecar(sidecar, belongsTo: $0) } ?? result
        let copyName: String, written: Bool
        do { (copyName, written) = try copy(sidecar, of: photo, from: source, outbox: config.outbox, result: resultPath) } catch {
            return "sidecar \(relative) arrived after its photo; it could not be copied beside \(resultPath) (\(error)) and stays in the inbox"
        }
        // Kept: it stays, and is met again at every look; said once, when copied.
        if config.originals == .keep && !written { return nil }
        var text = "sidecar \(relative) arrived after its photo: copied beside \(resultPath) as \((folder + [copyName]).joined(separator: "/"))"
        switch config.originals {
        case .keep: break
        case .delete:
            source.removeIfPresent(sidecar)
            try? source.sync()
            text += "; removed from the inbox (originals = delete)"
        case .archive:
            do {
                let archive = try Directory.root(config.archive, create: true).subdirectory(folder, create: true)
                let name = try Directory.move(source, sidecar, to: archive, as: sidecar)
                text += "; archived as \((folder + [name]).joined(separator: "/"))"
            } catch {
                text += "; it could not be archived (\(error)) and stays in the inbox"
            }
        }
        return text
    }

    /// The names a result may have been the photo of: its own, and without the
    /// "-N" a result takes when its name was taken ("IMG_1-2.jpg" -> "IMG_1.jpg").
    static func originalNames(ofResult name: String) -> [String] {
        var out = [name]
        let stem = PathName.stem(name), ext = PathName.pathExtension(name)
        if let dash = stem.lastIndex(of: "-"), dash != stem.startIndex,
           !stem[stem.index(after: dash)...].isEmpty, stem[stem.index(after: dash)...].allSatisfy(\.isASCII),
           Int(stem[stem.index(after: dash)...]) != nil {
            let base = String(stem[..<dash])
            out.append(ext.isEmpty ? base : base + "." + ext)
        }
        return out
    }
}
