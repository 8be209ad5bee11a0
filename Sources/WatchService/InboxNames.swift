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
    public static func temporaryOutput(for name: String) -> String { ".\(name).mtrnn-tmp" }
    public static func isTemporaryOutput(_ name: String) -> Bool { name.hasPrefix(".") && name.hasSuffix(".mtrnn-tmp") }
}
