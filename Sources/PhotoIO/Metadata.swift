/// Metadata carried from input to output, kept as the bytes the file held so
/// that it is written back byte-for-byte.
///
/// Only the part for the image's own format is filled in.
public struct Metadata: Sendable, Equatable {
    /// JPEG APPn and COM segments in file order (EXIF, XMP, ICC chunks,
    /// IPTC/Photoshop, JFIF, COM, ...). APP2 "MPF" is not kept: it points at
    /// images appended after the main one, which are not carried.
    public var jpegMarkers: [JPEGMarker] = []
    /// Data appended after a JPEG's EOI that is carried: AFCP, FotoStation
    /// and Photo Mechanic trailers (IPTC captions, keywords, copyright), in
    /// file order. They hold no offsets into the image data; AFCP's offsets
    /// to its own records are moved with it on encode.
    public var jpegTrailers: [JPEGTrailer] = []
    /// PNG ancillary chunks in file order, with whether each came after IDAT.
    public var pngChunks: [PNGChunk] = []
    /// What the input held that the output will not (e.g. "MPF index and
    /// 1 appended image"); named in the processing note.
    public var notCarried: [String] = []

    /// The processing note written into the output, naming what the input
    /// held that is not carried.
    func processingNote(_ note: String) -> String {
        notCarried.isEmpty ? note : note + "; not carried: " + notCarried.joined(separator: ", ")
    }
    /// TIFF first-directory tags that describe the photo rather than its
    /// encoding (resolution, description, ICC, XMP, IPTC, Orientation, ...),
    /// with the EXIF and GPS directories attached to their pointer tags.
    /// Value bytes are in the input's byte order (`EncodingInfo.tiffBigEndian`).
    public var tiffEntries: [TIFFEntry] = []

    public init() {}
}

public struct JPEGMarker: Sendable, Equatable {
    /// 0xE0...0xEF for APP0...APP15, 0xFE for COM.
    public var code: UInt8
    /// The segment's contents after its 2-byte length.
    public var payload: [UInt8]

    public init(code: UInt8, payload: [UInt8]) {
        self.code = code
        self.payload = payload
    }
}

public struct JPEGTrailer: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case afcp = "AFCP", fotoStation = "FotoStation", photoMechanic = "PhotoMechanic"
    }

    public var kind: Kind
    public var bytes: [UInt8]
    /// Where it started in the input file (AFCP offsets are relative to it).
    public var fileOffset: Int

    public init(kind: Kind, bytes: [UInt8], fileOffset: Int) {
        self.kind = kind
        self.bytes = bytes
        self.fileOffset = fileOffset
    }
}

public struct PNGChunk: Sendable, Equatable {
    /// Four ASCII letters, e.g. "iCCP".
    public var type: String
    public var data: [UInt8]
    public var afterImageData: Bool

    public init(type: String, data: [UInt8], afterImageData: Bool) {
        self.type = type
        self.data = data
        self.afterImageData = afterImageData
    }
}

/// One TIFF directory entry with its complete value (never an offset).
public struct TIFFEntry: Sendable, Equatable {
    public var tag: UInt16
    public var type: UInt16
    public var count: UInt32
    public var value: [UInt8]
    /// For the EXIF, GPS and Interoperability pointer tags: the directory
    /// they point at, which is written out again wherever it lands.
    public var subdirectory: [TIFFEntry]?

    public init(tag: UInt16, type: UInt16, count: UInt32, value: [UInt8], subdirectory: [TIFFEntry]? = nil) {
        self.tag = tag
        self.type = type
        self.count = count
        self.value = value
        self.subdirectory = subdirectory
    }
}
