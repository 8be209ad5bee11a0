import CLCMS
import Foundation
import Testing
@testable import PhotoIO

/// Issue 19: the embedded ICC profile is found in each format, and a photo
/// that is not sRGB is converted to sRGB and back exactly, while sRGB
/// photos are left alone.
@Suite struct ColourProfileTests {
    /// An RGB matrix/TRC profile made by Little CMS: primaries and white as xy, one gamma.
    static func rgbProfile(_ r: (Double, Double), _ g: (Double, Double), _ b: (Double, Double),
                           white: (Double, Double), gamma: Double) -> [UInt8] {
        var wp = cmsCIExyY(x: white.0, y: white.1, Y: 1)
        var primaries = cmsCIExyYTRIPLE(Red: cmsCIExyY(x: r.0, y: r.1, Y: 1), Green: cmsCIExyY(x: g.0, y: g.1, Y: 1),
                                        Blue: cmsCIExyY(x: b.0, y: b.1, Y: 1))
        let curve = cmsBuildGamma(nil, gamma)
        defer { cmsFreeToneCurve(curve) }
        let curves = [curve, curve, curve]
        let profile = curves.withUnsafeBufferPointer { cmsCreateRGBProfile(&wp, &primaries, $0.baseAddress) }
        defer { cmsCloseProfile(profile) }
        return save(profile!)
    }

    static func save(_ profile: cmsHPROFILE) -> [UInt8] {
        var size: cmsUInt32Number = 0
        cmsSaveProfileToMem(profile, nil, &size)
        var bytes = [UInt8](repeating: 0, count: Int(size))
        cmsSaveProfileToMem(profile, &bytes, &size)
        return bytes
    }

    /// Adobe RGB (1998): its primaries, D65, gamma 563/256.
    static let adobeRGB = rgbProfile((0.64, 0.33), (0.21, 0.71), (0.15, 0.06), white: (0.3127, 0.3290), gamma: 563.0 / 256)
    /// sRGB's primaries with a linear curve: linear 16-bit photos.
    static let linearSRGB = rgbProfile((0.64, 0.33), (0.30, 0.60), (0.15, 0.06), white: (0.3127, 0.3290), gamma: 1)
    static let sRGB: [UInt8] = {
        let p = cmsCreate_sRGBProfile()!
        defer { cmsCloseProfile(p) }
        return save(p)
    }()

    static func conversion(_ icc: [UInt8]) throws -> ColourConversion {
        switch ColourConversion.make(profile: icc) {
        case .success(let c): return c
        case .failure(let why): throw why
        }
    }

