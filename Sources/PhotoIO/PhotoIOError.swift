/// Every failure of PhotoIO: what happened, to which file, and what to do.
public struct PhotoIOError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Not a JPEG, PNG or TIFF at all (or an empty file).
        case notAnImage
        /// A valid file of a kind PhotoIO declines (CMYK JPEG, animated PNG, ...),
        /// or one whose structure passes a limit (`StructureLimits`: metadata
        /// segments, chunks, tags and their bytes; progressive JPEG scans).
        case unsupported
        /// The header claims more pixels than the configured limit.
        case tooLarge
        /// Damaged or incomplete data; the library's message is in `what`.
        case corrupt
        /// Reading the file failed.
        case io
        /// The encoder failed or the image is inconsistent.
        case encode
    }

    public var kind: Kind
    public var file: String
    public var what: String
    public var remedy: String

    public init(_ kind: Kind, file: String, what: String, remedy: String) {
        self.kind = kind
        self.file = file
        self.what = what
        self.remedy = remedy
    }

    public var description: String {
        let name = file.isEmpty ? "image" : file
        return "\(name): \(what). \(remedy)"
    }

    static func corrupt(_ file: String, _ message: String) -> PhotoIOError {
        PhotoIOError(.corrupt, file: file, what: "damaged or incomplete image data (\(message))",
                     remedy: "If it is still being copied, wait; otherwise re-export or copy it again")
    }

    static func tooLarge(_ file: String, _ message: String, limit: Int) -> PhotoIOError {
        PhotoIOError(.tooLarge, file: file, what: "\(message), more than the limit of \(limit) pixels",
                     remedy: "Raise the pixel limit if the image is genuine, or downscale it")
    }
}
