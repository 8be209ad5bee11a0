import Foundation
import Testing
@testable import PhotoIO

/// Camera raws are refused; JPEG-compressed, palette and 1-bit TIFFs are read
/// to the right pixels; the input's Software tag is appended to.
struct TIFFKindsTests: DecodeErrorChecks {

    func expectRawRefusal(_ e: PhotoIOError?, _ file: String, _ kind: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(e?.kind == .unsupported, sourceLocation: sourceLocation)
        #expect(e?.file == file, sourceLocation: sourceLocation)
        #expect(e?.what.contains(kind) == true, "\(e?.description ?? "decoded")", sourceLocation: sourceLocation)
        #expect(e?.remedy.contains("export a TIFF or JPEG") == true, sourceLocation: sourceLocation)
    }

    /// A small valid RGB TIFF with extra first-directory entries.
    func tiff(with entries: [TIFFEntry]) throws -> [UInt8] {
        var image = syntheticImage(width: 8, height: 8, channels: 3, bitDepth: 8, format: .tiff)
        image.metadata.tiffEntries = entries
        return try PhotoIO.encode(image)
    }

    @Test func rawAndPreviewTIFFsAreRefusedWithAdvice() throws {
        let plain = try tiff(with: [])
        #expect(try PhotoIO.decode(data: plain, name: "plain.tif").width == 8)

        // A TIFF whose IFD0 is a reduced-resolution image (NewSubfileType bit 0).
        let preview = try tiff(with: [TIFFEntry(tag: 254, type: 4, count: 1, value: [1, 0, 0, 0])])
        let e1 = error { try PhotoIO.decode(data: preview, name: "scan.tif") }
        expectRawRefusal(e1, "scan.tif", "reduced-resolution")

        // DNGVersion, as in every DNG, even with a full-size IFD0.
        let dng = try tiff(with: [TIFFEntry(tag: 50706, type: 1, count: 4, value: [1, 4, 0, 0])])
        expectRawRefusal(error { try PhotoIO.decode(data: dng, name: "IMG_1.dng") }, "IMG_1.dng", "DNG")

        // A colour-filter-array IFD0 (photometric 32803), as in some raws.
        var cfa = plain
        var file = try TIFFFile(cfa, name: "x")
        let first = file.firstDirectoryOffset
        for index in 0..<Int(file.u16(first)) where file.u16(first + 2 + 12 * index) == 262 {
            cfa.replaceSubrange(first + 2 + 12 * index + 8..<first + 2 + 12 * index + 10, with: file.bigEndian ? [0x80, 0x23] : [0x23, 0x80])
        }
        file = try TIFFFile(cfa, name: "x")
        #expect(try file.directory(at: first).first { $0.tag == 262 }.flatMap(file.integer) == 32803)
        expectRawRefusal(error { try PhotoIO.decode(data: cfa, name: "sensor.tif") }, "sensor.tif", "raw sensor data")

        // A raw extension on a TIFF, and the CR2 signature.
        expectRawRefusal(error { try PhotoIO.decode(data: plain, name: "DSC_0001.NEF") }, "DSC_0001.NEF", "Nikon NEF")
        var cr2 = plain  // (pixel data follows the header, the directory is at the end)
        #expect(try TIFFFile(plain, name: "x").firstDirectoryOffset > 11)
        cr2.replaceSubrange(8..<11, with: [0x43, 0x52, 0x02])
        expectRawRefusal(error { try PhotoIO.decode(data: cr2, name: "IMG_2.tif") }, "IMG_2.tif", "Canon CR2")

        // Raws that are not TIFF: Olympus ORF and Panasonic RW2 signatures.
        let orf = Array("IIRO".utf8) + [8, 0, 0, 0] + [UInt8](repeating: 0, count: 64)
        expectRawRefusal(error { try PhotoIO.decode(data: orf, name: "P1.ORF") }, "P1.ORF", "Olympus ORF")
        let rw2 = [0x49, 0x49, 0x55, 0x00, 0x18, 0, 0, 0] + [UInt8](repeating: 0, count: 64)
        expectRawRefusal(error { try PhotoIO.decode(data: rw2, name: "P2.RW2") }, "P2.RW2", "Panasonic RW2")
        // Unknown bytes with a raw name still get the raw advice.
        expectRawRefusal(error { try PhotoIO.decode(data: Array("x".utf8), name: "a.raf") }, "a.raf", "Fujifilm RAF")
        // A JPEG is a JPEG whatever its name.
        let jpeg = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .jpeg))
        #expect(try PhotoIO.decode(data: jpeg, name: "odd.raw").format == .jpeg)
    }

    static let note = "mtrnn-watch 0.1 (MT-RNN, 6 iterations)"

    func software(_ bytes: [UInt8]) throws -> String? {
        let image = try PhotoIO.decode(data: bytes, name: "s.tif")
        return image.metadata.tiffEntries.first { $0.tag == 305 }.map {
            String(decoding: $0.value.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    @Test func softwareIsAppendedToNotReplaced() throws {
        let photoshop = TIFFEntry(tag: 305, type: 2, count: 28, value: Array("Adobe Photoshop CS3 Windows\0".utf8))
        let input = try tiff(with: [photoshop])
        #expect(try software(input) == "Adobe Photoshop CS3 Windows")
        let once = try PhotoIO.encode(PhotoIO.decode(data: input, name: "s.tif"),
                                      options: EncodeOptions(softwareNote: Self.note))
        #expect(try software(once) == "Adobe Photoshop CS3 Windows; \(Self.note)")
        // Processing the output again does not repeat the note.
        let twice = try PhotoIO.encode(PhotoIO.decode(data: once, name: "s.tif"),
                                       options: EncodeOptions(softwareNote: Self.note))
        #expect(try software(twice) == "Adobe Photoshop CS3 Windows; \(Self.note)")
        // No Software before: the note alone; no note: the input's, untouched.
        let bare = try PhotoIO.encode(PhotoIO.decode(data: tiff(with: []), name: "s.tif"),
                                      options: EncodeOptions(softwareNote: Self.note))
        #expect(try software(bare) == Self.note)
        let kept = try PhotoIO.encode(PhotoIO.decode(data: input, name: "s.tif"))
        #expect(try software(kept) == "Adobe Photoshop CS3 Windows")
    }

    static let quadrants: [[UInt16]] = [[200, 30, 30], [30, 200, 30], [30, 30, 200], [220, 220, 40]]

    func expectQuadrants(_ image: Image, tolerance: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(image.width == 32 && image.height == 16 && image.channels == 3 && image.bitDepth == 8,
                sourceLocation: sourceLocation)
        guard image.samples.count == 32 * 16 * 3 else { return }
        var worst = 0
        // Away from the edges between quadrants, where JPEG rings.
        for y in [1, 2, 5, 6, 9, 10, 13, 14] {
            for x in [2, 5, 10, 13, 18, 21, 26, 29] {
                let expected = Self.quadrants[(x >= 16 ? 1 : 0) + (y >= 8 ? 2 : 0)]
                for c in 0..<3 {
                    worst = max(worst, abs(Int(image.samples[(y * 32 + x) * 3 + c]) - Int(expected[c])))
                }
            }
        }
        #expect(worst <= tolerance, "largest difference \(worst)", sourceLocation: sourceLocation)
    }

    @Test func jpegCompressedTIFFDecodesAndStaysJPEG() throws {
        // Pillow's: JPEG with photometric RGB.
        let pillow = try PhotoIO.decode(data: TIFFFixtures.jpegQuadrantsTIFF, name: "pil.tif")
        #expect(pillow.encoding.tiffCompression == 7)
        expectQuadrants(pillow, tolerance: 12)

        // Ours, as Photoshop and scanners write it: YCbCr 4:2:0 JPEG.
        var quadrants = pillow
        quadrants.samples = Samples((0..<16).flatMap { y in (0..<32).flatMap { x in Self.quadrants[(x >= 16 ? 1 : 0) + (y >= 8 ? 2 : 0)] } },
                                    bitDepth: quadrants.bitDepth)
        let bytes = try PhotoIO.encode(quadrants, options: EncodeOptions(jpegQuality: 95))
        let file = try TIFFFile(bytes, name: "ours.tif")
        let entries = try file.directory(at: file.firstDirectoryOffset)
        #expect(entries.first { $0.tag == 259 }.flatMap(file.integer) == 7)
        #expect(entries.first { $0.tag == 262 }.flatMap(file.integer) == 6)
        let back = try PhotoIO.decode(data: bytes, name: "ours.tif")
        #expect(back.encoding.tiffCompression == 7)
        expectQuadrants(back, tolerance: 12)

        // With alpha it is written losslessly (LZW) instead.
        var rgba = syntheticImage(channels: 4, bitDepth: 8, format: .tiff)
        rgba.encoding.tiffCompression = 7
        let alpha = try PhotoIO.decode(data: PhotoIO.encode(rgba), name: "a.tif")
        #expect(alpha.encoding.tiffCompression == 5)
        #expect(alpha.samples == rgba.samples)
    }

    @Test func paletteTIFFBecomesEightBitRGB() throws {
        let image = try PhotoIO.decode(data: TIFFFixtures.paletteTIFF, name: "palette.tif")
        #expect(image.width == 5 && image.height == 3 && image.channels == 3 && image.bitDepth == 8)
        let colours: [[UInt16]] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [10, 20, 30]]
        let indices = [0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 1, 1, 1, 1, 1]
        #expect(image.samples == indices.flatMap { colours[$0] })
        #expect(image.metadata.tiffEntries.allSatisfy { $0.tag != 320 }, "the ColorMap must not be carried")
        // Written as RGB, read back the same.
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "rgb.tif")
        #expect(back.channels == 3 && back.samples == image.samples)
    }

    @Test func bilevelTIFFBecomesEightBitGrey() throws {
        let expected = (0..<27).map { UInt16($0 % 2 * 255) }
        for (name, bytes) in [("bilevel.tif", TIFFFixtures.bilevelTIFF), ("g4.tif", TIFFFixtures.group4TIFF)] {
            let image = try PhotoIO.decode(data: bytes, name: name)
            #expect(image.width == 9 && image.height == 3 && image.channels == 1 && image.bitDepth == 8, "\(name)")
            #expect(image.samples == expected, "\(name)")
            let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: name)
            #expect(back.bitDepth == 8 && back.samples == expected, "\(name)")
        }
        // The same bits read as min-is-white are the inverse picture, and stay min-is-white.
        var white = TIFFFixtures.bilevelTIFF
        let file = try TIFFFile(white, name: "w")
        let first = file.firstDirectoryOffset
        for index in 0..<Int(file.u16(first)) where file.u16(first + 2 + 12 * index) == 262 {
            white[first + 2 + 12 * index + (file.bigEndian ? 9 : 8)] = 0
        }
        let inverted = try PhotoIO.decode(data: white, name: "white.tif")
        #expect(inverted.samples == expected.map { 255 - $0 })
        #expect(inverted.encoding.tiffPhotometric == 0)
        let back = try PhotoIO.decode(data: PhotoIO.encode(inverted), name: "white.tif")
        #expect(back.samples == inverted.samples && back.encoding.tiffPhotometric == 0)
    }

    static let expanded: [(String, [UInt8])] = [
        ("palette.tif", TIFFFixtures.paletteTIFF), ("bilevel.tif", TIFFFixtures.bilevelTIFF),
        ("g4.tif", TIFFFixtures.group4TIFF), ("jpeg.tif", TIFFFixtures.jpegQuadrantsTIFF),
    ]

    /// The new read paths (libtiff's RGBA reader, JPEG) must treat a cut file
    /// as an error like the others: a photo still being copied is never processed.
    @Test(arguments: expanded.map(\.0))
    func truncatedOrDamagedExpandedTIFFsThrow(name: String) throws {
        let bytes = Self.expanded.first { $0.0 == name }!.1
        #expect(try PhotoIO.decode(data: bytes, name: name).width > 0)
        expectEveryCutThrows(bytes, name: name, cuts: Array(0..<bytes.count))
        decodeDamaged(bytes, name: name, copies: 200, seed: 7)
    }
}
