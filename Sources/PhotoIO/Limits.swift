import CImageCodecs

/// Limits on what a file's structure may make PhotoIO hold or do, whatever
/// its pixel count (issue 16): without them a 40 KB JPEG of 10,000 empty
/// comments, or a TIFF whose 500 tags share one 64 KiB value, cost hundreds
/// of megabytes. The values live in codecs.h, where the C decoders use them.
struct StructureLimits: Sendable {
    /// Metadata items: JPEG APPn/COM segments and trailer records, PNG
    /// chunks other than IDAT, TIFF directory entries (all directories read).
    var segments: Int
    /// Bytes those items hold, in total.
    var bytes: Int

    static let standard = StructureLimits(segments: Int(MC_MAX_METADATA_SEGMENTS),
                                          bytes: Int(MC_MAX_METADATA_BYTES))

    /// The byte limit as people read it ("64 MB").
    var bytesText: String { bytes >= 1 << 20 ? "\(bytes >> 20) MB" : "\(bytes) bytes" }
}

/// Counts metadata items and their bytes while a file is read, and throws
/// `PhotoIOError.tooMuchMetadata` as soon as either passes its limit, so
/// nothing beyond the limit is ever held.
struct MetadataBudget {
    let limits: StructureLimits
    let file: String
    /// What is counted, in the plural: "PNG chunks besides the image data".
    let items: String
    private(set) var segments = 0
    private(set) var bytes = 0

    init(_ limits: StructureLimits = .standard, file: String, items: String) {
        self.limits = limits
        self.file = file
        self.items = items
    }

    mutating func add(items count: Int = 1, bytes length: Int) throws {
        segments += count
        if segments > limits.segments {
            throw PhotoIOError.tooMuchMetadata(file, "more than \(limits.segments) \(items)")
        }
        bytes += length
        if bytes > limits.bytes {
            throw PhotoIOError.tooMuchMetadata(file, "more than \(limits.bytesText) in \(items)")
        }
    }
}

extension PhotoIOError {
    /// The file holds more metadata than `StructureLimits` allows: far more
    /// than any camera or editor writes.
    static func tooMuchMetadata(_ file: String, _ message: String) -> PhotoIOError {
        PhotoIOError(.unsupported, file: file, what: "too much metadata: \(message)", remedy: metadataRemedy)
    }

    static let metadataRemedy = "Rewrite its metadata keeping what matters "
        + "(e.g. exiftool -all= -tagsfromfile @ -exif:all -icc_profile FILE) and try again; "
        + "no camera or editor writes this much, so the file may have been made to exhaust memory"
}
