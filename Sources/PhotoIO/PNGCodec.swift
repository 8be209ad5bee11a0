import CImageCodecs

/// PNG through libpng. Ancillary chunks with a valid CRC are carried in file
/// order, before or after the image data as it was; libpng writes only
/// IHDR, IDAT and IEND.
///
/// What changes (PNG 3rd edition, 14.2 "behaviour of PNG editors"):
/// - Palette images come out as 8-bit RGB (RGBA when tRNS gives the palette
///   transparency): deblurred colours no longer fit a palette. Their
///   palette-indexed chunks (bKGD, hIST, sBIT) are then dropped.
/// - Grey below 8 bits comes out as 8-bit grey, its bKGD rescaled.
/// - A tRNS colour key on grey or RGB becomes an explicit alpha channel
///   (grey+alpha, RGBA) holding exactly the key's transparent set: deblurred
///   values would no longer match the key. A key no pixel matches is dropped.
/// - Unknown chunks whose name marks them unsafe to copy (fourth letter
///   upper-case, e.g. juNK, dSIG) are dropped: they may depend on the pixels.
/// - A chunk that may appear only once (cHRM, gAMA, iCCP, sRGB, pHYs, ...)
///   is written once, the first occurrence.
enum PNGCodec {
    static let regenerated: Set<String> = ["IHDR", "PLTE", "IDAT", "IEND", "tRNS", "acTL", "fcTL", "fdAT"]
    static let paletteOnly: Set<String> = ["bKGD", "hIST", "sBIT"]
    /// Chunks we know and keep valid after deblurring, even though their
    /// names mark them unsafe to copy.
    static let known: Set<String> = ["cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCv", "cLLI", "bKGD",
                                     "hIST", "pHYs", "sPLT", "eXIf", "tIME", "tEXt", "zTXt", "iTXt", "oFFs",
                                     "pCAL", "sCAL", "sTER"]
    static let onlyOnce: Set<String> = ["cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCv", "cLLI", "bKGD",
                                        "hIST", "pHYs", "eXIf", "tIME", "oFFs", "pCAL", "sCAL", "sTER"]

    /// Safe to copy: the fourth letter of the name is lower-case.
    static func safeToCopy(_ type: String) -> Bool {
        type.utf8.count == 4 && Array(type.utf8)[3] & 0x20 != 0
    }

