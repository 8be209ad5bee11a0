import Foundation
import Testing
@testable import PhotoIO

/// Metadata written by exiftool must read back the same after decode ->
/// colour replaced -> encode, except for the tags listed here.
struct MetadataTests {
    static let note = "mtrnn-watch 0.1 (MT-RNN, 6 iterations)"

    /// Tags that describe the file rather than the photo, or the pixel
    /// encoding that is rewritten (TIFF strips), and our own note.
    static let changing: Set<String> = [
        "SourceFile", "System:FileName", "System:Directory", "System:FileSize", "System:FileModifyDate",
        "System:FileAccessDate", "System:FileInodeChangeDate", "System:FilePermissions",
        "IFD0:StripOffsets", "IFD0:StripByteCounts", "IFD0:RowsPerStrip", "IFD0:Software",
    ]

    static let tagArguments = [
        "-Make=TestMake", "-Model=Test Model 1", "-DateTimeOriginal=2024:05:06 07:08:09",
        "-Orientation#=6", "-GPSLatitude=48.8584", "-GPSLatitudeRef=N", "-GPSLongitude=2.2945",
        "-GPSLongitudeRef=E", "-GPSAltitude=35", "-XMP-dc:Title=A blurred test", "-XMP-dc:Subject=deblur",
        "-IPTC:Keywords=test", "-IPTC:Caption-Abstract=IPTC caption", "-Artist=Ann Example",
        "-Copyright=CC BY 4.0", "-ImageDescription=A description", "-XResolution=300", "-YResolution=300",
        "-ResolutionUnit=inches", "-ExposureTime=1/30", "-FNumber=2.8", "-ISO=800",
    ]

    static let extraArguments: [ImageFormat: [String]] = [
        .jpeg: ["-Comment=an existing comment"],
        .png: ["-PNG:Title=PNG title", "-PNG:Software=SomeEditor 2", "-PNG:Gamma=2.2",
               "-PNG:PixelsPerUnitX=2835", "-PNG:PixelsPerUnitY=2835", "-PNG:PixelUnits=meters"],
        .tiff: ["-Software=SomeEditor 2", "-DocumentName=doc"],
    ]

    @Test(.enabled(if: ExifTool.available, "needs exiftool (Debian libimage-exiftool-perl)"),
          arguments: [(ImageFormat.jpeg, 8), (.png, 8), (.png, 16), (.tiff, 8), (.tiff, 16), (.jpeg, 0), (.tiff, 0)])
    func everyTagSurvives(format: ImageFormat, bitDepth: Int) throws {
        // Depth 0: a file written by Pillow (JFIF JPEG, single-strip LZW TIFF),
        // so the inputs do not all come from our own encoder.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var plain = syntheticImage(width: 40, height: 30, channels: 3, bitDepth: max(bitDepth, 8), format: format)
        plain.encoding.tiffCompression = 5
        plain.encoding.tiffBigEndian = bitDepth == 16
        let input = directory.appendingPathComponent("in.\(format.rawValue)")
        let output = directory.appendingPathComponent("out.\(format.rawValue)")
        let profile = directory.appendingPathComponent("sRGB.icc")
        let source = bitDepth == 0 ? (format == .jpeg ? Fixtures.pilJPEG : Fixtures.pilTIFF) : try PhotoIO.encode(plain)
        try Data(source).write(to: input)
        try Data(Fixtures.sRGBProfile).write(to: profile)
        try ExifTool.run(["-q", "-overwrite_original"] + Self.tagArguments + Self.extraArguments[format, default: []]
                         + ["-ICC_Profile<=\(profile.path)", input.path])

        let decoded = try PhotoIO.decode(contentsOf: input)
        let processed = decoded.replacingColour(withPlanarRGB: decoded.planarRGB().data)
        try Data(PhotoIO.encode(processed, options: EncodeOptions(softwareNote: Self.note))).write(to: output)
        if format != .jpeg {
            #expect(try PhotoIO.decode(contentsOf: output).samples == decoded.samples)
        }

        let tags = try ExifTool.tags(of: [input, output])
        let before = tags[0], after = tags[1]
        #expect(before["IFD0:Make"] == "TestMake", "exiftool did not write the test tags: \(before.keys.sorted())")
        #expect(before["ICC_Profile:ProfileDescription"] != nil)
        #expect(before["XMP-dc:Title"] == "A blurred test")
        #expect(before["IPTC:Keywords"] == "test")
        #expect(before["GPS:GPSLatitude"] != nil)
        for (key, value) in before where !Self.changing.contains(key) {
            #expect(after[key] == value, "\(format) \(bitDepth)-bit: \(key) was \(value.prefix(80)), now \(after[key]?.prefix(80) ?? "missing")")
        }
        let added = Set(after.keys).subtracting(before.keys).subtracting(Self.changing)
        switch format {
        case .jpeg:
            #expect(added.isEmpty || added == ["File:Comment"], "unexpected new tags \(added)")
            #expect(try commentMarkers(output).contains(Self.note))
        case .png:
            #expect(added == ["PNG:Comment"], "unexpected new tags \(added)")
            #expect(after["PNG:Comment"] == Self.note)
        case .tiff:
            #expect(added.isEmpty, "unexpected new tags \(added)")
            // The input's Software is kept, with the note appended.
            #expect(after["IFD0:Software"] == "SomeEditor 2; \(Self.note)")
        }
    }

