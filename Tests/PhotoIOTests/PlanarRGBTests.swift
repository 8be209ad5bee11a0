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
