/// The chunk list of a PNG, walked in Swift so ancillary chunks can be
/// carried byte-for-byte and animated PNGs refused before decoding.
struct PNGChunks {
    struct Chunk {
        var type: String
        var data: ArraySlice<UInt8>
        var crcValid: Bool
        var afterImageData: Bool
    }

    var chunks: [Chunk] = []

    /// Throws `tooMuchMetadata` past `StructureLimits`, counting every chunk
    /// but IDAT (writers split the image data finely: a big PNG may have
    /// tens of thousands of IDAT chunks, and they are not metadata).
    init(_ b: [UInt8], name: String) throws {
        var budget = MetadataBudget(file: name, items: "PNG chunks besides the image data")
        var i = 8
        var seenImageData = false
        var seenEnd = false
        while i < b.count {
            guard i + 12 <= b.count else { throw PhotoIOError.corrupt(name, "PNG chunk header truncated") }
            let length = Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3])
            guard length <= 0x7FFF_FFFF, i + 12 + length <= b.count else {
                throw PhotoIOError.corrupt(name, "PNG chunk runs past the end of the file (truncated)")
            }
            let typeBytes = b[i + 4..<i + 8]
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw PhotoIOError.corrupt(name, "invalid PNG chunk type")
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            if type == "IDAT" { seenImageData = true } else { try budget.add(bytes: length) }
            let stored = UInt32(b[i + 8 + length]) << 24 | UInt32(b[i + 9 + length]) << 16
                | UInt32(b[i + 10 + length]) << 8 | UInt32(b[i + 11 + length])
            let crc = CRC32.checksum(b[i + 4..<i + 8 + length])
            chunks.append(Chunk(type: type, data: b[i + 8..<i + 8 + length], crcValid: crc == stored,
                                afterImageData: seenImageData && type != "IDAT"))
            i += 12 + length
            if type == "IEND" { seenEnd = true; break }
        }
        guard seenEnd else { throw PhotoIOError.corrupt(name, "PNG ends without IEND (truncated)") }
        guard seenImageData else { throw PhotoIOError.corrupt(name, "PNG without image data") }
    }
}

/// The CRC-32 of PNG chunks (ISO 3309, as in zlib).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes { c = table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
