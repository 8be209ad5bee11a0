/// Which names in the inbox are photos waiting and which belong to uploads in
/// progress or to other tools. Uploaders (rsync, browsers, Samba clients,
/// editors) write under such names and rename when done.
public enum InboxNames {
    public static func isIgnored(_ name: String) -> Bool {
        if name.isEmpty || name.hasPrefix(".") || name.hasPrefix("~") { return true }
        let lower = name.lowercased()
        for suffix in [".part", ".tmp", ".crdownload", ".reason"] where lower.hasSuffix(suffix) { return true }
        return false
    }

    /// The outbox temp name for a result: a dot-name, so that anything watching
    /// the outbox ignores it, and recognisable, so start-up can remove it.
    /// Names at NAME_MAX (255 bytes) get a shortened temp name, made unique by a
    /// hash of the whole name, since the dot and suffix would not fit.
    public static func temporaryOutput(for name: String) -> String {
        let full = ".\(name).mtrnn-tmp"
        if full.utf8.count <= 255 { return full }
        return ".\(shortened(name, toBytes: 200)).mtrnn-tmp"
    }

    /// `name` cut (on a character boundary) to at most `limit` UTF-8 bytes with
    /// a hash of the whole name appended, extension kept; unchanged if it fits.
    public static func shortened(_ name: String, toBytes limit: Int) -> String {
        if name.utf8.count <= limit { return name }
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        let dot = name.lastIndex(of: ".")
        let ext = dot.map { String(name[$0...]) }.flatMap { $0.utf8.count <= 16 ? $0 : nil } ?? ""
        let tag = "~" + String(h, radix: 16)
        var stem = ""
        for ch in ext.isEmpty ? Substring(name) : name[..<dot!] {
            if stem.utf8.count + String(ch).utf8.count + tag.utf8.count + ext.utf8.count > limit { break }
            stem.append(ch)
        }
        return stem + tag + ext
    }
    /// Our temp result, or the temp file a pipeline writes on its way to it
    /// (`DeblurPipeline` writes `.<output>.<pid>-<random>.tmp`, then renames):
    /// a kill between the two leaves the latter, and start-up must remove it too.
    public static func isTemporaryOutput(_ name: String) -> Bool {
        guard name.hasPrefix(".") else { return false }
        return name.hasSuffix(".mtrnn-tmp") || (name.contains(".mtrnn-tmp.") && name.hasSuffix(".tmp"))
    }
}
