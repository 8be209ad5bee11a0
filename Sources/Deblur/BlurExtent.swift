import Foundation
import MTRNN
import PhotoIO

/// No-reference estimate of a photo's motion-blur extent, ported from
/// `training/large_eval.py` (`estimate_blur`, `suggest_scale`; see
/// training/LARGE_EVAL.md for the method and its calibration), so the
/// pipeline can pick its scale per photo (`DeblurOptions.scale` 0, "auto").
///
/// The luminance is Pillow's "L" (0.299 R + 0.587 G + 0.114 B, rounded to
/// 8 bits as Pillow does), area-averaged straight down to about
/// ``extentMegapixels`` with Pillow's BOX weights. The Python reads JPEGs at
/// libjpeg's reduced DCT size and goes via about 6 MP (8-bit) to 2 MP; the
/// direct average here differs from that by a fraction of a grey level, not
/// in the size the extent is measured at. Below 2 MP nothing is resampled
/// and the estimate is the Python's (the golden test in
/// Tests/DeblurTests/BlurExtentTests.swift).
public enum BlurExtent {
    /// Tile side of the Welch average (power of two: the FFT is radix 2).
    public static let tile = 256
    /// Dips shorter than this (px at the luminance's size) are the derivative's own lobe.
    public static let rMin = 3.0
    /// The longest lag searched (px at the luminance's size).
    public static let rMax = 100.0
    /// Weight of the cepstrum map in the fused map.
    public static let wCepstrum = 0.5
    /// The luminance is averaged down to about this many megapixels.
    public static let extentMegapixels = 2.0
    /// Blur the network should see at most (px); the suggested scale brings the estimate under it.
    public static let maxNetExtent = 32.0
    /// Below this confidence the extent is not trusted and the scale is 1.
    public static let minConfidence = 0.2
    /// Share of tiles (most gradient energy first) in the Welch average.
    static let keep = 0.7

    public struct Estimate: Sendable, Equatable {
        /// The blur's extent in pixels at the photo's own size (0 for a flat
        /// photo; extents under 3 px at ~2 MP are reported as that floor).
        /// Rounded to 0.1 px as the Python does.
        public var extentPixels: Double
        /// 1 - second-deepest dip / deepest dip: near 0 when two candidates
        /// are as deep, near 1 for a single dip. Rounded to 0.001.
        public var confidence: Double
        /// `suggestScale(extentPixels, confidence)`: 1...4.
        public var suggestedScale: Int
        /// Direction of the dip (degrees, 0...177, x right, y down); nil when none.
        public var angleDegrees: Double?
        /// The fused map's value at the dip (more negative: a stronger dip).
        public var depth: Double
        /// Photo pixels per luminance pixel (1 when no averaging was needed).
        public var lumScale: Double

        public init(extentPixels: Double, confidence: Double, suggestedScale: Int,
                    angleDegrees: Double? = nil, depth: Double = 0, lumScale: Double = 1) {
            self.extentPixels = extentPixels
            self.confidence = confidence
            self.suggestedScale = suggestedScale
            self.angleDegrees = angleDegrees
            self.depth = depth
            self.lumScale = lumScale
        }
    }

    /// The estimate for planar RGB (3 planes of width x height, 0...255), as
    /// the pipeline holds a decoded photo.
    public static func estimate(planarRGB: [Float], width: Int, height: Int) -> Estimate {
        estimate(sharpLuminance: reducedLuminance(planarRGB: planarRGB, width: width, height: height,
                                                  megapixels: PhotoAssessment.sharpMegapixels),
                 width: width)
    }

    /// The same of `image.planarRGB()`, without making the float planes.
    public static func estimate(image: Image) -> Estimate {
        estimate(sharpLuminance: reducedLuminance(image: image, megapixels: PhotoAssessment.sharpMegapixels),
                 width: image.width)
    }

