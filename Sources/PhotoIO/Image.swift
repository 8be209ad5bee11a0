/// The three file formats PhotoIO reads and writes.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, tiff
}

/// A decoded photo: its samples exactly as stored, plus everything needed to
/// write it back in the same format, depth and channel layout.
///
/// Samples are interleaved, row-major, `height * width * channels` values,
/// read as `UInt16` for both depths so one type serves all formats: 8-bit
/// images hold 0...255 (stored in one byte each: `Samples`), 16-bit images
/// 0...65535. Grey TIFFs stored
/// "min-is-white" are inverted on decode so 0 is always black, and inverted
/// back on encode.
public struct Image: Sendable {
    public var width: Int
    public var height: Int
    /// 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (alpha is always the last channel).
    public var channels: Int
    /// 8 or 16.
    public var bitDepth: Int
    public var samples: Samples
    public var format: ImageFormat
    public var metadata: Metadata
    public var encoding: EncodingInfo
    /// The file the image came from, for error messages (may be empty).
    public var name: String

    /// `samples` are kept in bytes for an 8-bit image (`Samples`).
    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: [UInt16],
                format: ImageFormat, metadata: Metadata = Metadata(),
                encoding: EncodingInfo = EncodingInfo(), name: String = "") {
        self.init(width: width, height: height, channels: channels, bitDepth: bitDepth,
                  samples: Samples(samples, bitDepth: bitDepth), format: format, metadata: metadata,
                  encoding: encoding, name: name)
    }

    public init(width: Int, height: Int, channels: Int, bitDepth: Int, samples: Samples,
                format: ImageFormat, metadata: Metadata = Metadata(),
                encoding: EncodingInfo = EncodingInfo(), name: String = "") {
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
        self.format = format
        self.metadata = metadata
        self.encoding = encoding
        self.name = name
    }

    public var hasAlpha: Bool { channels == 2 || channels == 4 }
    public var maxSample: UInt16 { bitDepth == 16 ? 65535 : 255 }

    /// The same image without its alpha channel (grey+alpha -> grey, RGBA -> RGB).
    func droppingAlpha() -> Image {
        guard hasAlpha else { return self }
        var result = self
        result.channels = channels - 1
        func dropping<T>(_ s: UnsafeBufferPointer<T>) -> [T] {
            var kept: [T] = []
            kept.reserveCapacity(width * height * result.channels)
            for (index, sample) in s.enumerated() where index % channels != channels - 1 { kept.append(sample) }
            return kept
        }
        result.samples = samples.withStorage(bytes: { Samples(bytes: dropping($0)) }, words: { Samples(words: dropping($0)) })
        return result
    }
}
