import CImageCodecs

/// PNG through libpng. Every ancillary chunk with a valid CRC is carried in
/// file order, before or after the image data as it was; libpng writes only
/// IHDR, IDAT and IEND.
///
/// Palette images come out as 8-bit RGB (RGBA when tRNS gives the palette
/// transparency): deblurred colours no longer fit a palette. Their
/// palette-indexed chunks (bKGD, hIST, sBIT) are then dropped. Grey below 8
/// bits comes out as 8-bit grey. A tRNS colour key on grey or RGB is kept as
/// it is, with the channel count.
enum PNGCodec {
    static let regenerated: Set<String> = ["IHDR", "PLTE", "IDAT", "IEND"]
    static let paletteOnly: Set<String> = ["tRNS", "bKGD", "hIST", "sBIT"]

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
        let samples: [UInt16]
        if result.bit_depth == 16 {
            samples = Array(UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt16.self), count: count))
        } else {
            samples = UnsafeBufferPointer(start: result.pixels.assumingMemoryBound(to: UInt8.self), count: count).map { UInt16($0) }
        }
        let palette = result.source_color_type == 3
        var metadata = Metadata()
        for chunk in walk.chunks where chunk.crcValid && !regenerated.contains(chunk.type)
            && !(palette && paletteOnly.contains(chunk.type)) && !["acTL", "fcTL", "fdAT"].contains(chunk.type) {
            metadata.pngChunks.append(PNGChunk(type: chunk.type, data: Array(chunk.data),
                                               afterImageData: chunk.afterImageData))
        }
        var encoding = EncodingInfo()
        encoding.pngInterlaced = result.interlaced != 0
        encoding.pngSourceColourType = Int(result.source_color_type)
        encoding.pngSourceBitDepth = Int(result.source_bit_depth)
        return Image(width: width, height: height, channels: channels, bitDepth: Int(result.bit_depth),
                     samples: samples, format: .png, metadata: metadata, encoding: encoding, name: name)
    }

    static func encode(_ image: Image, options: EncodeOptions) throws -> [UInt8] {
        var chunks = image.metadata.pngChunks
        if let note = options.softwareNote, let chunk = noteChunk(note, existing: chunks) {
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