    /// `estimate_file`'s path: the luminance already averaged to about 6 MP
    /// (``reducedLuminance``), averaged further to ``extentMegapixels``;
    /// `width` is the photo's own, so the extent comes back in its pixels.
    static func estimate(sharpLuminance six: (lum: [Float], width: Int, height: Int), width: Int) -> Estimate {
        let (tw, th) = targetSize(width: six.width, height: six.height, megapixels: extentMegapixels)
        let lum = tw == six.width && th == six.height ? six.lum
            : boxResample(six.lum, width: six.width, height: six.height, toWidth: tw, toHeight: th)
        return estimateBlur(luminance: lum, width: tw, height: th, scale: Double(width) / Double(tw))
    }

    /// The luminance (``luminance(planarRGB:width:height:)``), averaged
    /// (Pillow BOX) to about `megapixels` when the photo is larger.
    static func reducedLuminance(planarRGB: [Float], width: Int, height: Int,
                                 megapixels: Double) -> (lum: [Float], width: Int, height: Int) {
        precondition(width > 0 && height > 0 && planarRGB.count >= 3 * width * height)
        return reduced(luminance(planarRGB: planarRGB, width: width, height: height), width: width, height: height,
                       megapixels: megapixels)
    }

    /// The same of `image.planarRGB()`, from the samples themselves: the
    /// same values, without the float planes (12 bytes a pixel) or a float
    /// luminance at full size (4 bytes a pixel): the 8-bit luminance (1 byte
    /// a pixel) is what is averaged. A photo waiting in a batch is scored
    /// this way beside another photo's network, where memory is at its peak.
    static func reducedLuminance(image: Image, megapixels: Double) -> (lum: [Float], width: Int, height: Int) {
        precondition(image.width > 0 && image.height > 0)
        let (width, height) = (image.width, image.height)
        let luma = luma(image: image)
        let (tw, th) = targetSize(width: width, height: height, megapixels: megapixels)
        if tw == width && th == height { return (luma.map { Float($0) / 255 }, width, height) }
        return (boxResample(luma: luma, width: width, height: height, toWidth: tw, toHeight: th), tw, th)
    }

    static func reduced(_ lum: [Float], width: Int, height: Int, megapixels: Double) -> (lum: [Float], width: Int, height: Int) {
        let (tw, th) = targetSize(width: width, height: height, megapixels: megapixels)
        if tw == width && th == height { return (lum, width, height) }
        return (boxResample(lum, width: width, height: height, toWidth: tw, toHeight: th), tw, th)
    }

