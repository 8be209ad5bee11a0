import Foundation
import Testing
@testable import PhotoIO

/// The PNG and JPEG faults a conformance run over PngSuite, libpng's and
/// ExifTool's test files found (scripts/conformance.sh runs the files
/// themselves); each test here fails on the code before the fix.
struct PNGColourKeyTests {
    /// Like PngSuite's ftbbn0g04: 4-bit grey with a tRNS key (5) and a bKGD
    /// (grey 3 of 15 here, so its widening shows).
    static func keyedGrey4() -> (png: [UInt8], transparent: [Bool]) {
        let width = 8, height = 4
        var values: [Int] = []
        for y in 0..<height { for x in 0..<width { values.append((x + 3 * y) % 16) } }
        let rows = (0..<height).map { y in
            (0..<width / 2).map { x in UInt8(values[y * width + 2 * x] << 4 | values[y * width + 2 * x + 1]) }
        }
        let png = makePNG(width: width, height: height, bitDepth: 4, colourType: 0, rows: rows,
                          chunks: [("tRNS", [0, 5]), ("bKGD", [0, 3])])
        return (png, values.map { $0 == 5 })
    }

    @Test func grey4KeyBecomesAlphaWithExactlyTheTransparentSet() throws {
        let (png, transparent) = Self.keyedGrey4()
        let image = try PhotoIO.decode(data: png, name: "key4.png")
        #expect(image.channels == 2 && image.bitDepth == 8)
        #expect((0..<transparent.count).map { image.samples[2 * $0 + 1] == 0 } == transparent)
        #expect(!image.metadata.pngChunks.contains { $0.type == "tRNS" })
        // The background grey 3 of 15 is widened as the samples were: 3 * 17.
        #expect(image.metadata.pngChunks.first { $0.type == "bKGD" }?.data == [0, 51])
        // Deblurring moves every value; dark ones onto the widened key (85)
        // would have become transparent with a kept key.
        let planar = [Float](repeating: 85, count: 3 * image.width * image.height)
        let processed = image.replacingColour(withPlanarRGB: planar)
        let back = try PhotoIO.decode(data: PhotoIO.encode(processed), name: "out.png")
        #expect(back.channels == 2)
        #expect((0..<transparent.count).map { back.samples[2 * $0 + 1] == 0 } == transparent)
    }

    @Test func rgbKeyBecomesAlphaAndDeblurredValuesDoNotMatchIt() throws {
        let width = 6, height = 3
        let key: [UInt8] = [10, 20, 30]
        var transparent: [Bool] = []
        let rows = (0..<height).map { y -> [UInt8] in
            (0..<width).flatMap { x -> [UInt8] in
                let hit = (x + y) % 3 == 0
                transparent.append(hit)
                return hit ? key : [UInt8(40 * x), UInt8(50 * y), 7]
            }
        }
        let png = makePNG(width: width, height: height, bitDepth: 8, colourType: 2, rows: rows,
                          chunks: [("sBIT", [8, 8, 8]), ("tRNS", [0, 10, 0, 20, 0, 30])])
        let image = try PhotoIO.decode(data: png, name: "key.png")
        #expect(image.channels == 4)
        #expect(image.metadata.pngChunks.first { $0.type == "sBIT" }?.data == [8, 8, 8, 8])
        let planar = [Float](repeating: 0, count: 3 * width * height).enumerated().map { i, _ in
            Float(key[i / (width * height)])
        }
        let back = try PhotoIO.decode(data: PhotoIO.encode(image.replacingColour(withPlanarRGB: planar)), name: "o.png")
        #expect((0..<transparent.count).map { back.samples[4 * $0 + 3] == 0 } == transparent)
    }

    @Test func keyThatNoPixelMatchesIsDropped() throws {
        let png = makePNG(width: 4, height: 1, bitDepth: 8, colourType: 0, rows: [[1, 2, 3, 4]],
                          chunks: [("tRNS", [0, 200])])
        let image = try PhotoIO.decode(data: png, name: "unused.png")
        #expect(image.channels == 1 && image.samples == [1, 2, 3, 4])
        #expect(image.metadata.pngChunks.isEmpty)
    }
}