    static func decode(_ data: [UInt8], name: String, maxPixels: Int) throws -> Image {
        let walk = try PNGChunks(data, name: name)
        if walk.chunks.contains(where: { $0.type == "acTL" }) {
            throw PhotoIOError(.unsupported, file: name, what: "animated PNG (APNG) is not supported",
                               remedy: "Extract the frame you want as a still PNG and process that")
        }
        var result = mc_png_image()
        let status = data.withUnsafeBufferPointer {
            mc_png_decode($0.baseAddress, $0.count, UInt64(maxPixels), &result)
        }
        defer { mc_png_image_free(&result) }
        guard status == Int32(MC_OK) else {
            let message = withUnsafeBytes(of: result.message) { cString($0.baseAddress!) }
            throw PhotoIO.library(name, status: status, message: message,
                                  unsupportedRemedy: "Convert it to an 8- or 16-bit PNG", limit: maxPixels)
        }
        let width = Int(result.width), height = Int(result.height), channels = Int(result.channels)
        let count = width * height * channels
        let samples: Samples
        if result.bit_depth == 16 {
            samples = Samples(words: Array(UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt16.self), count: count)))
        } else {
            samples = Samples(bytes: Array(UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt8.self), count: count)))
        }
        let sourceType = Int(result.source_color_type), sourceDepth = Int(result.source_bit_depth)
        var image = Image(width: width, height: height, channels: channels, bitDepth: Int(result.bit_depth),
                          samples: samples, format: .png, name: name)
        // A colour key became alpha (grey -> 2 channels, RGB -> 4); if no
        // pixel matched it, the alpha channel says nothing and is removed.
        let keyedAlpha = (sourceType == 0 && channels == 2) || (sourceType == 2 && channels == 4)
        if keyedAlpha && !image.samples.enumerated().contains(where: { $0.offset % channels == channels - 1 && $0.element == 0 }) {
            image = image.droppingAlpha()
        }
        var metadata = Metadata()
        var budget = MetadataBudget(.carried, file: name, items: "PNG ancillary chunks to carry")
        var seen: Set<String> = []
        for chunk in walk.chunks where chunk.crcValid && !regenerated.contains(chunk.type) {
            if sourceType == 3 && paletteOnly.contains(chunk.type) { continue }
            guard known.contains(chunk.type) || safeToCopy(chunk.type) else {
                let what = "\(chunk.type) chunk (unsafe to copy once the pixels change)"
                if !metadata.notCarried.contains(what) { metadata.notCarried.append(what) }
                continue
            }
            if onlyOnce.contains(chunk.type) {
                if seen.contains(chunk.type) { continue }
                seen.insert(chunk.type)
            }
            var data = Array(chunk.data)
            if chunk.type == "bKGD" && sourceType == 0 && sourceDepth < 8 && data.count == 2 {
                // The background grey is in the source's depth: widen it as the samples were.
                let value = (Int(data[0]) << 8 | Int(data[1])) * 255 / ((1 << sourceDepth) - 1)
                data = [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
            }
            if chunk.type == "sBIT" && image.channels != (sourceType == 2 ? 3 : 1) && data.count == (sourceType == 2 ? 3 : 1) {
                // The key became an alpha channel, whose bits are all significant.
                data.append(UInt8(image.bitDepth))
            }
            try budget.add(bytes: data.count)
            metadata.pngChunks.append(PNGChunk(type: chunk.type, data: data, afterImageData: chunk.afterImageData))
        }
        var encoding = EncodingInfo()
        encoding.pngInterlaced = result.interlaced != 0
        encoding.pngSourceColourType = Int(result.source_color_type)
        encoding.pngSourceBitDepth = Int(result.source_bit_depth)
        image.metadata = metadata
        image.encoding = encoding
        return image
    }

    static func encode(_ image: Image, options: EncodeOptions) throws -> [UInt8] {
        var chunks = image.metadata.pngChunks
        if let note = options.softwareNote.map(image.metadata.processingNote),
           let chunk = noteChunk(note, existing: chunks), image.metadata.hasRoom(items: 1, bytes: chunk.data.count) {
            chunks.append(chunk)
        }
        let pixels = [UInt8].bytes(of: image)
        var message = [CChar](repeating: 0, count: Int(MC_MESSAGE_SIZE))
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status: Int32 = withPointers(chunks.map(\.data)) { pointers in
            var list = zip(chunks, pointers).map { chunk, pointer in
                let t = Array(chunk.type.utf8).map { CChar(bitPattern: $0) }
                return mc_png_chunk(type: (t[0], t[1], t[2], t[3]), data: pointer,
                                    length: UInt32(chunk.data.count), after_idat: chunk.afterImageData ? 1 : 0)
            }
            return pixels.withUnsafeBytes { p in
                mc_png_encode(p.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                              Int32(image.bitDepth), image.encoding.pngInterlaced ? 1 : 0,
                              Int32(max(0, min(9, options.pngCompressionLevel))),
                              &list, Int32(list.count), &out, &size, &message)
            }
        }
        defer { mc_free(out) }
        guard status == Int32(MC_OK), let out else {
            throw PhotoIOError(.encode, file: image.name,
                               what: "libpng could not write the image (\(text(of: message)))",
                               remedy: "Check free memory; if it persists, report it")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// A tEXt "Software" chunk, or "Comment" when the file already names its
    /// software; nothing when the same note is already there (re-processing
    /// the same input gives the same output).
    static func noteChunk(_ note: String, existing: [PNGChunk]) -> PNGChunk? {
        // tEXt is Latin-1; anything outside it becomes "?".
        let text = note.unicodeScalars.map { $0.value < 256 && $0.value != 0 ? UInt8($0.value) : UInt8(ascii: "?") }
        var keywords: [String: [[UInt8]]] = [:]
        for chunk in existing where ["tEXt", "zTXt", "iTXt"].contains(chunk.type) {
            guard let end = chunk.data.firstIndex(of: 0) else { continue }
            let keyword = String(decoding: chunk.data[..<end], as: UTF8.self)
            keywords[keyword, default: []].append(chunk.type == "tEXt" ? Array(chunk.data[(end + 1)...]) : [])
        }
        if keywords["Software", default: []].contains(text) || keywords["Comment", default: []].contains(text) {
            return nil
        }
        let keyword = keywords["Software"] == nil ? "Software" : "Comment"
        return PNGChunk(type: "tEXt", data: Array(keyword.utf8) + [0] + text, afterImageData: false)
    }
}
