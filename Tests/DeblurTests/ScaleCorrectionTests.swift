import Foundation
import Testing
import MTRNN
import PhotoIO
@testable import Deblur

/// Deblurring at a coarser scale (issue 18): the resampling it rests on, and
/// the pipeline at scale 2 and 3.
struct ScaleCorrectionTests {
    func ramp(_ w: Int, _ h: Int) -> [Float] {
        var p = [Float](repeating: 0, count: 3 * w * h)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w { p[c * w * h + y * w + x] = Float(10 * c + x + 2 * y) } } }
        return p
    }

    @Test(arguments: [(12, 8, 2), (13, 7, 3), (5, 5, 4), (9, 6, 1)])
    func downscaleAveragesBlocksEdgesIncluded(w: Int, h: Int, f: Int) {
        let src = ramp(w, h)
        let (sw, sh, small) = ScaleCorrection.downscale(src, width: w, height: h, factor: f)
        #expect(sw == (w + f - 1) / f && sh == (h + f - 1) / f)
        for c in 0..<3 { for y in 0..<sh { for x in 0..<sw {
            var sum: Float = 0, n: Float = 0
            for yy in (y * f)..<min(h, y * f + f) { for xx in (x * f)..<min(w, x * f + f) { sum += src[c * w * h + yy * w + xx]; n += 1 } }
            #expect(abs(small[c * sw * sh + y * sw + x] - sum / n) < 1e-4)
        } } }
    }

    /// The correction's weights sum to one: a constant correction is added
    /// exactly everywhere, and none leaves the photo as it was.
    @Test func constantAndZeroCorrections() {
        let (w, h, f) = (23, 17, 3)
        let photo = ramp(w, h)
        let sw = (w + f - 1) / f, sh = (h + f - 1) / f
        let before = [Float](repeating: 5, count: 3 * sw * sh)
        var same = photo
        ScaleCorrection.addUpsampledCorrection(to: &same, width: w, height: h, before: before, after: before,
                                               smallWidth: sw, smallHeight: sh, factor: f)
        #expect(same == photo)
        var shifted = photo
        ScaleCorrection.addUpsampledCorrection(to: &shifted, width: w, height: h, before: before,
                                               after: before.map { $0 + 2.5 }, smallWidth: sw, smallHeight: sh, factor: f)
        #expect(zip(shifted, photo).allSatisfy { abs($0 - $1 - 2.5) < 1e-4 })
    }

    /// A linear correction comes back linear away from the edges (bicubic
    /// reproduces linear functions; pixel centres are aligned).
    @Test func linearCorrectionIsReproduced() {
        let (w, h, f) = (40, 32, 2)
        let sw = w / f, sh = h / f
        var after = [Float](repeating: 0, count: 3 * sw * sh)
        for c in 0..<3 { for y in 0..<sh { for x in 0..<sw {
            // value at small pixel centre (x, y) in full-size coordinates: ((x + 0.5) * f - 0.5)
            after[c * sw * sh + y * sw + x] = Float((Double(x) + 0.5) * Double(f) - 0.5) + 0.5 * Float((Double(y) + 0.5) * Double(f) - 0.5)
        } } }
        var full = [Float](repeating: 0, count: 3 * w * h)
        ScaleCorrection.addUpsampledCorrection(to: &full, width: w, height: h, before: [Float](repeating: 0, count: after.count),
                                               after: after, smallWidth: sw, smallHeight: sh, factor: f)
        for y in 4..<(h - 4) { for x in 4..<(w - 4) {
            #expect(abs(full[y * w + x] - (Float(x) + 0.5 * Float(y))) < 1e-3, "(\(x), \(y))")
        } }
    }

    @Test(arguments: [2, 3])
    func pipelineAtACoarserScaleKeepsSizeAndFormat(scale: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("scale-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (w, h) = (150, 90)
        var samples = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<samples.count { samples[i] = UInt8((i * 37 + i / 450) % 256) }
        let input = dir.appendingPathComponent("in.png")
        try Data(PhotoIO.encode(Image(width: w, height: h, channels: 3, bitDepth: 8,
                                      samples: samples.map(UInt16.init), format: .png))).write(to: input)
        var options = DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 1, precision: .f32, tile: 64, overlap: 16,
                                    workers: 2, threadsPerWorker: 1)
        options.scale = scale
        let photo = try DeblurPipeline(options: options).deblur(input: input)
        let report = photo.report
        let plain = try DeblurPipeline(options: DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 1,
                                                             precision: .f32, tile: 64, overlap: 16, workers: 2, threadsPerWorker: 1))
            .deblur(input: input).report
        #expect(report.width == w && report.height == h)
        #expect(report.tiles < plain.tiles, "the network runs on the small image")
        let out = try PhotoIO.decode(data: photo.bytes, name: "out.png")
        #expect(out.width == w && out.height == h && out.format == .png)
        #expect(out.samples != samples.map(UInt16.init), "the correction was applied")
        #expect(throws: DeblurError.self) {
            var bad = options
            bad.scale = -1
            _ = try DeblurPipeline(options: bad)
        }
        #expect(throws: DeblurError.self) {
            var bad = options
            bad.scale = 5
            _ = try DeblurPipeline(options: bad)
        }
    }
}

