import Foundation
import Testing
@testable import PhotoIO

struct RoundTripTests {
    static let layouts = [(1, 8), (2, 8), (3, 8), (4, 8), (1, 16), (2, 16), (3, 16), (4, 16)]

    @Test(arguments: layouts, [false, true])
    func pngIsLossless(layout: (Int, Int), interlaced: Bool) throws {
        var image = syntheticImage(channels: layout.0, bitDepth: layout.1, format: .png)
        image.encoding.pngInterlaced = interlaced
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "rt.png")
        #expect(back.format == .png)
        #expect(back.channels == image.channels && back.bitDepth == image.bitDepth)
        #expect(back.width == image.width && back.height == image.height)
        #expect(back.encoding.pngInterlaced == interlaced)
        #expect(back.samples == image.samples)
    }

    @Test(arguments: layouts, [(1, 1), (5, 1), (5, 2), (8, 2), (32946, 1), (32773, 1)])
    func tiffIsLossless(layout: (Int, Int), compression: (Int, Int)) throws {
        var image = syntheticImage(channels: layout.0, bitDepth: layout.1, format: .tiff)
        image.encoding.tiffCompression = compression.0
        image.encoding.tiffPredictor = compression.1
        image.encoding.tiffBigEndian = compression.0 == 8
        let bytes = try PhotoIO.encode(image)
        let back = try PhotoIO.decode(data: bytes, name: "rt.tif")
        #expect(back.format == .tiff)
        #expect(back.channels == image.channels && back.bitDepth == image.bitDepth)
        #expect(back.encoding.tiffCompression == compression.0)
        #expect(back.encoding.tiffPredictor == compression.1)
        #expect(back.encoding.tiffBigEndian == image.encoding.tiffBigEndian)
        #expect(back.samples == image.samples)
    }

    @Test func tiffMinIsWhiteKeepsItsPhotometricAndValues() throws {
        var image = syntheticImage(channels: 2, bitDepth: 16, format: .tiff)
        image.encoding.tiffPhotometric = 0
        image.encoding.tiffExtraSample = 1
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "white.tif")
        #expect(back.encoding.tiffPhotometric == 0)
        #expect(back.encoding.tiffExtraSample == 1)
        #expect(back.samples == image.samples)
    }

    @Test(arguments: [1, 3], [false, true])
    func jpegStaysCloseAndKeepsItsLayout(channels: Int, progressive: Bool) throws {
        var image = syntheticImage(width: 64, height: 48, channels: channels, bitDepth: 8, format: .jpeg)
        image.encoding.jpegProgressive = progressive
        if channels == 3 {
            image.encoding.jpegHorizontalSampling = [1, 1, 1]
            image.encoding.jpegVerticalSampling = [1, 1, 1]
        }
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "rt.jpg")
        #expect(back.channels == channels && back.bitDepth == 8)
        #expect(back.encoding.jpegProgressive == progressive)
        if channels == 3 { #expect(back.encoding.jpegHorizontalSampling == [1, 1, 1]) }
        let quality = psnr(image, back)
        #expect(quality > 38, "PSNR \(quality) dB at quality 95")
    }

    @Test func jpegKeepsSubsamplingAndQualityMatters() throws {
        var image = syntheticImage(width: 64, height: 48, channels: 3, bitDepth: 8, format: .jpeg)
        image.encoding.jpegHorizontalSampling = [2, 1, 1]
        image.encoding.jpegVerticalSampling = [1, 1, 1]
        let high = try PhotoIO.encode(image, options: EncodeOptions(jpegQuality: 95))
        let low = try PhotoIO.encode(image, options: EncodeOptions(jpegQuality: 30))
        #expect(low.count < high.count)
        let back = try PhotoIO.decode(data: high, name: "422.jpg")
        #expect(back.encoding.jpegHorizontalSampling == [2, 1, 1])
        #expect(back.encoding.jpegVerticalSampling == [1, 1, 1])
        #expect(psnr(image, try PhotoIO.decode(data: low, name: "low.jpg")) < psnr(image, back))
    }

    @Test func palettePNGWithTransparencyBecomesRGBA() throws {
        let image = try PhotoIO.decode(data: Fixtures.paletteTRNSPNG, name: "palette.png")
        #expect(image.channels == 4 && image.bitDepth == 8)
        #expect(Array(image.samples[0..<16]) == [255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 255, 255, 0, 255])
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "palette.png")
        #expect(back.samples == image.samples)
        #expect(back.encoding.pngSourceColourType == 6)
    }

    @Test func bilevelPNGBecomesEightBitGrey() throws {
        let image = try PhotoIO.decode(data: Fixtures.bilevelPNG, name: "bilevel.png")
        #expect(image.channels == 1 && image.bitDepth == 8)
        #expect(Array(image.samples[0..<4]) == [0, 255, 0, 255])
    }

    @Test func probeReadsTheHeader() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for format in ImageFormat.allCases {
            let image = syntheticImage(width: 33, height: 21, channels: 3, bitDepth: 8, format: format)
            let url = directory.appendingPathComponent("probe.\(format.rawValue)")
            try Data(PhotoIO.encode(image)).write(to: url)
            let header = try PhotoIO.probe(contentsOf: url)
            #expect(header.format == format && header.width == 33 && header.height == 21)
            #expect(try PhotoIO.decode(contentsOf: url).width == 33)
        }
    }
}
