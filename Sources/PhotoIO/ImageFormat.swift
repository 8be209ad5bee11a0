/// Telling the formats apart: by a file's first bytes (what it is) and by
/// its name's extension (what it claims to be). One list for the daemon,
/// `mtrnnctl` and the decoders.
extension ImageFormat {
    /// The format a file's first bytes announce: a JPEG start marker with its
    /// first segment, the PNG signature, a classic TIFF header. Nil for
    /// anything else (BigTIFF and camera raws included: `PhotoIO.decode`
    /// says why it refuses those).
    public init?(header bytes: [UInt8]) {
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
        else if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { self = .tiff }
        else { return nil }
    }

    /// The format a file name's extension (without its dot, any case) claims;
    /// nil for names that claim none of ours.
    public init?(fileExtension ext: String) {
        switch ext.lowercased() {
        case "jpg", "jpeg", "jpe", "jfif": self = .jpeg
        case "png": self = .png
        case "tif", "tiff": self = .tiff
        default: return nil
        }
    }

    /// How messages name it: "JPEG", "PNG", "TIFF".
    public var name: String {
        switch self {
        case .jpeg: return "JPEG"
        case .png: return "PNG"
        case .tiff: return "TIFF"
        }
    }

    /// The extension files of this format usually have: "jpg", "png", "tif".
    public var usualExtension: String {
        switch self {
        case .jpeg: return "jpg"
        case .png: return "png"
        case .tiff: return "tif"
        }
    }
}
