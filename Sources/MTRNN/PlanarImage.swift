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
        func fold(_ i: Int, _ n: Int) -> Int {
            if n == 1 { return 0 }
            let period = 2 * (n - 1)
            let m = i % period
            return m < n ? m : period - m
        }
        var out = [Float](repeating: 0, count: 3 * pw * ph)
        let cols = (0..<pw).map { fold($0, width) }
        for c in 0..<3 {
            for y in 0..<ph {
                let sy = fold(y, height)
                let src = (c * height + sy) * width, dst = (c * ph + y) * pw
                for x in 0..<pw { out[dst + x] = data[src + cols[x]] }
            }
        }
        return PlanarImage(width: pw, height: ph, data: out)
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
