/// Deblurring at a coarser scale (issue 18): the same hand shake is 3 to 5
/// times longer in pixels on a 24 MP sensor than in the 1280x720 frames the
/// network learned from, and a fixed receptive field cannot undo it. The photo
/// is averaged down by an integer factor, deblurred there, and the network's
/// correction (output minus input, at the small size) is upsampled and added
/// to the full-size photo, which keeps its own fine detail and noise.
///
/// Planar RGB, `width * height` per plane, as `PlanarRGB` makes it.
enum ScaleCorrection {
    /// Box average of `factor` x `factor` blocks; edge blocks average what they have.
    static func downscale(_ planar: [Float], width: Int, height: Int, factor: Int) -> (width: Int, height: Int, data: [Float]) {
        precondition(factor >= 1 && planar.count == 3 * width * height)
        if factor == 1 { return (width, height, planar) }
        let w = (width + factor - 1) / factor, h = (height + factor - 1) / factor
        var out = [Float](repeating: 0, count: 3 * w * h)
        planar.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var rowSum = [Float](repeating: 0, count: w)
                for c in 0..<3 {
                    for y in 0..<h {
                        let y0 = y * factor, y1 = min(height, y0 + factor)
                        for i in 0..<w { rowSum[i] = 0 }
                        for yy in y0..<y1 {
                            let row = c * width * height + yy * width
                            for x in 0..<width { rowSum[x / factor] += src[row + x] }
                        }
                        for x in 0..<w {
                            let cols = min(width, (x + 1) * factor) - x * factor
                            dst[c * w * h + y * w + x] = rowSum[x] / Float(cols * (y1 - y0))
                        }
                    }
                }
            }
        }
        return (w, h, out)
    }

    /// Catmull-Rom weights and clamped source indices for each output position:
    /// output i samples the input at (i + 0.5) / factor - 0.5 (pixel centres align).
    private static func taps(outputCount: Int, inputCount: Int, factor: Int) -> (index: [Int], weight: [Float]) {
        var index = [Int](repeating: 0, count: 4 * outputCount)
        var weight = [Float](repeating: 0, count: 4 * outputCount)
        for i in 0..<outputCount {
            let x = (Double(i) + 0.5) / Double(factor) - 0.5
            let base = Int(x.rounded(.down))
            let t = x - Double(base)
            // Keys' cubic, a = -0.5
            let w0 = ((-0.5 * t + 1.0) * t - 0.5) * t
            let w1 = (1.5 * t - 2.5) * t * t + 1
            let w2 = ((-1.5 * t + 2.0) * t + 0.5) * t
            let w3 = (0.5 * t - 0.5) * t * t
            for (k, w) in [w0, w1, w2, w3].enumerated() {
                index[4 * i + k] = min(max(base - 1 + k, 0), inputCount - 1)
                weight[4 * i + k] = Float(w)
            }
        }
        return (index, weight)
    }

    /// Adds the bicubic upsampling of (after - before), both `smallWidth x
    /// smallHeight`, to `planar` (`width x height`).
    static func addUpsampledCorrection(to planar: inout [Float], width: Int, height: Int,
                                       before: [Float], after: [Float], smallWidth: Int, smallHeight: Int, factor: Int) {
        let sw = smallWidth, sh = smallHeight
        precondition(before.count == 3 * sw * sh && after.count == before.count && planar.count == 3 * width * height)
        var correction = [Float](repeating: 0, count: before.count)
        for i in 0..<correction.count { correction[i] = after[i] - before[i] }
        let (xi, xw) = taps(outputCount: width, inputCount: sw, factor: factor)
        let (yi, yw) = taps(outputCount: height, inputCount: sh, factor: factor)
        var column = [Float](repeating: 0, count: sw)
        correction.withUnsafeBufferPointer { cor in
            planar.withUnsafeMutableBufferPointer { dst in
                for c in 0..<3 {
                    let plane = c * sw * sh
                    for y in 0..<height {
                        // Vertical pass into one small-width row, then horizontal into the full row.
                        let r0 = plane + yi[4 * y] * sw, r1 = plane + yi[4 * y + 1] * sw
                        let r2 = plane + yi[4 * y + 2] * sw, r3 = plane + yi[4 * y + 3] * sw
                        let (a, b, cc, d) = (yw[4 * y], yw[4 * y + 1], yw[4 * y + 2], yw[4 * y + 3])
                        for x in 0..<sw {
                            column[x] = a * cor[r0 + x] + b * cor[r1 + x] + cc * cor[r2 + x] + d * cor[r3 + x]
                        }
                        let row = c * width * height + y * width
                        for x in 0..<width {
                            let k = 4 * x
                            dst[row + x] += xw[k] * column[xi[k]] + xw[k + 1] * column[xi[k + 1]]
                                + xw[k + 2] * column[xi[k + 2]] + xw[k + 3] * column[xi[k + 3]]
                        }
                    }
                }
            }
        }
    }
}

/// Cheap measures of a tile, to decide whether the network is worth running on it.
enum TileStatistics {
    /// Mean of |dx| + |dy| of the luminance (0.299 R + 0.587 G + 0.114 B), in
    /// the samples' units (0...255 for photos). Sky and plain walls measure
    /// about the noise level (1-3); textured or edged regions far more.
    static func meanGradient(_ planar: [Float], width: Int, height: Int) -> Float {
        guard width > 1, height > 1 else { return 0 }
        let plane = width * height
        var sum: Float = 0
        planar.withUnsafeBufferPointer { p in
            var above = [Float](repeating: 0, count: width)
            for y in 0..<height {
                var left: Float = 0
                for x in 0..<width {
                    let i = y * width + x
                    let l = 0.299 * p[i] + 0.587 * p[plane + i] + 0.114 * p[2 * plane + i]
                    if x > 0 { sum += abs(l - left) }
                    if y > 0 { sum += abs(l - above[x]) }
                    left = l
                    above[x] = l
                }
            }
        }
        return sum / Float(width * height)
    }
}
