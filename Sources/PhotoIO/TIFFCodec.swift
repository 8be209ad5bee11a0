import CImageCodecs

/// TIFF through libtiff, with the first directory's descriptive tags and the
/// EXIF/GPS directories carried over as raw entries (see TIFFFile).
enum TIFFCodec {
    /// Tags that describe how the pixels are stored, rewritten by libtiff for
    /// the new data and never copied from the input. Also left out: SubIFDs
    /// (330) and Photoshop's layer data (37724), which would describe
    /// pictures other than the processed one, and GlobalParametersIFD (400).
    /// InkSet, InkNames and NumberOfInks (332-334) count the input's ink
    /// channels; copied beside a SamplesPerPixel that differs, libtiff
    /// refuses to read the output back (found by the photoio fuzzer).
    static let encodingTags: Set<UInt16> = [
        254, 255, 256, 257, 258, 259, 262, 263, 266, 273, 277, 278, 279, 280, 281, 284,
        288, 289, 292, 293, 317, 320, 322, 323, 324, 325, 330, 332, 333, 334, 338, 339, 340, 341, 347,
        400, 512, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531, 532,
        32995, 32996, 32997, 32998, 37724,
    ]

    static let writableCompressions: Set<Int> = [1, 5, 8, 32946, 32773]

    static func decode(_ data: [UInt8], name: String, maxPixels: Int) throws -> Image {
        let file = try TIFFFile(data, name: name)
        var result = mc_tiff_image()
        let status = data.withUnsafeBufferPointer {
            mc_tiff_decode($0.baseAddress, $0.count, UInt64(maxPixels), &result)
        }
        defer { mc_tiff_image_free(&result) }
        guard status == Int32(MC_OK) else {
            let message = withUnsafeBytes(of: result.message) { cString($0.baseAddress!) }
            throw PhotoIO.library(name, status: status, message: message,
                                  unsupportedRemedy: remedy(for: message), limit: maxPixels)
        }
        let width = Int(result.width), height = Int(result.height), channels = Int(result.channels)
        let count = width * height * channels
        var samples: Samples
        if result.bit_depth == 16 {
            samples = Samples(words: Array(UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt16.self), count: count)))
        } else {
            samples = Samples(bytes: Array(UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt8.self), count: count)))
        }
        let maximum: UInt16 = result.bit_depth == 16 ? 65535 : 255
        if result.photometric == 0 { invertGrey(&samples, channels: channels, maximum: maximum) }

        var encoding = EncodingInfo()
        encoding.tiffCompression = Int(result.compression)
        encoding.tiffPredictor = Int(result.predictor)
        encoding.tiffPhotometric = Int(result.photometric)
        encoding.tiffExtraSample = Int(result.extra_sample)
        encoding.tiffBigEndian = result.big_endian != 0

        var metadata = Metadata()
        var budget = TIFFReadBudget(file: name)
        let entries = try file.directory(at: file.firstDirectoryOffset, followPointers: true, budget: &budget)
        let overlapping = budget.overlapping.filter { !encodingTags.contains($0) && $0 != 0 }.count
        if overlapping > 0 {
            metadata.notCarried.append("\(overlapping) TIFF tag\(overlapping == 1 ? "" : "s") whose value overlaps another's")
        }
        metadata.tiffEntries = entries.filter { entry in
            // Tag 0 is no tag; libtiff skips it with an error, so it is not carried.
            if encodingTags.contains(entry.tag) || entry.tag == 0 { return false }
            // A pointer whose directory could not be read, or one we do not
            // know how to move, would point at garbage in the output.
            if TIFFFile.subdirectoryTags.contains(entry.tag) { return entry.subdirectory != nil }
            return entry.type != 13
        }
        // Beside libtiff's own tags in the output's IFD0, which libtiff reads
        // back only up to 4096 entries.
        var carried = MetadataBudget(.carried, file: name, items: "TIFF tags to carry")
        func add(_ entries: [TIFFEntry]) throws {
            for entry in entries {
                try carried.add(bytes: entry.value.count)
                try add(entry.subdirectory ?? [])
            }
        }
        try add(metadata.tiffEntries)
        return Image(width: width, height: height, channels: channels, bitDepth: Int(result.bit_depth),
                     samples: samples, format: .tiff, metadata: metadata, encoding: encoding, name: name)
    }

    static func encode(_ image: Image, options: EncodeOptions) throws -> [UInt8] {
        var source = image
        let grey = image.channels <= 2
        let photometric = grey ? (image.encoding.tiffPhotometric == 0 ? 0 : 1) : 2
        if photometric == 0 { invertGrey(&source.samples, channels: image.channels, maximum: image.maxSample) }
        let pixels = [UInt8].bytes(of: source)
        let compression = outputCompression(for: image)
        var entries = image.metadata.tiffEntries
        // The note lengthens the input's Software tag or adds one.
        let note = options.softwareNote.map(image.metadata.processingNote).flatMap { note in
            image.metadata.hasRoom(items: entries.contains { $0.tag == 305 } ? 0 : 1, bytes: note.utf8.count + 3)
                ? note : nil
        }
        let software = softwareTag(note: note, entries: &entries)
        let predictor = [5, 8, 32946].contains(compression) && image.encoding.tiffPredictor == 2 ? 2 : 1
        var message = [CChar](repeating: 0, count: Int(MC_MESSAGE_SIZE))
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = pixels.withUnsafeBytes { raw in
            (software ?? [0]).withUnsafeBufferPointer { tag in
                mc_tiff_encode(raw.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                               Int32(image.bitDepth), Int32(photometric), Int32(compression), Int32(predictor),
                               Int32(image.encoding.tiffExtraSample), image.encoding.tiffBigEndian ? 1 : 0,
                               Int32(options.jpegQuality), software == nil ? nil : tag.baseAddress,
                               &out, &size, &message)
            }
        }
        defer { mc_free(out) }
        guard status == Int32(MC_OK), let out else {
            throw PhotoIOError(.encode, file: image.name,
                               what: "libtiff could not write the image (\(text(of: message)))",
                               remedy: "Check free memory; if it persists, report it")
        }
        let written = Array(UnsafeBufferPointer(start: out, count: size))
        if entries.isEmpty { return written }
        return try carryEntries(entries, into: written, name: image.name)
    }

    /// The input's compression where we can write it (none, LZW, Deflate,
    /// PackBits; JPEG for 8-bit grey or RGB, as new-style JPEG); LZW for the
    /// rest (CCITT fax, ZSTD, WebP, ..., and JPEG with alpha or 16 bits), so
    /// nothing is written bigger than it need be and alpha is never lossy.
    static func outputCompression(for image: Image) -> Int {
        let input = image.encoding.tiffCompression
        if writableCompressions.contains(input) { return input }
        if input == 7 || input == 6 { return image.bitDepth == 8 && !image.hasAlpha ? 7 : 5 }
        return 5
    }

    /// The Software tag to write, NUL-terminated: the input's own Software
    /// (which says what made the photo) with the note appended after "; ",
    /// or the note alone. A Software that already ends with the note is kept
    /// as it is, so processing twice does not repeat it. The input's entry is
    /// taken out of `entries`, as libtiff writes the tag.
    static func softwareTag(note: String?, entries: inout [TIFFEntry]) -> [CChar]? {
        guard let note else { return nil }
        let noteBytes = Array(note.utf8)
        var bytes = noteBytes
        if let index = entries.firstIndex(where: { $0.tag == 305 }) {
            let old = Array(entries[index].value.prefix { $0 != 0 })
            entries.remove(at: index)
            if old.count >= noteBytes.count && Array(old.suffix(noteBytes.count)) == noteBytes {
                bytes = old
            } else if !old.isEmpty {
                bytes = old + Array("; ".utf8) + noteBytes
            }
        }
        return bytes.map { CChar(bitPattern: $0) } + [0]
    }

    /// Writes a new first directory holding libtiff's entries plus the
    /// carried ones, and points the header at it. libtiff's own directory
    /// stays behind unreferenced; its values are still used in place.
    static func carryEntries(_ entries: [TIFFEntry], into written: [UInt8], name: String) throws -> [UInt8] {
        let file = try TIFFFile(written, name: name)
        let first = file.firstDirectoryOffset
        var slots: [TIFFWriter.Slot] = []
        for index in 0..<Int(file.u16(first)) {
            let at = first + 2 + 12 * index
            slots.append(TIFFWriter.Slot(tag: file.u16(at), type: file.u16(at + 2), count: file.u32(at + 4),
                                         field: Array(written[at + 8..<at + 12])))
        }
        let present = Set(slots.map(\.tag))
        var writer = TIFFWriter(bytes: written, bigEndian: file.bigEndian)
        for entry in entries where !present.contains(entry.tag) {
            slots.append(try writer.place(entry))
        }
        let offset = try writer.write(slots)
        writer.bytes.replaceSubrange(4..<8, with: writer.encode32(offset))
        return writer.bytes
    }

    static func invertGrey(_ samples: inout Samples, channels: Int, maximum: UInt16) {
        // Only the grey sample; alpha is never inverted.
        func invert<T: FixedWidthInteger>(_ s: inout UnsafeMutableBufferPointer<T>) {
            let top = T(truncatingIfNeeded: maximum)
            var i = 0
            while i < s.count {
                s[i] = top - s[i]
                i += channels
            }
        }
        samples.withMutableStorage(bytes: invert, words: invert)
    }

    static func remedy(for message: String) -> String {
        if message.contains("multi-page") { return "Split the pages (e.g. tiffsplit) and process each one" }
        if message.contains("compression") { return "Re-save it with LZW, Deflate or no compression (e.g. tiffcp -c lzw)" }
        return "Convert it to an 8- or 16-bit RGB or grey TIFF, PNG or JPEG"
    }
}
