import Foundation

/// Decode and encode photos in their own format, metadata included.
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
        if data.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if data.starts(with: [0x49, 0x49, 0x2A, 0x00]) || data.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) { return .tiff }
        if data.starts(with: [0x49, 0x49, 0x2B, 0x00]) || data.starts(with: [0x4D, 0x4D, 0x00, 0x2B]) {
            throw PhotoIOError(.unsupported, file: name, what: "BigTIFF files are not supported",
                               remedy: "Save it as a classic TIFF (under 4 GB), PNG or JPEG")
        }
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
                        limit: Int = 0) -> PhotoIOError {
        switch status {
        case 2: return PhotoIOError(.unsupported, file: file, what: message, remedy: unsupportedRemedy)
        case 3: return .tooLarge(file, message, limit: limit)
        case 4: return PhotoIOError(.io, file: file, what: "out of memory", remedy: "Free memory or lower the pixel limit")
        default: return .corrupt(file, message)
        }
    }
}

extension Array where Element == UInt8 {
    /// The image's samples as bytes for the C side: 8-bit narrowed, 16-bit in host order.
    static func bytes(of image: Image) -> [UInt8] {
        if image.bitDepth == 8 {
            return image.samples.map { UInt8(truncatingIfNeeded: Swift.min($0, 255)) }
        }
        return image.samples.withUnsafeBytes { [UInt8]($0) }
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