    /// numpy's `np.outer(np.hanning(T), np.hanning(T))` in Float.
    static func hannWindow(_ T: Int) -> [Float] {
        let hann = (0..<T).map { 0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(T - 1)) }
        var win = [Float](repeating: 0, count: T * T)
        for y in 0..<T { for x in 0..<T { win[y * T + x] = Float(hann[y] * hann[x]) } }
        return win
    }

    /// Python's `suggest_scale`: the smallest S in 1...4 that brings the
    /// extent down to ``maxNetExtent``, S = clamp(ceil(extent / 32), 1, 4);
    /// 1 when the confidence is under ``minConfidence``.
    public static func suggestScale(extentPixels: Double, confidence: Double) -> Int {
        if !(confidence >= minConfidence) { return 1 }
        return Int(min(4, max(1, (extentPixels / maxNetExtent - 1e-9).rounded(.up))))
    }

    // MARK: - Luminance and resampling

    /// `load_luminance`'s size: factor f = max(1, sqrt(W H / (mp 1e6))), round(W / f) x round(H / f).
    static func targetSize(width: Int, height: Int, megapixels: Double) -> (Int, Int) {
        let f = max(1.0, (Double(width) * Double(height) / (megapixels * 1e6)).squareRoot())
        if f <= 1.0 { return (width, height) }
        let tw = max(1, Int((Double(width) / f).rounded(.toNearestOrEven)))
        let th = max(1, Int((Double(height) / f).rounded(.toNearestOrEven)))
        return (tw, th)
    }

    /// Pillow's `convert("L")` of 8-bit RGB, / 255: (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
    /// Samples are rounded to 8 bits first (a 16-bit photo is quantised, as Pillow would).
    static func luminance(planarRGB: [Float], width: Int, height: Int) -> [Float] {
        let n = width * height
        var out = [Float](repeating: 0, count: n)
        planarRGB.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                @inline(__always) func q(_ v: Float) -> Int {
                    Int((v > 0 ? min(v, 255) : 0) + 0.5)   // rounded half up; NaN -> 0
                }
                for p in 0..<n {
                    let l = (q(s[p]) * 19595 + q(s[n + p]) * 38470 + q(s[2 * n + p]) * 7471 + 0x8000) >> 16
                    o[p] = Float(l) / 255
                }
            }
        }
        return out
    }

    /// `luminance(planarRGB:)` of `image.planarRGB()`, value for value.
    static func luminance(image: Image) -> [Float] { luma(image: image).map { Float($0) / 255 } }

    /// The 8-bit luminance behind `luminance(image:)` (that is this / 255):
    /// each sample scaled to 0...255 as `planarRGB()` scales it (grey taken
    /// for all three), then quantised and weighted as `luminance(planarRGB:)`.
    static func luma(image: Image) -> [UInt8] {
        let n = image.width * image.height, channels = image.channels
        let scale: Float = image.bitDepth == 16 ? 255.0 / 65535.0 : 1
        let colour = channels >= 3
        var out = [UInt8](repeating: 0, count: n)
        func fill<T: BinaryInteger>(_ s: UnsafeBufferPointer<T>) {
            out.withUnsafeMutableBufferPointer { o in
                @inline(__always) func q(_ v: Float) -> Int {
                    Int((v > 0 ? min(v, 255) : 0) + 0.5)   // rounded half up; NaN -> 0
                }
                for p in 0..<n {
                    let base = p * channels
                    let r = q(Float(s[base]) * scale)
                    let g = colour ? q(Float(s[base + 1]) * scale) : r
                    let b = colour ? q(Float(s[base + 2]) * scale) : r
                    o[p] = UInt8(truncatingIfNeeded: (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
                }
            }
        }
        image.samples.withStorage(bytes: fill, words: fill)
        return out
    }

    /// Pillow's BOX resampling weights for one axis: each output pixel
    /// averages the input pixels whose centres fall inside its box.
    static func boxWeights(inSize: Int, outSize: Int) -> [(start: Int, weights: [Double])] {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(scale, 1)
        let support = 0.5 * filterScale
        var out: [(Int, [Double])] = []
        out.reserveCapacity(outSize)
        for xx in 0..<outSize {
            let center = (Double(xx) + 0.5) * scale
            let xmin = max(0, Int(center - support + 0.5))
            let xmax = min(inSize, Int(center + support + 0.5))
            var w: [Double] = []
            var total = 0.0
            for x in xmin..<max(xmin, xmax) {
                let t = (Double(x) - center + 0.5) / filterScale
                let v: Double = (t > -0.5 && t <= 0.5) ? 1 : 0
                w.append(v); total += v
            }
            if total != 0 { w = w.map { $0 / total } }
            out.append((xmin, w))
        }
        return out
    }

    /// Separable BOX resampling (horizontal, then vertical) of one plane.
    static func boxResample(_ src: [Float], width: Int, height: Int, toWidth tw: Int, toHeight th: Int) -> [Float] {
        precondition(src.count >= width * height)
        return src.withUnsafeBufferPointer { s in
            boxResample(width: width, height: height, toWidth: tw, toHeight: th) { Double(s[$0]) }
        }
    }

    /// The same of the plane `luma / 255` (as Float), value for value,
    /// without making that plane.
    static func boxResample(luma: [UInt8], width: Int, height: Int, toWidth tw: Int, toHeight th: Int) -> [Float] {
        precondition(luma.count >= width * height)
        return luma.withUnsafeBufferPointer { s in
            boxResample(width: width, height: height, toWidth: tw, toHeight: th) { Double(Float(s[$0]) / 255) }
        }
    }

    /// Each input row's horizontal pass is computed once, when the first
    /// output row that needs it comes, into a ring that holds as many rows
    /// as the longest vertical window (not the whole tw x height pass in
    /// Double: 96 MB at 24 MP). The sums are the same, added in the same order.
    @inline(__always)
    private static func boxResample(width: Int, height: Int, toWidth tw: Int, toHeight th: Int,
                                    sample: (Int) -> Double) -> [Float] {
        let hw = boxWeights(inSize: width, outSize: tw)
        let vw = boxWeights(inSize: height, outSize: th)
        let ringRows = max(1, vw.map(\.weights.count).max() ?? 1)
        var ring = [Double](repeating: 0, count: ringRows * tw)
        var out = [Float](repeating: 0, count: tw * th)
        var acc = [Double](repeating: 0, count: tw)
        // The last input row in the ring. Window starts never go back, and a
        // window is at most ringRows long, so no row still needed is overwritten.
        var computed = -1
        ring.withUnsafeMutableBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in
                acc.withUnsafeMutableBufferPointer { a in
                    for (yy, (start, w)) in vw.enumerated() {
                        while computed < min(height, start + w.count) - 1 {
                            computed += 1
                            let row = computed * width, base = (computed % ringRows) * tw
                            for (xx, (hs, hwk)) in hw.enumerated() {
                                var sum = 0.0
                                for (k, wk) in hwk.enumerated() { sum += sample(row + hs + k) * wk }
                                m[base + xx] = sum
                            }
                        }
                        for i in 0..<tw { a[i] = 0 }
                        for (k, wk) in w.enumerated() {
                            let base = ((start + k) % ringRows) * tw
                            for i in 0..<tw { a[i] += m[base + i] * wk }
                        }
                        for i in 0..<tw { o[yy * tw + i] = Float(a[i]) }
                    }
                }
            }
        }
        return out
    }

    // MARK: - The estimator

    /// Python's `estimate_blur(lum, scale)` on a luminance image (0...1,
    /// ~2 MP, row-major `width` x `height`); `scale` is photo px per lum px.
    static func estimateBlur(luminance lum0: [Float], width w0: Int, height h0: Int, scale: Double = 1) -> Estimate {
        let T = tile
        let (lum, W, H) = padTo(lum0, width: w0, height: h0, T)
        let (gx, gy, energy) = gradients(lum, width: W, height: H)
        let win = hannWindow(T)

        let fft = FFT2D(n: T)
        let n2 = T * T
        var pxx = [Double](repeating: 0, count: n2), pyy = pxx, pc = pxx
        var re = [Double](repeating: 0, count: n2), im = re
        let picked = tiles(energy, width: W, height: H, T: T, step: T / 2, keep: keep)
        for (e, ty, tx) in picked {
            // gx + i gy in one complex FFT; A(k) = (Z(k) + Z*(-k)) / 2, B(k) = (Z(k) - Z*(-k)) / 2i.
            for y in 0..<T {
                for x in 0..<T {
                    let s = (ty + y) * W + tx + x, t = y * T + x
                    re[t] = Double(gx[s] * win[t]); im[t] = Double(gy[s] * win[t])
                }
            }
            fft.forward(&re, &im)
            let wgt = 1.0 / (e * Double(T * T))
            for ky in 0..<T {
                let my = (T - ky) & (T - 1)
                for kx in 0..<T {
                    let k = ky * T + kx, m = my * T + ((T - kx) & (T - 1))
                    let ar = 0.5 * (re[k] + re[m]), ai = 0.5 * (im[k] - im[m])
                    let br = 0.5 * (im[k] + im[m]), bi = -0.5 * (re[k] - re[m])
                    pxx[k] += (ar * ar + ai * ai) * wgt
                    pyy[k] += (br * br + bi * bi) * wgt
                    pc[k] += 2 * (ar * br + ai * bi) * wgt
                }
            }
        }
        if picked.isEmpty {   // flat image
            return Estimate(extentPixels: 0, confidence: 0, suggestedScale: 1, angleDegrees: nil, depth: 0, lumScale: scale)
        }
        // The spectra are real and even, so their inverses are real: two per FFT.
        // numpy's S.mean() is over the rfft2 half spectrum: columns 0...T/2.
        var meanS = 0.0
        for ky in 0..<T { for kx in 0...(T / 2) { meanS += pxx[ky * T + kx] + pyy[ky * T + kx] } }
        meanS /= Double(T * (T / 2 + 1))
        var r1 = pxx, i1 = pyy
        fft.inverse(&r1, &i1)        // Rxx, Ryy
        var r2 = pc, i2 = [Double](repeating: 0, count: n2)
        for k in 0..<n2 { i2[k] = log(pxx[k] + pyy[k] + 1e-2 * meanS) }
        fft.inverse(&r2, &i2)        // Rc, cepstrum C

        let na = 60
        let nr = Int((min(rMax, Double(T) / 2 - 4) / 0.5).rounded(.up))
        let radii = (0..<nr).map { Double($0) * 0.5 }
        var ac = [Double](repeating: 0, count: na * nr), ce = ac
        for a in 0..<na {
            let th = Double(a * 3) * (Double.pi / 180)
            let c = cos(th), s = sin(th)
            for j in 0..<nr {
                let X = radii[j] * c, Y = radii[j] * s
                let rxx = bilinear(r1, T, X, Y), ryy = bilinear(i1, T, X, Y), rc = bilinear(r2, T, X, Y)
                ac[a * nr + j] = c * c * rxx + s * s * ryy + c * s * rc
                ce[a * nr + j] = bilinear(i2, T, X, Y)
            }
        }
        for a in 0..<na {
            let a0 = ac[a * nr], c0 = abs(ce[a * nr])
            for j in 0..<nr { ac[a * nr + j] /= a0; ce[a * nr + j] /= c0 }
        }
        var sumA = 0.0, sumC = 0.0, count = 0
        for a in 0..<na {
            for j in 0..<nr where radii[j] >= rMin {
                sumA += ac[a * nr + j] * ac[a * nr + j]; sumC += ce[a * nr + j] * ce[a * nr + j]; count += 1
            }
        }
        let rmsA = (sumA / Double(count)).squareRoot(), rmsC = (sumC / Double(count)).squareRoot()
        var z = [Double](repeating: 0, count: na * nr)
        for k in 0..<(na * nr) { z[k] = ac[k] / rmsA + wCepstrum * ce[k] / rmsC }

        let mins = localMinima(z, angles: na, radii: radii, rMin: rMin, k: 2)
        guard let first = mins.first else {
            return Estimate(extentPixels: round1(rMin * scale), confidence: 0, suggestedScale: 1,
                            angleDegrees: nil, depth: 0, lumScale: scale)
        }
        let v1 = first.value
        let v2 = mins.count > 1 ? mins[1].value : 0
        let conf = v1 < 0 ? 1 - v2 / v1 : 0
        let extent = round1(radii[first.ir] * scale)
        let confidence = (min(max(conf, 0), 1) * 1000).rounded() / 1000
        return Estimate(extentPixels: extent, confidence: confidence,
                        suggestedScale: suggestScale(extentPixels: extent, confidence: confidence),
                        angleDegrees: Double(first.ia * 3), depth: v1, lumScale: scale)
    }

    /// `_gradients`: forward differences (0 on the last column / row) and
    /// their energy gx^2 + gy^2, what both estimators pick their tiles by.
    static func gradients(_ lum: [Float], width W: Int, height H: Int) -> (gx: [Float], gy: [Float], energy: [Float]) {
        var gx = [Float](repeating: 0, count: W * H)
        var gy = [Float](repeating: 0, count: W * H)
        var energy = [Float](repeating: 0, count: W * H)
        for y in 0..<H {
            for x in 0..<W {
                let i = y * W + x
                let dx: Float = x + 1 < W ? lum[i + 1] - lum[i] : 0
                let dy: Float = y + 1 < H ? lum[i + W] - lum[i] : 0
                gx[i] = dx; gy[i] = dy
                energy[i] = dx * dx + dy * dy
            }
        }
        return (gx, gy, energy)
    }

    private static func round1(_ v: Double) -> Double { (v * 10).rounded() / 10 }

    /// `_pad_to`: reflect-pad (numpy "reflect", at the bottom and right) to at least T x T.
    static func padTo(_ a: [Float], width: Int, height: Int, _ T: Int) -> ([Float], Int, Int) {
        if width >= T && height >= T { return (a, width, height) }
        let W = max(width, T), H = max(height, T)
        return (Reflection.pad(a, planes: 1, width: width, height: height, toWidth: W, height: H), W, H)
    }

    /// `_tiles`: (mean energy, y, x) of the T x T tiles at `step` whose mean
    /// energy is in the top `keep` share (numpy's linear quantile) and positive.
    static func tiles(_ energy: [Float], width W: Int, height H: Int, T: Int, step: Int, keep: Double) -> [(Double, Int, Int)] {
        var c = [Double](repeating: 0, count: (W + 1) * (H + 1))
        for y in 0..<H {   // cumulative sums down the columns, then along the rows
            for x in 0..<W { c[(y + 1) * (W + 1) + x + 1] = c[y * (W + 1) + x + 1] + Double(energy[y * W + x]) }
        }
        for y in 1...H {
            for x in 1...W { c[y * (W + 1) + x] += c[y * (W + 1) + x - 1] }
        }
        @inline(__always) func at(_ y: Int, _ x: Int) -> Double { c[y * (W + 1) + x] }
        var out: [(Double, Int, Int)] = []
        for y in stride(from: 0, to: max(1, H - T + 1), by: step) {
            for x in stride(from: 0, to: max(1, W - T + 1), by: step) {
                let y1 = min(y + T, H), x1 = min(x + T, W)
                let e = (at(y1, x1) - at(y, x1) - at(y1, x) + at(y, x)) / Double((y1 - y) * (x1 - x))
                out.append((e, y, x))
            }
        }
        let sorted = out.map(\.0).sorted()
        let virtual = Double(sorted.count - 1) * (1.0 - keep)
        let lo = Int(virtual.rounded(.down))
        let hi = min(lo + 1, sorted.count - 1)
        let gamma = virtual - Double(lo)
        let (a, b) = (sorted[lo], sorted[hi])
        let diff = b - a
        let thr = gamma >= 0.5 ? b - diff * (1 - gamma) : a + diff * gamma
        return out.filter { $0.0 >= thr && $0.0 > 0 }
    }

    /// `_bilinear`: a circular (FFT) map sampled at a fractional lag (x right, y down).
    @inline(__always)
    static func bilinear(_ R: [Double], _ T: Int, _ xs: Double, _ ys: Double) -> Double {
        let fx0 = xs.rounded(.down), fy0 = ys.rounded(.down)
        let fx = xs - fx0, fy = ys - fy0
        let x0 = Int(fx0), y0 = Int(fy0)
        @inline(__always) func g(_ y: Int, _ x: Int) -> Double {
            let yy = ((y % T) + T) % T, xx = ((x % T) + T) % T
            return R[yy * T + xx]
        }
        return g(y0, x0) * (1 - fx) * (1 - fy) + g(y0, x0 + 1) * fx * (1 - fy)
            + g(y0 + 1, x0) * (1 - fx) * fy + g(y0 + 1, x0 + 1) * fx * fy
    }

    struct Minimum: Equatable { var value: Double; var ia: Int; var ir: Int }

    /// `_local_minima`: interior local minima of the polar map M[angle, radius]
    /// (7 x 9 minimum filter, angles wrapped, "nearest" at the radius ends),
    /// radius >= rMin and not among the last 4; the best k, one per place (a
    /// lag and its opposite, or lags within max(3 px, 25 %), are one dip).
    static func localMinima(_ M: [Double], angles na: Int, radii: [Double], rMin: Double, k: Int) -> [Minimum] {
        let nr = radii.count
        var cands: [Minimum] = []
        for a in 0..<na {
            for j in 0..<nr {
                if radii[j] < rMin || j >= nr - 4 { continue }
                let v = M[a * nr + j]
                var isMin = true
                search: for da in -3...3 {
                    let row = ((a + da) % na + na) % na
                    for dj in -4...4 {
                        let jj = min(max(j + dj, 0), nr - 1)
                        if M[row * nr + jj] < v { isMin = false; break search }
                    }
                }
                if isMin { cands.append(Minimum(value: v, ia: a, ir: j)) }
            }
        }
        // Stable by value (numpy's argsort would order exact ties arbitrarily).
        let order = cands.indices.sorted { (cands[$0].value, $0) < (cands[$1].value, $1) }
        var picked: [Minimum] = []
        for i in order {
            let m = cands[i]
            let th = Double.pi * Double(m.ia) / Double(na)
            let px = radii[m.ir] * cos(th), py = radii[m.ir] * sin(th)
            var same = false
            for q in picked {
                let tq = Double.pi * Double(q.ia) / Double(na)
                let qx = radii[q.ir] * cos(tq), qy = radii[q.ir] * sin(tq)
                let d = min(hypot(px - qx, py - qy), hypot(px + qx, py + qy))
                if d <= max(3.0, 0.25 * radii[q.ir]) { same = true; break }
            }
            if !same { picked.append(m) }
            if picked.count == k { break }
        }
        return picked
    }
}

