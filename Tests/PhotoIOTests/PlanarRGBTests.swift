import Testing
@testable import PhotoIO

struct PlanarRGBTests {
    @Test(arguments: [1, 2, 3, 4], [8, 16])
    func identityIsBitExact(channels: Int, bitDepth: Int) {
        let image = syntheticImage(width: 31, height: 17, channels: channels, bitDepth: bitDepth, format: .png)
        let planar = image.planarRGB()
        #expect(planar.width == 31 && planar.height == 17 && planar.data.count == 3 * 31 * 17)
        #expect(planar.data.allSatisfy { (0...255).contains($0) })
        let back = image.replacingColour(withPlanarRGB: planar.data)
        #expect(back.samples == image.samples)
        #expect(back.channels == channels && back.bitDepth == bitDepth && back.format == .png)
    }

    @Test func everySixteenBitValueRoundTrips() {
        let all = (0..<65536).map { UInt16($0) }
        let image = Image(width: 256, height: 256, channels: 1, bitDepth: 16, samples: all, format: .tiff)
        #expect(image.replacingColour(withPlanarRGB: image.planarRGB().data).samples == all)
    }

    @Test func greyIsReplicatedAndAlphaUntouched() {
        let image = Image(width: 2, height: 1, channels: 2, bitDepth: 8, samples: [10, 200, 250, 7], format: .png)
        let planar = image.planarRGB()
        #expect(planar.data == [10, 250, 10, 250, 10, 250])
        // Grey out is the mean of the planes; values are clamped and rounded.
        let changed = image.replacingColour(withPlanarRGB: [0, 300, 3, 300, 4.6, 300])
        #expect(changed.samples == [3, 200, 255, 7])
    }

    @Test func rgbIsClampedAndRounded() {
        let image = Image(width: 1, height: 1, channels: 4, bitDepth: 16, samples: [1, 2, 3, 4], format: .png)
        let changed = image.replacingColour(withPlanarRGB: [-5, 255.5, 127.5])
        #expect(changed.samples == [0, 65535, 32768, 4])
        #expect(image.planarRGB().data[2] == Float(3) * 255 / 65535)
    }
}

/// 8-bit photos keep one byte a sample (issue 21: a batch holds up to three
/// decoded photos); everything reads them as before.
struct SamplesTests {
    @Test("decoded 8-bit photos are stored in bytes, 16-bit in words, in every format",
          arguments: [(ImageFormat.jpeg, 8), (.png, 8), (.png, 16), (.tiff, 8), (.tiff, 16)])
    func decodedStorage(format: ImageFormat, bitDepth: Int) throws {
        let channels = format == .jpeg ? 3 : 4
        let image = syntheticImage(width: 19, height: 11, channels: channels, bitDepth: bitDepth, format: format)
        let decoded = try PhotoIO.decode(data: PhotoIO.encode(image, options: EncodeOptions(jpegQuality: 95)), name: "x")
        #expect(decoded.samples.isBytes == (bitDepth == 8))
        #expect(decoded.samples.count == 19 * 11 * channels)
        if format != .jpeg { #expect(decoded.samples == image.samples) }
    }

    @Test func bytesAndWordsReadAlikeAndCompareByValue() {
        let values: [UInt16] = [0, 1, 127, 128, 254, 255]
        let bytes = Samples(values, bitDepth: 8), words = Samples(values, bitDepth: 16)
        #expect(bytes.isBytes && !words.isBytes)
        #expect(bytes == words && bytes == values && Array(bytes) == values && bytes.values == values)
        #expect(bytes.narrowedBytes == [0, 1, 127, 128, 254, 255] && words.narrowedBytes == bytes.narrowedBytes)
        var changed = bytes
        changed[2] = 300   // an 8-bit image never holds it; clamped as the encoders clamp
        changed[3] = 9
        #expect(changed == [0, 1, 255, 9, 254, 255] && bytes == values)
        #expect(Samples([1, 2], bitDepth: 8) != Samples([1, 3], bitDepth: 16))
    }

    @Test func replacingColourWritesBytesInPlace() {
        let image = Image(width: 2, height: 1, channels: 3, bitDepth: 8, samples: [1, 2, 3, 4, 5, 6], format: .png)
        let changed = image.replacingColour(withPlanarRGB: [10, 20, 30.4, 40.6, 300, -1])
        #expect(changed.samples.isBytes && changed.samples == [10, 30, 255, 20, 41, 0])
    }
}
