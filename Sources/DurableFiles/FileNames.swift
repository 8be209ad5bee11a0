/// Path names split by hand. Foundation's NSString path methods trap on some
/// short names (`("y" as NSString).deletingLastPathComponent` is SIGILL in
/// swift-corelibs-foundation), and an uploader chooses the names.
public enum PathName {
    /// The components of a relative path; nil if it is empty, absolute, or has
    /// an empty, "." or ".." component.
    public static func components(_ relative: String) -> [String]? {
        guard !relative.isEmpty, !relative.hasPrefix("/") else { return nil }
        let parts = relative.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else { return nil }
        return parts
    }

    /// The last component ("b.jpg" for "a/b.jpg", "y" for "y").
    public static func last(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Everything before the last "/" ("" for a bare name, "/" for "/x").
    public static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The extension of the last component without its dot ("" if none, or if
    /// the only dot starts the name: ".profile").
    public static func pathExtension(_ path: String) -> String {
        let name = last(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return "" }
        return String(name[name.index(after: dot)...])
    }

    /// The last component without its extension.
    public static func stem(_ path: String) -> String {
        let name = last(path), ext = pathExtension(name)
        return ext.isEmpty ? name : String(name.dropLast(ext.count + 1))
    }

    /// `name` cut (on a character boundary) to at most `limit` UTF-8 bytes with
    /// a hash of the whole name appended, extension kept; unchanged if it fits.
    /// Names must fit NAME_MAX (255 bytes) once a suffix (".reason", "-1", a
    /// temporary name's parts) is added.
    public static func shortened(_ name: String, toBytes limit: Int) -> String {
        if name.utf8.count <= limit { return name }
        let dot = name.lastIndex(of: ".")
        let ext = dot.map { String(name[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
        let tag = "~" + String(FNV1a.hash(name.utf8), radix: 16)
        var stem = ""
        for ch in ext.isEmpty ? Substring(name) : name[..<dot!] {
            if stem.utf8.count + String(ch).utf8.count + tag.utf8.count + ext.utf8.count > limit { break }
            stem.append(ch)
        }
        return stem + tag + ext
    }
}

/// The one rule for temporary files: every file on its way to a name is
/// written as `.NAME.mtrnn-tmp.TAG.tmp` in the same folder, then renamed. A
/// dot-name, so that anything watching the folder (the daemon's own inbox
/// rules included) ignores it; recognisable, so that start-up can remove what
/// a crash left; a random TAG, so that nobody can plant a file or link under
/// it first (it is created O_EXCL as well).
public enum TemporaryName {
    static let marker = ".mtrnn-tmp"

    /// `.NAME.mtrnn-tmp`, the part every temporary name for `name` starts
    /// with. Names at NAME_MAX (255 bytes) get a shortened one, made unique by
    /// a hash of the whole name, since the dot and suffix would not fit.
    public static func base(for name: String) -> String {
        let full = "." + name + marker
        if full.utf8.count <= 255 { return full }
        return "." + PathName.shortened(name, toBytes: 200) + marker
    }

    /// A fresh temporary name for `name`.
    public static func make(for name: String) -> String {
        let tag = String(UInt64.random(in: .min ... .max), radix: 36)
        let base = base(for: name)
        let room = 255 - tag.utf8.count - 5
        let stem = base.utf8.count <= room ? base : "." + PathName.shortened(name, toBytes: room - 12) + marker
        return stem + "." + tag + ".tmp"
    }

    /// Whether `name` is a temporary name of this rule: `.NAME.mtrnn-tmp.TAG.tmp`,
    /// the tag-less `.NAME.mtrnn-tmp` of earlier versions, or a temporary file
    /// written on the way to one of those (as the deblur pipeline did before
    /// it returned bytes: `..NAME.mtrnn-tmp.TAG.tmp.PID-RAND.tmp`).
    public static func matches(_ name: String) -> Bool {
        guard name.hasPrefix(".") else { return false }
        return name.hasSuffix(marker) || (name.contains(marker + ".") && name.hasSuffix(".tmp"))
    }
}

/// 64-bit FNV-1a: a short, stable name for a longer text (a file name cut to
/// NAME_MAX, the state folder's per-photo records). Stable across versions:
/// records written by one are found by the next.
public enum FNV1a {
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
