import DurableFiles

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

    /// A temporary file on its way to a result (`TemporaryName`, DurableFiles'
    /// rule): a kill before its rename leaves it, and start-up removes it.
    /// Ignored as an upload too, being a dot-name.
    public static func isTemporaryOutput(_ name: String) -> Bool { TemporaryName.matches(name) }
}
