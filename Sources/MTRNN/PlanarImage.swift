/// An RGB image as three row-major planes (R, G, B), values on the 0..255 scale.
public struct PlanarImage: Sendable {
    public var width: Int
    public var height: Int
    /// 3 * width * height values: the R plane, then G, then B.
    public var data: [Float]

    public init(width: Int, height: Int, data: [Float]) {
        self.width = width
        self.height = height
        self.data = data
    }

    /// The image reflect-padded at the bottom and right to the given size
    /// (PyTorch's "reflect": the edge pixel is not repeated; folded again for
    /// pads longer than the image).
    func reflectPadded(toWidth pw: Int, height ph: Int) -> PlanarImage {
        if pw == width && ph == height { return self }
        return PlanarImage(width: pw, height: ph,
                           data: Reflection.pad(data, planes: 3, width: width, height: height, toWidth: pw, height: ph))
    }

    /// The top-left width x height part.
    func cropped(toWidth cw: Int, height ch: Int) -> PlanarImage {
        if cw == width && ch == height { return self }
        var out = [Float](repeating: 0, count: 3 * cw * ch)
        for c in 0..<3 {
            for y in 0..<ch {
                let src = (c * height + y) * width, dst = (c * ch + y) * cw
                for x in 0..<cw { out[dst + x] = data[src + x] }
            }
        }
        return PlanarImage(width: cw, height: ch, data: out)
    }
}

/// Reflection at the edges, as numpy's and PyTorch's "reflect" (the edge
/// sample is not repeated): the network's padding, the tiles that reach past
/// a photo's edge, the blur estimate's padding. The one copy of it.
public enum Reflection {
    /// Mirrors an index into 0..<length, periodically, so any padding width
    /// (and any negative index) works.
    @inlinable
    public static func index(_ i: Int, _ length: Int) -> Int {
        if i >= 0 && i < length { return i }
        if length == 1 { return 0 }
        let period = 2 * (length - 1)
        var m = i % period
        if m < 0 { m += period }
        return m < length ? m : period - m
    }

    /// `planes` row-major planes of width x height, padded at the bottom and
    /// right to pw x ph (each at least the original size).
    public static func pad(_ data: [Float], planes: Int, width: Int, height: Int, toWidth pw: Int, height ph: Int) -> [Float] {
        var out = [Float](repeating: 0, count: planes * pw * ph)
        let cols = (0..<pw).map { index($0, width) }
        for c in 0..<planes {
            for y in 0..<ph {
                let src = (c * height + index(y, height)) * width, dst = (c * ph + y) * pw
                for x in 0..<pw { out[dst + x] = data[src + cols[x]] }
            }
        }
        return out
    }
}
