import CLCMS
import Foundation
import Testing
import PhotoIO
@testable import Deblur

/// Issue 19: the pipeline sees a photo in another colour space as sRGB and
/// writes it back in its own profile, whose bytes are kept; sRGB photos take
/// exactly the path they took before.
struct ColourPipelineTests {
    func options(_ colour: DeblurOptions.ColourProfile, strength: Float = 1) -> DeblurOptions {
        var o = DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 1, precision: .f32, tile: 64, overlap: 16,
                              workers: 2, threadsPerWorker: 1)
        o.sharpPhotos = .process
        o.colourProfile = colour
        o.strength = strength
        return o
    }

    static func save(_ profile: cmsHPROFILE) -> [UInt8] {
        var size: cmsUInt32Number = 0
        cmsSaveProfileToMem(profile, nil, &size)
        var bytes = [UInt8](repeating: 0, count: Int(size))
        cmsSaveProfileToMem(profile, &bytes, &size)
        return bytes
    }

    static let adobeRGB: [UInt8] = {
        var wp = cmsCIExyY(x: 0.3127, y: 0.3290, Y: 1)
        var primaries = cmsCIExyYTRIPLE(Red: cmsCIExyY(x: 0.64, y: 0.33, Y: 1), Green: cmsCIExyY(x: 0.21, y: 0.71, Y: 1),
                                        Blue: cmsCIExyY(x: 0.15, y: 0.06, Y: 1))
        let curve = cmsBuildGamma(nil, 563.0 / 256)
        defer { cmsFreeToneCurve(curve) }
        let curves = [curve, curve, curve]
        let profile = curves.withUnsafeBufferPointer { cmsCreateRGBProfile(&wp, &primaries, $0.baseAddress) }!
        defer { cmsCloseProfile(profile) }
        return save(profile)
    }()

    static let sRGB: [UInt8] = {
        let p = cmsCreate_sRGBProfile()!
        defer { cmsCloseProfile(p) }
        return save(p)
    }()

    /// The iCCP chunk of `icc`: name, NUL, method 0, deflated profile.
    static func iCCP(_ icc: [UInt8]) -> [UInt8] {
        var compressed = [UInt8](repeating: 0, count: icc.count + 1024)
        var length = uLongf(compressed.count)
        _ = compress(&compressed, &length, icc, uLong(icc.count))
        return Array("ICC profile".utf8) + [0, 0] + compressed.prefix(Int(length))
    }

    /// A 16-bit RGB PNG with a gradient and texture, carrying `icc` (nil: none).
    func photo(_ dir: URL, _ name: String, icc: [UInt8]?) throws -> URL {
        let (w, h) = (96, 64)
        var samples = [UInt16](repeating: 0, count: w * h * 3)
        for y in 0..<h {
            for x in 0..<w {
                let i = (y * w + x) * 3
                samples[i] = UInt16(8000 + x * 500)
                samples[i + 1] = UInt16(6000 + y * 800)
                samples[i + 2] = UInt16(((x ^ y) & 15) * 3000 + 5000)
            }
        }
        var image = Image(width: w, height: h, channels: 3, bitDepth: 16, samples: samples, format: .png)
        if let icc { image.metadata.pngChunks = [PNGChunk(type: "iCCP", data: Self.iCCP(icc), afterImageData: false)] }
        let url = dir.appendingPathComponent(name)
        try Data(PhotoIO.encode(image)).write(to: url)
        return url
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("colour-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// An sRGB-tagged photo: the same bytes with conversion on or off, and the
    /// same samples as the photo without a profile (the path of before).
    @Test func anSRGBPhotoTakesTheSamePathAsBefore() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let tagged = try photo(dir, "srgb.png", icc: Self.sRGB), plain = try photo(dir, "plain.png", icc: nil)
        let converted = try DeblurPipeline(options: options(.convert)).deblur(input: tagged)
        let ignored = try DeblurPipeline(options: options(.ignore)).deblur(input: tagged)
        #expect(converted.bytes == ignored.bytes)
        #expect(converted.report.colour == nil)
        let untagged = try DeblurPipeline(options: options(.convert)).deblur(input: plain)
        #expect(try PhotoIO.decode(data: converted.bytes, name: "a.png").samples
                == PhotoIO.decode(data: untagged.bytes, name: "b.png").samples)
    }

    /// An Adobe RGB photo: converted (the result differs from taking its values
    /// as sRGB), its profile's bytes kept, the report says so; at strength 0
    /// the round trip through sRGB gives the photo back within a 16-bit step.
    @Test func anAdobeRGBPhotoIsConvertedAndKeepsItsProfile() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try photo(dir, "adobe.png", icc: Self.adobeRGB)
        let original = try PhotoIO.decode(contentsOf: input)
        let converted = try DeblurPipeline(options: options(.convert)).deblur(input: input)
        let ignored = try DeblurPipeline(options: options(.ignore)).deblur(input: input)
        let out = try PhotoIO.decode(data: converted.bytes, name: "out.png")
        #expect(out.metadata.pngChunks.first { $0.type == "iCCP" }?.data == Self.iCCP(Self.adobeRGB))
        #expect(out.iccProfile == Self.adobeRGB)
        #expect(try out.samples != PhotoIO.decode(data: ignored.bytes, name: "i.png").samples)
        #expect(converted.report.colour?.hasPrefix("converted from") == true, "\(converted.report.colour ?? "nil")")
        #expect(ignored.report.colour?.contains("taken as sRGB") == true)
        let none = try DeblurPipeline(options: options(.convert, strength: 0)).deblur(input: input)
        let back = try PhotoIO.decode(data: none.bytes, name: "n.png").samples
        let worst = zip(back, original.samples).map { abs(Int($0) - Int($1)) }.max()!
        #expect(worst <= 1, "the round trip through sRGB is \(worst) 16-bit steps off")
    }
}
