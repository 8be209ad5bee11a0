/// The file-name extensions of the formats PhotoIO reads: the one list the
/// daemon (which names in the inbox look like photos) and `mtrnnctl deblur`
/// (which format an output name claims) both use.
extension ImageFormat {
    /// Every extension of the format, lower case, the usual one first.
    public var fileExtensions: [String] {
        switch self {
        case .jpeg: return ["jpg", "jpeg", "jpe", "jfif"]
        case .png: return ["png"]
        case .tiff: return ["tif", "tiff"]
        }
    }

    /// The format a file name's extension claims (any case); nil for none of ours.
    public init?(fileExtension: String) {
        let ext = fileExtension.lowercased()
        guard let format = ImageFormat.allCases.first(where: { $0.fileExtensions.contains(ext) }) else { return nil }
        self = format
    }
}
