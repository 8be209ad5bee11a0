/// Image dimensions from a header, without a decoder and before any
/// allocation, so a pixel bomb is refused cheaply.
enum HeaderProbe {
    static func dimensions(format: ImageFormat, bytes: [UInt8], name: String) throws -> (width: Int, height: Int) {
        switch format {
        case .jpeg: return try jpeg(bytes, name: name)
        case .png: return try png(bytes, name: name)
        case .tiff:
            let file = try TIFFFile(bytes, name: name)
            let entries = try file.directory(at: file.firstDirectoryOffset)
            guard let width = entries.first(where: { $0.tag == 256 }).flatMap(file.integer),
                  let height = entries.first(where: { $0.tag == 257 }).flatMap(file.integer) else {
                throw PhotoIOError.corrupt(name, "TIFF directory without image width or length")
            }
            return (width, height)
        }
    }

    static func png(_ b: [UInt8], name: String) throws -> (width: Int, height: Int) {
        guard b.count >= 24, Array(b[12..<16]) == Array("IHDR".utf8) else {
            throw PhotoIOError.corrupt(name, "PNG without an IHDR header")
        }
        let width = Int(b[16]) << 24 | Int(b[17]) << 16 | Int(b[18]) << 8 | Int(b[19])
        let height = Int(b[20]) << 24 | Int(b[21]) << 16 | Int(b[22]) << 8 | Int(b[23])
        return (width, height)
    }

    static func jpeg(_ b: [UInt8], name: String) throws -> (width: Int, height: Int) {
        // The same limits the decoder applies (codecs.c), so a flood of
        // segments before the frame header is refused here already.
        var budget = MetadataBudget(file: name, items: "JPEG metadata segments (APPn/COM; a camera writes about 10)")
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { throw PhotoIOError.corrupt(name, "JPEG segment does not start with a marker") }
            let marker = b[i + 1]
            if marker == 0xFF { i += 1; continue }
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { i += 2; continue }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            let isSOF = (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC
            if isSOF {
                guard i + 9 <= b.count else { break }
                let height = Int(b[i + 5]) << 8 | Int(b[i + 6])
                let width = Int(b[i + 7]) << 8 | Int(b[i + 8])
                return (width, height)
            }
            if marker == 0xDA || marker == 0xD9 { break }
            if (0xE0...0xEF).contains(marker) || marker == 0xFE { try budget.add(bytes: max(0, length - 2)) }
            i += 2 + length
        }
        throw PhotoIOError.corrupt(name, "no JPEG frame header found")
    }
}