/// `scale` 0, auto: the pipeline picks the scale from the photo's estimated
/// blur extent (BlurExtent) and reports it. Every tile is "flat" here, so no
/// network runs: only the choice is under test.
struct AutoScaleTests {
    @Test(arguments: [("sharp", 1, 3.0, 0.634), ("line45", 2, 45.0, 0.768)])
    func autoScaleFollowsTheEstimate(name: String, scale: Int, extent: Double, confidence: Double) throws {
        let input = BlurExtentTests.fixtures.appendingPathComponent(name + ".png")
        var options = DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 1, precision: .f32, tile: 128, overlap: 16,
                                    workers: 2, threadsPerWorker: 1)
        options.scale = DeblurOptions.autoScale
        options.flatTileGradient = 255   // the largest: every tile is flat
        options.sharpPhotos = .process   // the sharp one too: this is about the scale
        let report = try DeblurPipeline(options: options).deblur(input: input).report
        #expect(report.scaleUsed == scale)
        #expect(report.blurExtent == extent)
        #expect(report.blurConfidence == confidence)
        #expect(report.width == 768 && report.height == 512)

        options.scale = 1
        let fixed = try DeblurPipeline(options: options).deblur(input: input).report
        #expect(fixed.scaleUsed == 1 && fixed.blurExtent == nil && fixed.blurConfidence == nil)
    }
}

/// Work only where it pays (issue 18 step 4): flat tiles and early stops.
struct AdaptiveWorkTests {
    @Test func meanGradientOfFlatAndRampTiles() {
        let (w, h) = (10, 8)
        #expect(TileStatistics.meanGradient([Float](repeating: 90, count: 3 * w * h), width: w, height: h) == 0)
        var ramp = [Float](repeating: 0, count: 3 * w * h)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w { ramp[c * w * h + y * w + x] = Float(3 * x) } } }
        // |dx| = 3 on (w-1) of w columns, dy = 0
        #expect(abs(TileStatistics.meanGradient(ramp, width: w, height: h) - 3 * Float(w - 1) / Float(w)) < 1e-4)
    }

    func run(_ configure: (inout DeblurOptions) -> Void) throws -> (DeblurReport, [UInt16], [UInt16]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adaptive-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (w, h) = (150, 90)
        var samples = [UInt16](repeating: 0, count: w * h * 3)
        // Left two thirds flat, the rest busy.
        for y in 0..<h { for x in 0..<w { for c in 0..<3 {
            samples[(y * w + x) * 3 + c] = x < 110 ? 120 : UInt16((x * 37 + y * 91 + c * 50) % 256)
        } } }
        let input = dir.appendingPathComponent("in.png")
        try Data(PhotoIO.encode(Image(width: w, height: h, channels: 3, bitDepth: 8, samples: samples, format: .png))).write(to: input)
        var options = DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 3, precision: .f32, tile: 64, overlap: 16,
                                    workers: 2, threadsPerWorker: 1)
        options.stopBelow = 0   // every iteration, unless the test says otherwise
        configure(&options)
        let photo = try DeblurPipeline(options: options).deblur(input: input)
        return (photo.report, samples, try PhotoIO.decode(data: photo.bytes, name: "out.png").samples.values)
    }

    @Test func flatTilesAreLeftAsTheyWere() throws {
        let (plain, _, _) = try run { _ in }
        #expect(plain.flatTiles == 0 && plain.iterationsRun == plain.tiles * 3)
        let (r, input, out) = try run { $0.flatTileGradient = 1 }
        #expect(r.flatTiles > 0 && r.flatTiles < r.tiles, "\(r.flatTiles) of \(r.tiles)")
        #expect(r.iterationsRun == (r.tiles - r.flatTiles) * 3)
        // A pixel covered only by flat tiles comes out as it went in.
        #expect(out[0..<3] == input[0..<3])
        let (all, input2, out2) = try run { $0.flatTileGradient = 255 }
        #expect(all.flatTiles == all.tiles && all.iterationsRun == 0)
        #expect(out2 == input2)
    }

    @Test func tilesStopIteratingOnceTheUpdateIsSmall() throws {
        let (never, _, _) = try run { $0.stopBelow = 1e-9 }
        #expect(never.iterationsRun == never.tiles * 3)
        let (soon, _, _) = try run { $0.stopBelow = 255 }
        #expect(soon.iterationsRun == soon.tiles * 2, "at least 2 iterations, then stop")
    }
}