    static func randomPlanes(_ pixels: Int) -> [Float] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<(3 * pixels)).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 255
        }
    }

    @Test(arguments: ["Adobe RGB", "linear"])
    func aRoundTripGivesThePhotoBack(name: String) throws {
        let c = try Self.conversion(name == "linear" ? Self.linearSRGB : Self.adobeRGB)
        let photo = Self.randomPlanes(200_000)   // several chunks of the parallel transform
        var planes = photo
        c.toSRGB(&planes)
        let moved = zip(planes, photo).map { abs($0 - $1) }.max()!
        #expect(moved > 5, "\(name): converting to sRGB changed nothing (at most \(moved))")
        c.fromSRGB(&planes)
        // Float32 noise near black is magnified by a pure power curve's infinite
        // slope at 0 (Adobe RGB's 2.2): within one 8-bit step of black the round
        // trip may be off by a tenth of one; elsewhere by far less.
        let error = zip(planes, photo).map { abs($0 - $1) }.max()!
        let aboveBlack = zip(planes, photo).filter { $0.1 >= 1 }.map { abs($0.0 - $0.1) }.max()!
        #expect(error < 0.2, "\(name): the round trip is off by \(error) of 255")
        #expect(aboveBlack < 0.01, "\(name): the round trip is off by \(aboveBlack) of 255 above the first 8-bit step")
    }

    /// Values outside sRGB's gamut are not clipped: Adobe RGB's pure green is
    /// negative red in sRGB, and comes back as it was.
    @Test func colourOutsideSRGBIsKept() throws {
        let c = try Self.conversion(Self.adobeRGB)
        // Planar: the R, G and B planes of two pixels, Adobe RGB's green and a mid grey.
        var planes: [Float] = [0, 128, 255, 128, 0, 128]
        c.toSRGB(&planes)
        #expect(planes[0] < -1, "Adobe RGB green in sRGB: R = \(planes[0])")
        #expect(abs(planes[1] - planes[3]) < 0.05 && abs(planes[3] - planes[5]) < 0.05, "grey stays grey: \(planes)")
        c.fromSRGB(&planes)
        #expect(abs(planes[0]) < 0.2 && abs(planes[2] - 255) < 0.01, "\(planes)")
    }

    @Test func sRGBAndPhotosWithoutAProfileAreNotConverted() {
        #expect(ColourConversion.make(profile: Self.sRGB).failureValue.map { if case .sRGB = $0 { true } else { false } } == true)
        let rgb = Image(width: 1, height: 1, channels: 3, bitDepth: 8, samples: [1, 2, 3], format: .png)
        #expect(ColourConversion.make(for: rgb).failureValue == .noProfile)
        var grey = Image(width: 1, height: 1, channels: 1, bitDepth: 8, samples: [1], format: .tiff)
        grey.metadata.tiffEntries = [TIFFEntry(tag: 34675, type: 7, count: UInt32(Self.adobeRGB.count), value: Self.adobeRGB)]
        #expect(ColourConversion.make(for: grey).failureValue == .grey)
        let garbage = ColourConversion.make(profile: Array("not a profile at all".utf8))
        #expect(garbage.failureValue.map { if case .unusable = $0 { true } else { false } } == true)
    }

    // MARK: finding the profile

    @Test func aJPEGsProfileIsItsAPP2ChunksInSequenceOrder() throws {
        let icc = Self.adobeRGB
        let half = icc.count / 2
        func chunk(_ n: UInt8, _ part: ArraySlice<UInt8>) -> JPEGMarker {
            JPEGMarker(code: 0xE2, payload: Array("ICC_PROFILE".utf8) + [0, n, 2] + part)
        }
        var image = Image(width: 1, height: 1, channels: 3, bitDepth: 8, samples: [1, 2, 3], format: .jpeg)
        image.metadata.jpegMarkers = [JPEGMarker(code: 0xE1, payload: [1, 2]), chunk(2, icc[half...]), chunk(1, icc[..<half])]
        #expect(image.iccProfile == icc)
        image.metadata.jpegMarkers.removeLast()
        #expect(image.iccProfile == nil, "a missing chunk is no profile")
    }

    /// A PNG's iCCP chunk through the encoder and decoder: the profile's bytes
    /// come back unchanged and are found.
    @Test func aPNGsProfileIsItsICCPChunkInflated() throws {
        var compressed = [UInt8](repeating: 0, count: Self.adobeRGB.count + 1024)
        var length = uLongf(compressed.count)
        #expect(compress(&compressed, &length, Self.adobeRGB, uLong(Self.adobeRGB.count)) == Z_OK)
        let chunk = Array("Adobe RGB (1998)".utf8) + [0, 0] + compressed.prefix(Int(length))
        var image = Image(width: 4, height: 4, channels: 3, bitDepth: 16, samples: [UInt16](repeating: 30000, count: 48), format: .png)
        image.metadata.pngChunks = [PNGChunk(type: "iCCP", data: chunk, afterImageData: false)]
        let back = try PhotoIO.decode(data: PhotoIO.encode(image), name: "a.png")
        #expect(back.metadata.pngChunks.first { $0.type == "iCCP" }?.data == chunk)
        #expect(back.iccProfile == Self.adobeRGB)
        #expect(try Self.conversion(back.iccProfile!).profileName.isEmpty == false)
    }

    @Test func aTIFFsProfileIsTag34675() {
        var image = Image(width: 1, height: 1, channels: 3, bitDepth: 16, samples: [1, 2, 3], format: .tiff)
        image.metadata.tiffEntries = [TIFFEntry(tag: 34675, type: 7, count: UInt32(Self.linearSRGB.count), value: Self.linearSRGB)]
        #expect(image.iccProfile == Self.linearSRGB)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let f) = self { return f }
        return nil
    }
}