/// A radix-2 complex 2D FFT of an n x n array (n a power of two), split
/// real and imaginary parts; rows, then columns.
struct FFT2D {
    let n: Int
    private let log2n: Int
    private let cosT: [Double], sinT: [Double]
    private let bitReverse: [Int]

    init(n: Int) {
        precondition(n >= 2 && n & (n - 1) == 0, "FFT size must be a power of two")
        self.n = n
        log2n = n.trailingZeroBitCount
        cosT = (0..<(n / 2)).map { cos(2 * Double.pi * Double($0) / Double(n)) }
        sinT = (0..<(n / 2)).map { sin(2 * Double.pi * Double($0) / Double(n)) }
        var br = [Int](repeating: 0, count: n)
        for i in 0..<n {
            var r = 0, v = i
            for _ in 0..<n.trailingZeroBitCount { r = (r << 1) | (v & 1); v >>= 1 }
            br[i] = r
        }
        bitReverse = br
    }

    /// In place, e^{-2 pi i k x / n} (numpy's forward sign), unscaled.
    func forward(_ re: inout [Double], _ im: inout [Double]) { transform2D(&re, &im, sign: -1) }

    /// In place, e^{+2 pi i k x / n}, scaled by 1 / n^2 (numpy's ifft2).
    func inverse(_ re: inout [Double], _ im: inout [Double]) {
        transform2D(&re, &im, sign: 1)
        let s = 1.0 / Double(n * n)
        for i in 0..<(n * n) { re[i] *= s; im[i] *= s }
    }

