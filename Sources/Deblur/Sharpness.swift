import Foundation
import PhotoIO

/// Is this photo blurred at all? A no-reference sharpness score (issue 18,
/// step 3: sharp photos are left alone), ported from training/large_eval.py
/// (`sharpness`, `estimate_file`) and checked against it by
/// Tests/DeblurTests/BlurExtentTests.swift.
///
/// The luminance is averaged to about 6 MP (``sharpMegapixels``). Its Welch
/// power spectrum (256 x 256 Hann tiles, no overlap, the half of the tiles
/// with the most gradient energy: the subject rather than sky or bokeh; each
/// normalised to unit gradient energy) is split into 12 orientation sectors
/// and 4 octaves (1/32 ... 1/2 cycles per pixel). In each sector, each
/// octave's energy is compared with the octave below (dB). A sharp natural
/// photo is roughly scale-invariant; motion blur cuts the ratios in the
/// sectors along the motion. The evidence (dB) weighs how low the lowest
/// sector is and how far it lies under the mean; the score is minus (that
/// evidence + 4 x the blur extent's confidence): higher is sharper.
/// Calibrated on the large-photo set (training/LARGE_EVAL.md, BENCHMARKS.md
/// "Sharp photos").
public struct PhotoAssessment: Sendable, Equatable {
    /// The blur extent and the scale it suggests (``BlurExtent``).
    public var blur: BlurExtent.Estimate
    /// Spectral blur evidence in dB (0 for a flat image).
    public var evidenceDB: Double
    /// The sharpness score: higher is sharper.
    public var score: Double

    public init(blur: BlurExtent.Estimate, evidenceDB: Double, score: Double) {
        self.blur = blur
        self.evidenceDB = evidenceDB
        self.score = score
    }

    /// Sharp enough to leave alone at this threshold (score > threshold).
    public func isSharp(threshold: Double) -> Bool { score > threshold }

    /// The default threshold: at most 5 % of the blurred photos of the
    /// calibration set (56) score above it (BENCHMARKS.md, "Sharp photos").
    public static let defaultThreshold = -13.7
    /// The luminance size of the sharpness spectrum.
    public static let sharpMegapixels = 6.0
    /// dB of blur evidence per unit of the extent's confidence.
    static let confidenceWeight = 4.0
    static let sectors = 12
    /// Octave edges in cycles per pixel (at ``sharpMegapixels``).
    static let bands: [Double] = [1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2]

    /// Both estimates for planar RGB (3 planes of width x height, 0...255),
    /// as `estimate_file` makes them: the luminance averaged to ~6 MP for the
    /// sharpness, that further to ~2 MP for the blur extent.
    public static func assess(planarRGB: [Float], width: Int, height: Int) -> PhotoAssessment {
        assess(sharpLuminance: BlurExtent.reducedLuminance(planarRGB: planarRGB, width: width, height: height,
                                                           megapixels: sharpMegapixels), width: width)
    }

    /// The same of `image.planarRGB()`, without making the float planes: a
    /// photo waiting in a batch is scored from its samples.
    public static func assess(image: Image) -> PhotoAssessment {
        assess(sharpLuminance: BlurExtent.reducedLuminance(image: image, megapixels: sharpMegapixels), width: image.width)
    }

    static func assess(sharpLuminance six: (lum: [Float], width: Int, height: Int), width: Int) -> PhotoAssessment {
        let blur = BlurExtent.estimate(sharpLuminance: six, width: width)
        let evidence = evidenceDB(luminance: six.lum, width: six.width, height: six.height)
        let score = -(evidence + confidenceWeight * blur.confidence)
        return PhotoAssessment(blur: blur, evidenceDB: evidence, score: (score * 100).rounded() / 100)
    }

    /// `sharpness(lum)["evidence_db"]`, rounded to 0.01 dB as Python does.
    static func evidenceDB(luminance lum0: [Float], width w0: Int, height h0: Int) -> Double {
        let T = BlurExtent.tile
        let (lum, W, H) = BlurExtent.padTo(lum0, width: w0, height: h0, T)
        let energy = BlurExtent.gradients(lum, width: W, height: H).energy
        let win = BlurExtent.hannWindow(T)
        let picked = BlurExtent.tiles(energy, width: W, height: H, T: T, step: T, keep: 0.5)
        if picked.isEmpty { return 0 }   // flat
        let fft = FFT2D(n: T)
        let n2 = T * T
        var power = [Double](repeating: 0, count: n2)
        var re = [Double](repeating: 0, count: n2), im = re
        // Two real tiles per complex FFT: Z = a + i b, A(k) = (Z(k) + Z*(-k)) / 2,
        // B(k) = (Z(k) - Z*(-k)) / 2i.
        var k = 0
        while k < picked.count {
            let pair = Array(picked[k..<min(k + 2, picked.count)])
            for (j, (_, ty, tx)) in pair.enumerated() {
                var sum = 0.0
                for y in 0..<T { for x in 0..<T { sum += Double(lum[(ty + y) * W + tx + x]) } }
                let mean = Float(sum / Double(n2))
                for y in 0..<T {
                    for x in 0..<T {
                        let v = Double((lum[(ty + y) * W + tx + x] - mean) * win[y * T + x])
                        if j == 0 { re[y * T + x] = v } else { im[y * T + x] = v }
                    }
                }
            }
            if pair.count == 1 { for i in 0..<n2 { im[i] = 0 } }
            fft.forward(&re, &im)
            let wa = 1 / pair[0].0, wb = pair.count > 1 ? 1 / pair[1].0 : 0
            for ky in 0..<T {
                let my = (T - ky) & (T - 1)
                for kx in 0...(T / 2) {
                    let i = ky * T + kx, m = my * T + ((T - kx) & (T - 1))
                    let ar = 0.5 * (re[i] + re[m]), ai = 0.5 * (im[i] - im[m])
                    let br = 0.5 * (im[i] + im[m]), bi = -0.5 * (re[i] - re[m])
                    power[i] += (ar * ar + ai * ai) * wa + (br * br + bi * bi) * wb
                }
            }
            k += 2
        }
        // Energy per (sector, octave) over numpy's rfft2 half spectrum.
        var e = [Double](repeating: 0, count: sectors * 4)
        for ky in 0..<T {
            let fy = Double(ky < T / 2 ? ky : ky - T) / Double(T)
            for kx in 0...(T / 2) {
                let fx = Double(kx) / Double(T)
                let rad = (fx * fx + fy * fy).squareRoot()
                guard let band = (0..<4).first(where: { bands[$0] <= rad && rad < bands[$0 + 1] }) else { continue }
                var angle = atan2(fy, fx)
                if angle < 0 { angle += Double.pi }
                let sector = min(Int(angle / Double.pi * Double(sectors)), sectors - 1)
                e[sector * 4 + band] += power[ky * T + kx]
            }
        }
        for i in e.indices { e[i] = 10 * log10(max(e[i], 1e-20)) }
        var minimum = [Double](repeating: .infinity, count: 3), mean = [Double](repeating: 0, count: 3)
        for s in 0..<sectors {
            for r in 0..<3 {
                let ratio = e[s * 4 + r + 1] - e[s * 4 + r]
                minimum[r] = min(minimum[r], ratio)
                mean[r] += ratio / Double(sectors)
            }
        }
        let aniso = (0..<3).map { mean[$0] - minimum[$0] }
        let evidence = aniso[1] + 0.6 * -minimum[0] + 0.5 * -minimum[1] + 0.7 * aniso[2]
        return (evidence * 100).rounded() / 100
    }
}
