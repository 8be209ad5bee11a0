/// Text from uploaders (file names, failure reasons quoting them) made safe to
/// show: in a terminal (`mtrnnctl status`), in the one-line sd_notify STATUS=
/// (where a newline would start a new command: `WATCHDOG_USEC=1`, `STOPPING=1`)
/// and in the journal. Control characters (C0, DEL, C1) and the bidirectional
/// overrides that reorder what a reader sees are written as \n, \t, \r or
/// \u{XX}; everything else, any script included, is left as it is.
public enum Printable {
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }

    static func needsEscape(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x00...0x1F, 0x7F...0x9F: return true          // C0, DEL, C1 (ESC, CSI: terminal sequences)
        case 0x202A...0x202E, 0x2066...0x2069: return true  // bidi embeddings, overrides, isolates
        case 0x2028, 0x2029: return true                    // line and paragraph separators
        default: return false
        }
    }
}

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
}