    private func transform2D(_ re: inout [Double], _ im: inout [Double], sign: Double) {
        precondition(re.count == n * n && im.count == n * n)
        var cr = [Double](repeating: 0, count: n), ci = cr
        re.withUnsafeMutableBufferPointer { r in
            im.withUnsafeMutableBufferPointer { i in
                cr.withUnsafeMutableBufferPointer { tr in
                    ci.withUnsafeMutableBufferPointer { ti in
                        for row in 0..<n {
                            transform1D(r.baseAddress! + row * n, i.baseAddress! + row * n, sign: sign)
                        }
                        for col in 0..<n {
                            for k in 0..<n { tr[k] = r[k * n + col]; ti[k] = i[k * n + col] }
                            transform1D(tr.baseAddress!, ti.baseAddress!, sign: sign)
                            for k in 0..<n { r[k * n + col] = tr[k]; i[k * n + col] = ti[k] }
                        }
                    }
                }
            }
        }
    }

    private func transform1D(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, sign: Double) {
        bitReverse.withUnsafeBufferPointer { br in
            for i in 0..<n {
                let j = br[i]
                if j > i { swap(&re[i], &re[j]); swap(&im[i], &im[j]) }
            }
        }
        cosT.withUnsafeBufferPointer { ct in
            sinT.withUnsafeBufferPointer { st in
                var size = 2
                while size <= n {
                    let half = size / 2, step = n / size
                    var start = 0
                    while start < n {
                        for k in 0..<half {
                            let wr = ct[k * step], wi = sign * st[k * step]
                            let a = start + k, b = a + half
                            let tr = re[b] * wr - im[b] * wi
                            let ti = re[b] * wi + im[b] * wr
                            re[b] = re[a] - tr; im[b] = im[a] - ti
                            re[a] += tr; im[a] += ti
                        }
                        start += size
                    }
                    size *= 2
                }
            }
        }
    }
}
