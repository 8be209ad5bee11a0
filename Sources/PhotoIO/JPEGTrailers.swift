/// Data appended after a JPEG's EOI marker.
///
/// Trailers are found as exiftool finds them, from the end of the file
/// backwards, each by the signature of its last bytes:
/// - Photo Mechanic: ..., 4-byte big-endian size, "cbipcbbl";
/// - FotoStation: records, each ending in a 2-byte tag, a 4-byte big-endian
///   record size (footer included) and 0xA1B2C3D4;
/// - AFCP: "AXS!" (big-endian) or "AXS*" (little-endian) header, version,
///   entry count, checksum; 12-byte entries (tag, size, absolute offset);
///   the values; and an end record of the header, the absolute offset of
///   the start and a checksum.
/// Whatever lies before the first recognised trailer (MPF's appended
/// images, vendor blobs) is not carried: it shows the unprocessed picture or
/// indexes data we do not keep.
enum JPEGTrailers {
    /// The recognised trailers, and how many bytes before them are not
    /// carried (zero and 0xFF padding, as FotoStation leaves, not counted).
    /// Each record counts against `budget`, which throws past its limits.
    static func split(_ data: [UInt8], from start: Int,
                      budget: inout MetadataBudget) throws -> (kept: [JPEGTrailer], droppedBytes: Int) {
        guard start < data.count else { return ([], 0) }
        var end = data.count
        // Found last first; appended and reversed at the end (inserting each
        // at the front was quadratic in the number of records).
        var kept: [JPEGTrailer] = []
        func keep(_ kind: JPEGTrailer.Kind, _ begin: Int) throws {
            try budget.add(bytes: end - begin)
            kept.append(JPEGTrailer(kind: kind, bytes: Array(data[begin..<end]), fileOffset: begin))
            end = begin
        }
        func be32(_ i: Int) -> Int {
            Int(data[i]) << 24 | Int(data[i + 1]) << 16 | Int(data[i + 2]) << 8 | Int(data[i + 3])
        }
        func matches(_ i: Int, _ text: String) -> Bool {
            let bytes = Array(text.utf8)
            return i >= start && i + bytes.count <= end && Array(data[i..<i + bytes.count]) == bytes
        }
        while end > start {
            if end - start >= 12, matches(end - 8, "cbipcbbl") {
                let size = be32(end - 12)
                let begin = end - 12 - size
                guard size < 0x8000_0000, begin >= start else { break }
                try keep(.photoMechanic, begin)
            } else if end - start >= 10, be32(end - 4) == 0xA1B2_C3D4 {
                let size = be32(end - 8)
                let begin = end - size
                guard size >= 10, begin >= start else { break }
                try keep(.fotoStation, begin)
            } else if end - start >= 24, matches(end - 12, "AXS!") || matches(end - 12, "AXS*") {
                let header = Array(data[end - 12..<end - 8])
                let bigEndian = header[3] == UInt8(ascii: "!")
                let begin = AFCP.read32(data, end - 8, bigEndian: bigEndian)
                guard begin >= start, begin + 12 <= end - 12, Array(data[begin..<begin + 4]) == header else { break }
                try keep(.afcp, begin)
            } else {
                break
            }
        }
        let padding = data[start..<end].allSatisfy { $0 == 0 || $0 == 0xFF }
        return (kept.reversed(), padding ? 0 : end - start)
    }

    /// The trailers as they are appended to a new JPEG of `imageSize` bytes,
    /// AFCP offsets moved with their block. A block whose offsets no longer
    /// fit is left out.
    static func bytes(_ trailers: [JPEGTrailer], after imageSize: Int) -> [UInt8] {
        var out: [UInt8] = []
        for trailer in trailers {
            var bytes = trailer.bytes
            if trailer.kind == .afcp {
                guard let moved = AFCP.move(bytes, by: imageSize + out.count - trailer.fileOffset) else { continue }
                bytes = moved
            }
            out += bytes
        }
        return out
    }

    enum AFCP {
        static func read32(_ b: [UInt8], _ i: Int, bigEndian: Bool) -> Int {
            let v = (0..<4).map { Int(b[i + $0]) }
            return bigEndian ? v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3] : v[3] << 24 | v[2] << 16 | v[1] << 8 | v[0]
        }

        static func write32(_ b: inout [UInt8], _ i: Int, _ value: Int, bigEndian: Bool) {
            for k in 0..<4 {
                let shift = bigEndian ? 24 - 8 * k : 8 * k
                b[i + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        }

        /// The block with every absolute offset (entries and end record) moved by `delta`.
        static func move(_ block: [UInt8], by delta: Int) -> [UInt8]? {
            guard block.count >= 24 else { return nil }
            let bigEndian = block[3] == UInt8(ascii: "!")
            let count = bigEndian ? Int(block[6]) << 8 | Int(block[7]) : Int(block[7]) << 8 | Int(block[6])
            guard 12 + 12 * count <= block.count - 12 else { return nil }
            var out = block
            var positions = (0..<count).map { 12 + 12 * $0 + 8 }
            positions.append(block.count - 8)
            for i in positions {
                let moved = read32(block, i, bigEndian: bigEndian) + delta
                guard (0...Int(UInt32.max)).contains(moved) else { return nil }
                write32(&out, i, moved, bigEndian: bigEndian)
            }
            return out
        }
    }
}
