import Foundation
import Testing
import PhotoIO
@testable import Deblur

/// The blur-extent estimator (issue 18, `scale = auto`) against the Python it
/// was ported from: BlurExtentFixtures/expected.json is
/// training/large_eval.py's estimate_blur on the same PNGs
/// (make_blur_extent_fixtures.py; 768 x 512, so neither side resamples).
struct BlurExtentTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("BlurExtentFixtures")

    struct Expected: Decodable {
        var width: Int, height: Int
        var lum_sum: Int
        var extent_px: Double
        var confidence: Double
        var angle_deg: Double?
        var depth: Double
        var suggested_scale: Int
        var lum_width: Int?, lum_height: Int?
        var sharp_width: Int?, sharp_height: Int?
        var evidence_db: Double?
        var sharpness: Double?
    }

    static func expected() throws -> [String: Expected] {
        try JSONDecoder().decode([String: Expected].self,
                                 from: Data(contentsOf: fixtures.appendingPathComponent("expected.json")))
    }

    /// A fixture enlarged `factor` times by pixel repetition, as the Python side makes it.
    static func enlarged(_ name: String, by factor: Int) throws -> (data: [Float], width: Int, height: Int) {
        let p = try planar(name)
        let (W, H) = (factor * p.width, factor * p.height)
        var big = [Float](repeating: 0, count: 3 * W * H)
        for c in 0..<3 { for y in 0..<H { for x in 0..<W {
            big[c * W * H + y * W + x] = p.data[c * p.width * p.height + (y / factor) * p.width + x / factor]
        } } }
        return (big, W, H)
    }

    static func planar(_ name: String) throws -> (data: [Float], width: Int, height: Int) {
        let image = try PhotoIO.decode(contentsOf: fixtures.appendingPathComponent(name + ".png"))
        let p = image.planarRGB()
        return (p.data, p.width, p.height)
    }

    @Test(arguments: ["sharp", "line12", "line30", "line45", "flat"])
    func matchesPython(name: String) throws {
        let want = try #require(Self.expected()[name])
        let (data, w, h) = try Self.planar(name)
        #expect(w == want.width && h == want.height)
        // The same luminance as Pillow's convert("L").
        let lum = BlurExtent.luminance(planarRGB: data, width: w, height: h)
        let sum = lum.reduce(0) { $0 + Int(($1 * 255).rounded()) }
        #expect(sum == want.lum_sum)
        let est = BlurExtent.estimate(planarRGB: data, width: w, height: h)
        print("blur extent \(name): Swift \(est.extentPixels) px, confidence \(est.confidence), depth \(est.depth), angle \(est.angleDegrees.map { "\($0)" } ?? "-"), scale \(est.suggestedScale); Python \(want.extent_px) px, \(want.confidence), \(want.depth), \(want.angle_deg.map { "\($0)" } ?? "-"), \(want.suggested_scale)")
        #expect(est.lumScale == 1)
        #expect(abs(est.extentPixels - want.extent_px) <= 0.5)
        #expect(abs(est.confidence - want.confidence) <= 0.05)
        #expect(est.suggestedScale == want.suggested_scale)
        #expect(abs(est.depth - want.depth) <= 0.01)
        // The sharpness score (issue 18, step 3).
        let a = PhotoAssessment.assess(planarRGB: data, width: w, height: h)
        print("sharpness \(name): Swift evidence \(a.evidenceDB) dB, score \(a.score); Python \(want.evidence_db ?? .nan), \(want.sharpness ?? .nan)")
        #expect(a.blur == est)
        let (wantEvidence, wantScore) = (try #require(want.evidence_db), try #require(want.sharpness))
        #expect(abs(a.evidenceDB - wantEvidence) <= 0.02)
        #expect(abs(a.score - wantScore) <= 0.25)
    }

    /// Above 6 MP: line30 enlarged 4x (3072 x 2048), averaged to 3000 x 2000
    /// for the sharpness and that to 1732 x 1155 for the extent, as
    /// estimate_file does.
    @Test func matchesPythonAboveSixMegapixels() throws {
        let want = try #require(Self.expected()["line30_x4"])
        let (big, W, H) = try Self.enlarged("line30", by: 4)
        #expect(BlurExtent.targetSize(width: W, height: H, megapixels: PhotoAssessment.sharpMegapixels)
                == (want.sharp_width!, want.sharp_height!))
        let a = PhotoAssessment.assess(planarRGB: big, width: W, height: H)
        print("line30_x4: Swift \(a.blur.extentPixels) px, confidence \(a.blur.confidence), evidence \(a.evidenceDB) dB, score \(a.score); Python \(want.extent_px) px, \(want.confidence), \(want.evidence_db ?? .nan), \(want.sharpness ?? .nan)")
        #expect(abs(a.blur.lumScale - Double(W) / Double(want.lum_width!)) < 1e-12)
        #expect(abs(a.blur.extentPixels - want.extent_px) / a.blur.lumScale <= 0.5)
        #expect(abs(a.blur.confidence - want.confidence) <= 0.05)
        #expect(a.blur.suggestedScale == want.suggested_scale)
        let (wantEvidence, wantScore) = (try #require(want.evidence_db), try #require(want.sharpness))
        #expect(abs(a.evidenceDB - wantEvidence) <= 0.02)
        #expect(abs(a.score - wantScore) <= 0.25)
    }

    /// The verdict the daemon acts on: the sharp photo is left alone, the
    /// blurred ones are not, at the default threshold.
    @Test func sharpVerdict() throws {
        for name in ["sharp", "line12", "line30", "line45"] {
            let p = try Self.planar(name)
            let a = PhotoAssessment.assess(planarRGB: p.data, width: p.width, height: p.height)
            #expect(a.isSharp(threshold: PhotoAssessment.defaultThreshold) == (name == "sharp"),
                    "\(name): score \(a.score)")
        }
    }

    /// Through the downscaling: line30 enlarged 3x by repetition (3.5 MP),
    /// averaged to 1732 x 1155 as Python's area_down does (Pillow BOX).
    @Test func matchesPythonAfterDownscaling() throws {
        let want = try #require(Self.expected()["line30_x3"])
        let (big, W, H) = try Self.enlarged("line30", by: 3)
        #expect(BlurExtent.targetSize(width: W, height: H, megapixels: BlurExtent.extentMegapixels)
                == (want.lum_width!, want.lum_height!))
        let est = BlurExtent.estimate(planarRGB: big, width: W, height: H)
        print("blur extent line30_x3: Swift \(est.extentPixels) px (\(est.extentPixels / est.lumScale) at lum scale), confidence \(est.confidence), depth \(est.depth), scale \(est.suggestedScale); Python \(want.extent_px) px, \(want.confidence), \(want.depth), \(want.suggested_scale)")
        #expect(abs(est.lumScale - Double(W) / Double(want.lum_width!)) < 1e-12)
        #expect(abs(est.extentPixels - want.extent_px) / est.lumScale <= 0.5)
        #expect(abs(est.confidence - want.confidence) <= 0.05)
        #expect(est.suggestedScale == want.suggested_scale)
    }

    @Test func blurredPhotosHaveLongerExtents() throws {
        let sharp = try Self.planar("sharp")
        let base = BlurExtent.estimate(planarRGB: sharp.data, width: sharp.width, height: sharp.height).extentPixels
        var last = base
        for name in ["line12", "line30", "line45"] {
            let p = try Self.planar(name)
            let e = BlurExtent.estimate(planarRGB: p.data, width: p.width, height: p.height).extentPixels
            #expect(e > last, "\(name): \(e) px after \(last) px")
            last = e
        }
    }

    @Test func suggestScaleRule() {
        #expect(BlurExtent.suggestScale(extentPixels: 80, confidence: 0.19) == 1)
        #expect(BlurExtent.suggestScale(extentPixels: 32, confidence: 0.2) == 1)
        #expect(BlurExtent.suggestScale(extentPixels: 32.1, confidence: 0.9) == 2)
        #expect(BlurExtent.suggestScale(extentPixels: 96, confidence: 0.5) == 3)
        #expect(BlurExtent.suggestScale(extentPixels: 500, confidence: 0.5) == 4)
        #expect(BlurExtent.suggestScale(extentPixels: 0, confidence: 1) == 1)
    }

    @Test func fftMatchesDirectDFT() {
        let n = 8
        let fft = FFT2D(n: n)
        var re = (0..<(n * n)).map { Double(($0 * 37) % 11) - 5 }, im = (0..<(n * n)).map { Double(($0 * 13) % 7) }
        let (r0, i0) = (re, im)
        fft.forward(&re, &im)
        for ky in 0..<n { for kx in 0..<n {
            var sr = 0.0, si = 0.0
            for y in 0..<n { for x in 0..<n {
                let a = -2 * Double.pi * Double(ky * y + kx * x) / Double(n)
                sr += r0[y * n + x] * cos(a) - i0[y * n + x] * sin(a)
                si += r0[y * n + x] * sin(a) + i0[y * n + x] * cos(a)
            } }
            #expect(abs(sr - re[ky * n + kx]) < 1e-9 && abs(si - im[ky * n + kx]) < 1e-9)
        } }
        fft.inverse(&re, &im)
        for k in 0..<(n * n) { #expect(abs(re[k] - r0[k]) < 1e-12 && abs(im[k] - i0[k]) < 1e-12) }
    }

    /// Large photos are averaged down to about 2 MP first; the extent comes
    /// back in the photo's own pixels.
    @Test func downscalesLargePhotos() {
        #expect(BlurExtent.targetSize(width: 6000, height: 4000, megapixels: 2) == (1732, 1155))
        #expect(BlurExtent.targetSize(width: 768, height: 512, megapixels: 2) == (768, 512))
        // Averaging a ramp keeps its mean.
        let (w, h) = (30, 20)
        let src = (0..<(w * h)).map { Float($0 % w) }
        let out = BlurExtent.boxResample(src, width: w, height: h, toWidth: 10, toHeight: 7)
        #expect(abs(out[0] - 1) < 1e-6 && abs(out[9] - 28) < 1e-6)
    }

    /// The resampling keeps only a few rows of its horizontal pass; its
    /// output is, to the bit, that of the two whole passes (Pillow's order).
    @Test("BOX resampling row by row gives the two whole passes' values", arguments: [
        (301, 207, 100, 69), (300, 200, 173, 115), (64, 48, 64, 20), (50, 40, 7, 40), (97, 89, 13, 11), (20, 10, 30, 25),
    ])
    func boxResampleMatchesTwoWholePasses(w: Int, h: Int, tw: Int, th: Int) {
        var state: UInt64 = 12345
        let src = (0..<(w * h)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) * 255
        }
        let hw = BlurExtent.boxWeights(inSize: w, outSize: tw), vw = BlurExtent.boxWeights(inSize: h, outSize: th)
        var mid = [Double](repeating: 0, count: tw * h)
        for y in 0..<h { for (xx, (start, wts)) in hw.enumerated() {
            var acc = 0.0
            for (k, wk) in wts.enumerated() { acc += Double(src[y * w + start + k]) * wk }
            mid[y * tw + xx] = acc
        } }
        var expected = [Float](repeating: 0, count: tw * th)
        for (yy, (start, wts)) in vw.enumerated() { for i in 0..<tw {
            var acc = 0.0
            for (k, wk) in wts.enumerated() { acc += mid[(start + k) * tw + i] * wk }
            expected[yy * tw + i] = Float(acc)
        } }
        #expect(BlurExtent.boxResample(src, width: w, height: h, toWidth: tw, toHeight: th) == expected)
        let luma = src.map { UInt8($0) }
        #expect(BlurExtent.boxResample(luma: luma, width: w, height: h, toWidth: tw, toHeight: th)
                == BlurExtent.boxResample(luma.map { Float($0) / 255 }, width: w, height: h, toWidth: tw, toHeight: th))
    }

    /// The estimate's cost on a 24 MP photo (6000 x 4000, line30 upscaled):
    /// set MTRNN_BLUR_EXTENT_BENCH=1 to run it (a release build: swift test -c release).
    @Test(.enabled(if: ProcessInfo.processInfo.environment["MTRNN_BLUR_EXTENT_BENCH"] != nil))
    func timeOn24Megapixels() throws {
        let p = try Self.planar("line30")
        let (W, H) = (6000, 4000)
        var big = [Float](repeating: 0, count: 3 * W * H)
        for c in 0..<3 { for y in 0..<H { let sy = y * p.height / H; for x in 0..<W {
            big[c * W * H + y * W + x] = p.data[c * p.width * p.height + sy * p.width + x * p.width / W]
        } } }
        let clock = ContinuousClock()
        var est = BlurExtent.estimate(planarRGB: big, width: W, height: H)
        var best = Duration.seconds(1000)
        for _ in 0..<3 {
            let t = clock.measure { est = BlurExtent.estimate(planarRGB: big, width: W, height: H) }
            best = min(best, t)
        }
        print("blur extent on 6000x4000: \(best) (best of 3), extent \(est.extentPixels) px, confidence \(est.confidence), scale \(est.suggestedScale)")
    }
}
