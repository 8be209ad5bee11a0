/// How the input was encoded, so the output can be encoded the same way.
public struct EncodingInfo: Sendable, Equatable {
    // JPEG
    public var jpegProgressive = false
    /// Horizontal and vertical sampling factors of Y, Cb, Cr as read (e.g.
    /// [2,1,1]/[2,1,1] for 4:2:0, [1,1,1]/[1,1,1] for 4:4:4). Empty: 4:2:0.
    public var jpegHorizontalSampling: [Int] = []
    public var jpegVerticalSampling: [Int] = []

    // PNG
    public var pngInterlaced = false
    /// Colour type and depth of the source (3 = palette, written back as RGB(A)).
    public var pngSourceColourType = 0
    public var pngSourceBitDepth = 8

    // TIFF (libtiff's numbers)
    public var tiffCompression = 1
    public var tiffPredictor = 1
    /// 0 min-is-white, 1 min-is-black, 2 RGB.
    public var tiffPhotometric = 2
    /// ExtraSamples value for the alpha channel: 0 unspecified, 1 associated, 2 unassociated.
    public var tiffExtraSample = 2
    public var tiffBigEndian = false

    public init() {}
}

public struct EncodeOptions: Sendable, Equatable {
    /// libjpeg quality 1...100.
    public var jpegQuality: Int
    /// A note saying who processed the file, e.g. "mtrnn-watch 0.1 (MT-RNN, 6 iterations)":
    /// a JPEG COM segment, a PNG tEXt chunk ("Software", or "Comment" when the
    /// file already names its software), the TIFF Software tag. Left out
    /// when the image already carries as much metadata as a decode accepts
    /// (`StructureLimits.carried`), so that the output still reads back.
    public var softwareNote: String?
    /// zlib level for PNG 0...9.
    public var pngCompressionLevel: Int

    public init(jpegQuality: Int = 95, softwareNote: String? = nil, pngCompressionLevel: Int = 6) {
        self.jpegQuality = jpegQuality
        self.softwareNote = softwareNote
        self.pngCompressionLevel = pngCompressionLevel
    }
}
