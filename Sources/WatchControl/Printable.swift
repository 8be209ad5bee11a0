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
