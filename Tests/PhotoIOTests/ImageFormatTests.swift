import Testing
@testable import PhotoIO

/// Telling the formats apart: one list for the daemon, mtrnnctl and the decoders.
struct ImageFormatTests {
    @Test func magicBytes() {
        #expect(ImageFormat(header: [0xFF, 0xD8, 0xFF, 0xE1]) == .jpeg)
        #expect(ImageFormat(header: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) == .png)
        #expect(ImageFormat(header: Array("II*\0".utf8)) == .tiff)
        #expect(ImageFormat(header: Array("MM\0*".utf8)) == .tiff)
        #expect(ImageFormat(header: Array("II+\0".utf8)) == nil, "BigTIFF is refused by the decoder, with its reason")
        #expect(ImageFormat(header: Array("hello".utf8)) == nil)
        #expect(ImageFormat(header: [0xFF, 0xD8]) == nil)
        #expect(ImageFormat(header: []) == nil)
    }

    @Test func extensions() {
        for ext in ["jpg", "JPEG", "jpe", "jfif"] { #expect(ImageFormat(fileExtension: ext) == .jpeg, "\(ext)") }
        #expect(ImageFormat(fileExtension: "PNG") == .png)
        for ext in ["tif", "Tiff"] { #expect(ImageFormat(fileExtension: ext) == .tiff, "\(ext)") }
        for ext in ["", "gif", "dng", "jpg.part"] { #expect(ImageFormat(fileExtension: ext) == nil, "\(ext)") }
        #expect(ImageFormat.allCases.map(\.name) == ["JPEG", "PNG", "TIFF"])
        #expect(ImageFormat.allCases.allSatisfy { ImageFormat(fileExtension: $0.usualExtension) == $0 })
    }
}
