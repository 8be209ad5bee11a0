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

    /// What reading a file may walk (4096 items, 64 MB).
    static let standard = StructureLimits(segments: Int(MC_MAX_METADATA_SEGMENTS),
                                          bytes: Int(MC_MAX_METADATA_BYTES))
    /// What one decoded image may carry into its output (4000 items, 60 MB):
    /// the difference is room for what encoding adds (the processing note,
    /// libtiff's own tags), so that every output reads back.
    static let carried = StructureLimits(segments: Int(MC_MAX_CARRIED_SEGMENTS),
                                         bytes: Int(MC_MAX_CARRIED_BYTES))

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

extension Metadata {
    /// Items and bytes carried, as decoding counts them against
    /// `StructureLimits.carried`: JPEG segments and trailers, PNG chunks,
    /// TIFF tags with those of their subdirectories.
    var carried: (items: Int, bytes: Int) {
        func tiff(_ entries: [TIFFEntry]) -> (items: Int, bytes: Int) {
            entries.reduce((0, 0)) { sum, entry in
                let below = tiff(entry.subdirectory ?? [])
                return (sum.0 + 1 + below.items, sum.1 + entry.value.count + below.bytes)
            }
        }
        let tags = tiff(tiffEntries)
        return (jpegMarkers.count + jpegTrailers.count + pngChunks.count + tags.items,
                jpegMarkers.reduce(0) { $0 + $1.payload.count } + jpegTrailers.reduce(0) { $0 + $1.bytes.count }
                    + pngChunks.reduce(0) { $0 + $1.data.count } + tags.bytes)
    }

    /// Whether `items` more holding `bytes` (the processing note) stay within
    /// `StructureLimits.carried`, so that the output still decodes. A file
    /// at the limit gets no note rather than an output nobody can read.
    func hasRoom(items: Int, bytes: Int) -> Bool {
        let now = carried
        return now.items + items <= StructureLimits.carried.segments && now.bytes + bytes <= StructureLimits.carried.bytes
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