    func commentMarkers(_ url: URL) throws -> [String] {
        let image = try PhotoIO.decode(contentsOf: url)
        return image.metadata.jpegMarkers.filter { $0.code == 0xFE }.map { String(decoding: $0.payload, as: UTF8.self) }
    }
}

struct ChunkPlacementTests {
    @Test func pngChunksAfterImageDataStayThere() throws {
        let plain = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 16, format: .png))
        let late = pngChunk("tEXt", Array("Comment\0written after IDAT".utf8))
        let time = pngChunk("tIME", [0x07, 0xE8, 5, 6, 7, 8, 9])
        var input = inserting(late, before: "IEND", in: plain)
        input = inserting(time, before: "IDAT", in: input)
        let image = try PhotoIO.decode(data: input, name: "late.png")
        #expect(image.metadata.pngChunks.map(\.type) == ["tIME", "tEXt"])
        #expect(image.metadata.pngChunks.map(\.afterImageData) == [false, true])
        let output = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "note"))
        let types = try pngChunkTypes(output)
        #expect(types.first == "IHDR" && types.last == "IEND")
        let lastData = types.lastIndex(of: "IDAT")!
        #expect(types.firstIndex(of: "tIME")! < types.firstIndex(of: "IDAT")!)
        #expect(types[lastData + 1] == "tEXt")
        #expect(Array(output.suffix(late.count + 12)).starts(with: late))
    }

    @Test func softwareNoteIsAddedOnce() throws {
        let note = "mtrnn-watch 0.1 (MT-RNN, 6 iterations)"
        for format in [ImageFormat.jpeg, .png] {
            let first = try PhotoIO.decode(data: PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: format),
                                                                options: EncodeOptions(softwareNote: note)), name: "a")
            let second = try PhotoIO.decode(data: PhotoIO.encode(first, options: EncodeOptions(softwareNote: note)), name: "b")
            #expect(first.metadata == second.metadata, "\(format)")
            #expect(first.metadata.jpegMarkers.count + first.metadata.pngChunks.count == 1)
        }
    }

    @Test func damagedAncillaryChunkIsDropped() throws {
        let plain = try PhotoIO.encode(syntheticImage(channels: 1, bitDepth: 8, format: .png))
        var bad = pngChunk("tEXt", Array("Title\0x".utf8))
        bad[bad.count - 1] ^= 0xFF
        let image = try PhotoIO.decode(data: inserting(bad, before: "IDAT", in: plain), name: "crc.png")
        #expect(image.metadata.pngChunks.isEmpty)
    }
}
