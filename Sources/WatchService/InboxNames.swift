import DurableFiles
import Foundation
@preconcurrency import Glibc

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

    // MARK: sidecars

    /// Extensions of the files editors and cameras keep beside a photo
    /// (any case): XMP (darktable, Lightroom, Capture One), AAE (Apple
    /// Photos' edits), THM (cameras' video/raw thumbnails).
    public static let sidecarExtensions: Set<String> = ["xmp", "aae", "thm"]

    /// A sidecar: never a photo, never sent to failed/; it travels with its photo.
    public static func isSidecar(_ name: String) -> Bool {
        sidecarExtensions.contains(PathName.pathExtension(name).lowercased())
    }

    /// The name a sidecar refers to: "IMG_1.JPG" for darktable's
    /// "IMG_1.JPG.xmp", "IMG_1" for Lightroom's "IMG_1.xmp" and Apple's
    /// "IMG_1.AAE".
    static func sidecarBase(_ sidecar: String) -> String {
        String(sidecar.dropLast(PathName.pathExtension(sidecar).count + 1))
    }

    /// Whether `sidecar` belongs to the photo `photo` (both names in the same
    /// folder): "PHOTO.xmp" (darktable: the whole name) or "STEM.xmp"
    /// (Lightroom, Apple: the name without its extension).
    public static func sidecar(_ sidecar: String, belongsTo photo: String) -> Bool {
        guard isSidecar(sidecar), !isSidecar(photo), sidecar != photo else { return false }
        let base = sidecarBase(sidecar)
        return base == photo || (!PathName.pathExtension(photo).isEmpty && base == PathName.stem(photo))
    }

    /// The sidecar's name beside `photo`'s new name (a result's NAME-N.EXT,
    /// an archived original's): "NEW.xmp" for a whole-name sidecar,
    /// "NEWSTEM.xmp" for a stem one; the sidecar's extension keeps its case.
    public static func sidecarName(_ sidecar: String, of photo: String, as newPhoto: String) -> String {
        let suffix = String(sidecar.dropFirst(sidecarBase(sidecar).count))   // ".xmp", ".XMP", ".jpg.xmp"...
        return sidecarBase(sidecar) == photo ? newPhoto + suffix : PathName.stem(newPhoto) + suffix
    }
}

/// The administrator's `include` and `exclude` patterns (fnmatch(3), case
/// folded). A pattern without "/" is matched against the file's name; one
/// with "/" against its path under the inbox, where "*" does not cross a "/"
/// and a match of the leading folders counts (`raw/*` takes everything below
/// raw/). `include` selects photos (their sidecars follow them); `exclude`
/// applies to every name, sidecars too. What is not taken is left in the
/// inbox untouched.
public struct InboxFilter: Sendable, Equatable {
    public var include: [String]
    public var exclude: [String]

    public static let defaultInclude = ["*"]
    /// Windows' thumbnail caches and folder settings, which Samba clients leave in shares.
    public static let defaultExclude = ["Thumbs.db", "desktop.ini"]

    public init(include: [String] = InboxFilter.defaultInclude, exclude: [String] = InboxFilter.defaultExclude) {
        self.include = include
        self.exclude = exclude
    }

    /// A comma-separated list as the configuration writes it ("*.jpg, *.tif");
    /// spaces around each pattern are dropped, empty entries ignored. A
    /// comma inside a pattern is written `[,]`.
    public static func patterns(_ list: String) -> [String] {
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Whether `relative` (a path under the inbox) is excluded.
    public func excludes(_ relative: String) -> Bool { exclude.contains { Self.matches($0, relative) } }

    /// Whether `relative` is taken as a photo (sidecars never are).
    public func takesPhoto(_ relative: String) -> Bool {
        !InboxNames.isSidecar(PathName.last(relative)) && !excludes(relative) && include.contains { Self.matches($0, relative) }
    }

    // glibc's flags (<fnmatch.h>; the last two are GNU extensions, not imported by name).
    private static let pathname: Int32 = 1 << 0, leadingDir: Int32 = 1 << 3, caseFold: Int32 = 1 << 4

    static func matches(_ pattern: String, _ relative: String) -> Bool {
        if pattern.contains("/") {
            return fnmatch(pattern, relative, pathname | leadingDir | caseFold) == 0
        }
        return fnmatch(pattern, PathName.last(relative), caseFold) == 0
    }
}
