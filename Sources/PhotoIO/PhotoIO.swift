import Foundation

/// Decode and encode photos in their own format, metadata included.
///
/// What goes in comes out: format, bit depth (16-bit stays 16-bit), channels
/// (grey stays grey, alpha is passed through untouched), pixel orientation
/// (so EXIF Orientation stays true), and metadata byte-for-byte:
/// - JPEG: every APPn and COM segment in order (JFIF, EXIF, XMP, ICC chunks,
///   IPTC/Photoshop, ...), except APP2 "MPF" (it indexes images after the
///   main one, which are not carried), and the AFCP, FotoStation and Photo
///   Mechanic trailers after EOI (AFCP's offsets to itself moved); other
///   data after EOI is not carried. What is left out is named in the note
///   ("...; not carried: MPF index and ..."). An Adobe APP14's transform
///   flag is set to YCbCr for colour, since colour is always written as
///   YCbCr. The note is a COM segment; the EXIF blob is never rewritten.
///   Quality is `EncodeOptions.jpegQuality` (95); chroma sampling is the
///   input's (4:4:4 stays 4:4:4), 4:2:0 for images that were not JPEG;
///   progressive stays progressive.
/// - PNG: every ancillary chunk with a valid CRC, before or after IDAT as it
///   was (iCCP, sRGB, gAMA, cHRM, pHYs, tEXt/zTXt/iTXt, eXIf, tIME, private
///   chunks), except unknown chunks unsafe to copy (PNG 14.2: fourth letter
///   upper-case) and repeats of chunks allowed once. The note is a tEXt
///   "Software" chunk, or "Comment" when the file already has a Software
///   keyword. Palette images are written as 8-bit RGB, or RGBA when tRNS
///   made palette entries transparent (their bKGD, hIST and sBIT are
///   dropped, as they index the palette); 1/2/4-bit grey as 8-bit grey (bKGD
///   widened alike); a tRNS colour key on grey or RGB as an alpha channel
///   (grey+alpha, RGBA) with exactly the key's transparent pixels.
///   Interlacing is kept.
/// - TIFF: the first directory's descriptive tags as raw entries (resolution
///   and unit, ImageDescription, Artist, Copyright, DateTime, Make, Model,
///   Orientation, ICC, XMP, IPTC, Photoshop resources, any private tag) and
///   the EXIF, GPS and Interoperability directories, relocated but with
///   their bytes unchanged, in the input's byte order. Compression (none,
///   LZW, Deflate, PackBits) and predictor are kept; JPEG-compressed TIFF
///   (new or old style) is written as JPEG TIFF (YCbCr 4:2:0 for colour, at
///   `jpegQuality`), or LZW when it has alpha; any other codec libtiff reads
///   (CCITT fax, ZSTD, WebP, ...) is written as LZW. Palette TIFFs (1-8 bits)
///   are written as 8-bit RGB, 1/2/4-bit grey as 8-bit grey, YCbCr as RGB;
///   planar input is written contiguous; min-is-white stays min-is-white.
///   The note is appended to the input's Software after "; " (or is the
///   Software when there was none). A tag whose value overlaps another
///   tag's is not carried, and the note says how many (a crafted file could
///   otherwise multiply one blob by every tag pointing at it; two small
///   values shared exactly, such as one resolution RATIONAL, are kept).
///   Reduced-resolution preview directories,
///   SubIFDs and Photoshop layer data (37724) are dropped: they show the
///   unprocessed picture. Maker notes that hold absolute file offsets may
///   not survive relocation (exiftool has per-vendor fixes for this; we do not).
///
/// Camera raws are refused (`CameraRaw`): DNG, NEF, CR2, ARW, IIQ and other
/// TIFF-based raws, any TIFF whose first image is a reduced-resolution
/// preview, and ORF, RW2, CR3, CRW, RAF, MRW, X3F; the advice is to export a
/// TIFF or JPEG from a raw converter.
///
/// Declined with `PhotoIOError.Kind.unsupported`, a message naming the file
/// and what to do: CMYK/YCCK and 12-bit/lossless JPEG, animated PNG,
/// multi-page, float, CMYK, Lab and LogLuv TIFF, BigTIFF, camera raws.
/// A header claiming more than `maxPixels` pixels is refused before
/// any pixel buffer is allocated. A truncated file is always an error (a
/// photo still being copied must not be processed), although libjpeg would
/// only warn. Metadata is capped (`StructureLimits`, codecs.h): a file with
/// more than 4096 metadata segments, chunks or tags, or more than 64 MB of
/// them, or one that would carry more than 4000 or 60 MB into the output,
/// is declined as too much metadata, so a small file cannot make the
/// decoder or the output huge, and every output reads back. A progressive
/// JPEG with more than 500 scans is declined too.
public enum PhotoIO {
    public static let defaultMaxPixels = 100_000_000

    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> Image {
        let name = url.lastPathComponent
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PhotoIOError(.io, file: name, what: "cannot read the file (\(error.localizedDescription))",
                               remedy: "Check that it exists and is readable")
        }
        return try decode(data: [UInt8](data), name: name, maxPixels: maxPixels)
    }

    public static func decode(data: [UInt8], name: String, maxPixels: Int = defaultMaxPixels) throws -> Image {
        let format = try sniff(data, name: name)
        // A raw is refused before its preview's size or pixels are looked at.
        if format == .tiff { try CameraRaw.checkTIFF(TIFFFile(data, name: name), name: name) }
        // The header check runs before any decoder allocates a pixel buffer.
        let size = try HeaderProbe.dimensions(format: format, bytes: data, name: name)
        if size.width.multipliedReportingOverflow(by: size.height).partialValue > maxPixels
            || size.width.multipliedReportingOverflow(by: size.height).overflow {
            throw PhotoIOError.tooLarge(name, "the header claims \(size.width)x\(size.height) pixels", limit: maxPixels)
        }
        switch format {
        case .jpeg: return try JPEGCodec.decode(data, name: name, maxPixels: maxPixels)
        case .png: return try PNGCodec.decode(data, name: name, maxPixels: maxPixels)
        case .tiff: return try TIFFCodec.decode(data, name: name, maxPixels: maxPixels)
        }
    }

    public static func encode(_ image: Image, options: EncodeOptions = EncodeOptions()) throws -> [UInt8] {
        try validate(image)
        switch image.format {
        case .jpeg: return try JPEGCodec.encode(image, options: options)
        case .png: return try PNGCodec.encode(image, options: options)
        case .tiff: return try TIFFCodec.encode(image, options: options)
        }
    }

    /// Format and size from the header alone; the pixel data is not read.
    public static func probe(contentsOf url: URL) throws -> (format: ImageFormat, width: Int, height: Int) {
        let name = url.lastPathComponent
        let handle: FileHandle
        do {
            handle = try FileHandle(forReadingFrom: url)
        } catch {
            throw PhotoIOError(.io, file: name, what: "cannot open the file (\(error.localizedDescription))",
                               remedy: "Check that it exists and is readable")
        }
        defer { try? handle.close() }
        // Most headers sit in the first 64 KiB; a JPEG with large APP segments
        // or a TIFF whose directory is at the end needs more, so read more.
        var bytes: [UInt8] = []
        var wanted = 65536
        while true {
            let chunk = (try? handle.read(upToCount: wanted - bytes.count)) ?? nil
            let atEnd = chunk == nil || chunk!.count < wanted - bytes.count
            if let chunk { bytes += chunk }
            let format = try sniff(bytes, name: name)
            do {
                let size = try HeaderProbe.dimensions(format: format, bytes: bytes, name: name)
                return (format, size.width, size.height)
            } catch let error as PhotoIOError where error.kind == .corrupt && !atEnd {
                wanted *= 4
            }
        }
    }

    static func sniff(_ data: [UInt8], name: String) throws -> ImageFormat {
        if data.isEmpty {
            throw PhotoIOError(.notAnImage, file: name, what: "the file is empty (0 bytes)",
                               remedy: "If it is still being copied, wait; otherwise supply a JPEG, PNG or TIFF photo")
        }
        if let format = ImageFormat(header: data) { return format }
        if data.starts(with: [0x49, 0x49, 0x2B, 0x00]) || data.starts(with: [0x4D, 0x4D, 0x00, 0x2B]) {
            throw PhotoIOError(.unsupported, file: name, what: "BigTIFF files are not supported",
                               remedy: "Save it as a classic TIFF (under 4 GB), PNG or JPEG")
        }
        try CameraRaw.checkSignature(data, name: name)
        if data.starts(with: [0xFF, 0xD8]) {
            throw PhotoIOError.corrupt(name, "JPEG start marker not followed by a segment")
        }
        throw PhotoIOError(.notAnImage, file: name, what: "not a JPEG, PNG or TIFF file (whatever its name says)",
                           remedy: "Only JPEG, PNG and TIFF photos can be processed")
    }

    static func validate(_ image: Image) throws {
        let problem: String?
        if !(1...4).contains(image.channels) {
            problem = "\(image.channels) channels (must be 1 to 4)"
        } else if image.bitDepth != 8 && image.bitDepth != 16 {
            problem = "bit depth \(image.bitDepth) (must be 8 or 16)"
        } else if image.width <= 0 || image.height <= 0 {
            problem = "size \(image.width)x\(image.height)"
        } else if image.samples.count != image.width * image.height * image.channels {
            problem = "\(image.samples.count) samples for \(image.width)x\(image.height)x\(image.channels)"
        } else if image.format == .jpeg && (image.bitDepth != 8 || image.hasAlpha) {
            problem = "JPEG can only hold 8-bit grey or RGB"
        } else {
            problem = nil
        }
        if let problem {
            throw PhotoIOError(.encode, file: image.name, what: "cannot encode an image with \(problem)",
                               remedy: "This is a bug in the caller; report it")
        }
    }

    static func library(_ file: String, status: Int32, message: String, unsupportedRemedy: String,
                        limit: Int = 0, limitRemedy: String = PhotoIOError.metadataRemedy) -> PhotoIOError {
        switch status {
        case 2: return PhotoIOError(.unsupported, file: file, what: message, remedy: unsupportedRemedy)
        case 5: return PhotoIOError(.unsupported, file: file, what: message, remedy: limitRemedy)
        case 3: return .tooLarge(file, message, limit: limit)
        case 4: return PhotoIOError(.io, file: file, what: "out of memory", remedy: "Free memory or lower the pixel limit")
        default: return .corrupt(file, message)
        }
    }
}

extension Array where Element == UInt8 {
    /// The image's samples as bytes for the C side: 8-bit narrowed, 16-bit in host order.
    static func bytes(of image: Image) -> [UInt8] {
        if image.bitDepth == 8 { return image.samples.narrowedBytes }
        return image.samples.values.withUnsafeBytes { [UInt8]($0) }
    }
}

func cString(_ tuple: UnsafeRawPointer) -> String {
    String(cString: tuple.assumingMemoryBound(to: CChar.self))
}

/// A C message buffer as text, up to its terminating NUL.
func text(of buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