struct PNGChunkRuleTests {
    @Test func unsafeToCopyUnknownChunksAreDroppedAndNamedInTheNote() throws {
        let png = makePNG(width: 2, height: 1, bitDepth: 8, colourType: 0, rows: [[1, 2]],
                          chunks: [("juNK", [1, 2, 3]), ("juNk", [4, 5]), ("dSIG", [9])])
        let image = try PhotoIO.decode(data: png, name: "junk.png")
        #expect(image.metadata.pngChunks.map(\.type) == ["juNk"])
        let out = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "note"))
        let types = try pngChunkTypes(out)
        #expect(types.contains("juNk") && !types.contains("juNK") && !types.contains("dSIG"))
        let note = try #require(try PhotoIO.decode(data: out, name: "o.png").metadata.pngChunks.first { $0.type == "tEXt" })
        #expect(String(decoding: note.data, as: UTF8.self).contains("not carried: juNK chunk"))
    }

    @Test func chunksAllowedOnceAreWrittenOnce() throws {
        let gamma: [UInt8] = [0, 0, 0xB1, 0x8F]
        let png = makePNG(width: 2, height: 1, bitDepth: 8, colourType: 0, rows: [[1, 2]],
                          chunks: [("gAMA", gamma), ("pHYs", [0, 0, 11, 19, 0, 0, 11, 19, 1]),
                                   ("gAMA", [0, 1, 0, 0]), ("pHYs", [0, 0, 0, 1, 0, 0, 0, 1, 0]),
                                   ("tEXt", Array("A\0x".utf8)), ("tEXt", Array("A\0y".utf8))])
        let image = try PhotoIO.decode(data: png, name: "twice.png")
        let types = try pngChunkTypes(PhotoIO.encode(image))
        #expect(types.filter { $0 == "gAMA" }.count == 1 && types.filter { $0 == "pHYs" }.count == 1)
        #expect(types.filter { $0 == "tEXt" }.count == 2, "text chunks may repeat")
        #expect(image.metadata.pngChunks.first { $0.type == "gAMA" }?.data == gamma, "the first one is kept")
    }
}

struct JPEGTrailerTests {
    static let photoMechanic: [UInt8] = {
        let body: [UInt8] = [0x1C, 0x02, 0xDD, 0x00, 0x04, 0, 0, 0, 6]
        return body + be32(body.count) + Array("cbipcbbl".utf8)
    }()
    static let fotoStation: [UInt8] = {
        let body: [UInt8] = [0x1C, 0x02, 0x78, 0x00, 0x03] + Array("cap".utf8)
        return body + [0, 1] + be32(body.count + 10) + [0xA1, 0xB2, 0xC3, 0xD4]
    }()

    /// An AFCP block at file offset `start`: one IPTC entry, big-endian.
    static func afcp(at start: Int) -> [UInt8] {
        let value: [UInt8] = [0x1C, 0x02, 0x74, 0x00, 0x05] + Array("(c) A".utf8)
        var block = Array("AXS!".utf8) + [0, 1, 0, 1] + [0, 0, 0, 0]
        block += Array("IPTC".utf8) + be32(value.count) + be32(start + 24)
        block += value
        block += Array("AXS!".utf8) + be32(start) + [0, 0, 0, 0]
        return block
    }

    static func be32(_ v: Int) -> [UInt8] { [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    @Test func trailersSurviveAndMPFIsNamedInTheNote() throws {
        var source = syntheticImage(width: 48, height: 32, channels: 3, bitDepth: 8, format: .jpeg)
        source.metadata.jpegMarkers = [JPEGMarker(code: 0xE2, payload: Array("MPF\0".utf8) + [0x4D, 0x4D, 0, 0x2A])]
        source.encoding.jpegProgressive = true   // the end of the image is found after the last scan
        let main = try PhotoIO.encode(source)
        let secondImage = try PhotoIO.encode(syntheticImage(width: 8, height: 8, channels: 3, bitDepth: 8, format: .jpeg))
        var file = main + secondImage
        file += Self.afcp(at: file.count)
        file += Self.fotoStation + Self.photoMechanic

        let image = try PhotoIO.decode(data: file, name: "trailers.jpg")
        #expect(image.metadata.jpegTrailers.map(\.kind) == [.afcp, .fotoStation, .photoMechanic])
        #expect(!image.metadata.jpegMarkers.contains { $0.code == 0xE2 })
        #expect(image.metadata.notCarried.count == 1 && image.metadata.notCarried[0].contains("MPF"))

        var processed = image
        processed.encoding.jpegProgressive = false   // a different size: AFCP offsets must move
        let out = try PhotoIO.encode(processed, options: EncodeOptions(softwareNote: "note"))
        #expect(Array(out.suffix(Self.photoMechanic.count)) == Self.photoMechanic)
        #expect(Array(out.suffix(Self.photoMechanic.count + Self.fotoStation.count).prefix(Self.fotoStation.count))
                == Self.fotoStation)
        let afcpStart = out.count - Self.photoMechanic.count - Self.fotoStation.count - Self.afcp(at: 0).count
        #expect(afcpStart != main.count + secondImage.count)
        #expect(Array(out[afcpStart..<afcpStart + 4]) == Array("AXS!".utf8))
        let endRecord = out.count - Self.photoMechanic.count - Self.fotoStation.count - 12
        let storedStart = out[endRecord + 4..<endRecord + 8].reduce(0) { $0 << 8 | Int($1) }
        #expect(storedStart == afcpStart)
        let valueOffset = out[afcpStart + 20..<afcpStart + 24].reduce(0) { $0 << 8 | Int($1) }
        #expect(Array(out[valueOffset..<valueOffset + 5]) == [0x1C, 0x02, 0x74, 0x00, 0x05])

        let back = try PhotoIO.decode(data: out, name: "out.jpg")
        #expect(back.metadata.jpegTrailers.map(\.bytes).dropFirst() == image.metadata.jpegTrailers.map(\.bytes).dropFirst())
        let comment = try #require(back.metadata.jpegMarkers.first { $0.code == 0xFE })
        #expect(String(decoding: comment.payload, as: UTF8.self).hasPrefix("note; not carried: MPF index"))
    }

    @Test func plainJPEGHasNoTrailerAndAPlainNote() throws {
        let out = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .jpeg),
                                     options: EncodeOptions(softwareNote: "note"))
        let back = try PhotoIO.decode(data: out, name: "plain.jpg")
        #expect(back.metadata.jpegTrailers.isEmpty && back.metadata.notCarried.isEmpty)
        #expect(back.metadata.jpegMarkers.map(\.payload) == [Array("note".utf8)])
    }
}

/// A PNG with the given raw rows (filter type 0 is added), the chunks before
/// IDAT, compressed with stored deflate blocks so no zlib is needed.
func makePNG(width: Int, height: Int, bitDepth: Int, colourType: Int, rows: [[UInt8]],
             chunks: [(String, [UInt8])]) -> [UInt8] {
    func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    var raw: [UInt8] = []
    for row in rows { raw.append(0); raw += row }
    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let block = Array(raw[offset..<min(raw.count, offset + 65535)])
        offset += block.count
        let n = UInt16(block.count), last: UInt8 = offset == raw.count ? 1 : 0
        let header: [UInt8] = [last, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8(~n >> 8)]
        zlib += header
        zlib += block
    } while offset < raw.count
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += be32(b << 16 | a)
    var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    let header: [UInt8] = be32(UInt32(width)) + be32(UInt32(height)) + [UInt8(bitDepth), UInt8(colourType), 0, 0, 0]
    png += pngChunk("IHDR", header)
    for (type, data) in chunks { png += pngChunk(type, data) }
    png += pngChunk("IDAT", zlib) + pngChunk("IEND", [])
    return png
}
