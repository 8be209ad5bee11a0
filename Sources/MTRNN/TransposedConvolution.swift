#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// ConvTranspose2d k4 s2 p1 (PyTorch weights [cin, cout, 4, 4]) computed
/// exactly as a 2x2 convolution to 4 x cout channels followed by a pixel
/// shuffle, because oneDNN 2.6.3's own deconvolution is several times slower
/// than its convolutions.
///
/// Why it is exact: output row 2i+a (a = 0, 1) only sees input rows
/// i-1+a and i+a, through kernel rows 3-a and 1-a. A 2x2 convolution with
/// padding 1 on every side, evaluated at (H+1) x (W+1) positions, computes
/// at position r the pair of input rows r-1, r; so output (2i+a, 2j+b) is
/// channel group (a, b) of the 2x2 result at (i+a, j+b), with the 2x2 kernel
/// tap (dy, dx) of group (a, b) equal to the 4x4 tap (3-a-2dy, 3-b-2dx).
/// Bias and LeakyReLU commute with the shuffle, so they stay fused.
///
/// Where it applies (f32, nChw8c, AVX2 + FMA, LeakyReLU) the 2x2 convolution
/// runs as our Winograd F(3,2) with the shuffle fused (`WinogradUpconvolution`),
/// unless `MTRNN_UPCONV=direct`; only the path that runs is made.
final class TransposedConvolution {
    let name: String
    let cout: Int
    /// The oneDNN 2x2 convolution (nil on the Winograd path).
    let conv: Convolution?
    /// The 2x2 convolution's output, 4*cout x (H+1) x (W+1), groups (a, b) in
    /// order a*2+b (nil on the Winograd path, which writes dst directly).
    let grouped: Tensor?
    let winograd: WinogradUpconvolution?

    /// - algorithm: nil reads `MTRNN_UPCONV` (default: `UpconvAlgorithm.standard`).
    init(engine: Engine, name: String, cin: Int, cout: Int, input: (h: Int, w: Int),
         weights: [Float], bias: [Float], leakyReLU: Bool, dataType: DataType, layout: Layout,
         algorithm requested: UpconvAlgorithm? = nil) throws {
        self.name = name
        self.cout = cout
        if try (requested ?? UpconvAlgorithm.configured()) == .winograd,
           WinogradUpconvolution.applies(cin: cin, cout: cout, dataType: dataType, layout: layout, leakyReLU: leakyReLU) {
            winograd = WinogradUpconvolution(name: name, cin: cin, cout: cout, size: input, weights: weights, bias: bias,
                                             block: layout == .blocked(16) ? 16 : 8)
            conv = nil
            grouped = nil
            return
        }
        winograd = nil
        let shape = Convolution.Shape(cin: cin, cout: 4 * cout, kernel: (2, 2), padLow: (1, 1), padHigh: (1, 1))
        let conv = try Convolution(engine: engine, name: name, shape: shape, input: input,
                               weights: Self.weights2x2(weights, cin: cin, cout: cout),
                               bias: Array((0..<4).map { _ in bias }.joined()),
                               postOp: leakyReLU ? .leakyReLU : .none,
                               srcType: dataType, srcLayout: layout, dstType: dataType, dstLayout: layout,
                               weightsType: dataType)
        self.conv = conv
        grouped = try Tensor(engine: engine, md: conv.dstMD, name: "\(name) grouped output")
    }

    /// The algorithm that runs.
    var algorithm: UpconvAlgorithm { winograd == nil ? .direct : .winograd }

    /// (layer, kernel), for the benchmark's report.
    var implementation: (String, String) {
        if let winograd {
            return (name, "upconv winograd F(3,2)+shuffle \(WinogradConvolution.kernelDescription(block: winograd.block)) (CWinograd)")
        }
        return (name, conv!.implementation + " + shuffle")
    }

    /// [cin, cout, 4, 4] transposed-conv weights -> [4*cout, cin, 2, 2] conv weights.
    static func weights2x2(_ w: [Float], cin: Int, cout: Int) -> [Float] {
        precondition(w.count == cin * cout * 16)
        var out = [Float](repeating: 0, count: 4 * cout * cin * 4)
        for a in 0..<2 { for b in 0..<2 {
            let group = a * 2 + b
            for co in 0..<cout { for ci in 0..<cin { for dy in 0..<2 { for dx in 0..<2 {
                let ky = 3 - a - 2 * dy, kx = 3 - b - 2 * dx
                out[(((group * cout + co) * cin + ci) * 2 + dy) * 2 + dx] = w[((ci * cout + co) * 4 + ky) * 4 + kx]
            } } } }
        } }
        return out
    }

    /// dst: cout x 2H x 2W in the same layout and type as the input.
    func execute(src: Tensor, dst: Tensor) throws {
        if let winograd { return winograd.execute(src: src, dst: dst) }
        try conv!.execute(src: src, dst: grouped!)
        Self.pixelShuffle(grouped!, into: dst, cout: cout)
    }

    /// dst[c, 2i+a, 2j+b] = z[(a*2+b)*cout + c, i+a, j+b].
    static func pixelShuffle(_ z: Tensor, into dst: Tensor, cout: Int) {
        let h = dst.height / 2, w = dst.width / 2
        precondition(z.height == h + 1 && z.width == w + 1 && z.layout == dst.layout && z.dataType == dst.dataType)
        let es = z.dataType.size
        let zs = UnsafeRawPointer(z.buffer), ds = dst.buffer
        switch z.layout {
        case .blocked(let bs) where cout % bs == 0:
            let blocks = cout / bs, run = bs * es
            for a in 0..<2 { for b in 0..<2 {
                let group = a * 2 + b
                for cb in 0..<blocks {
                    let srcBlock = zs + (group * blocks + cb) * (h + 1) * (w + 1) * run
                    let dstBlock = ds + cb * dst.height * dst.width * run
                    for i in 0..<h {
                        var s = srcBlock + ((i + a) * (w + 1) + b) * run
                        var d = dstBlock + ((2 * i + a) * dst.width + b) * run
                        for _ in 0..<w {
                            d.copyMemory(from: s, byteCount: run)
                            s += run
                            d += 2 * run
                        }
                    }
                }
            } }
        case .nhwc:
            let run = cout * es, zc = 4 * cout * es
            for a in 0..<2 { for b in 0..<2 {
                let group = a * 2 + b
                for i in 0..<h {
                    var s = zs + ((i + a) * (w + 1) + b) * zc + group * run
                    var d = ds + ((2 * i + a) * dst.width + b) * run
                    for _ in 0..<w {
                        d.copyMemory(from: s, byteCount: run)
                        s += zc
                        d += 2 * run
                    }
                }
            } }
        default:
            for a in 0..<2 { for b in 0..<2 { for c in 0..<cout { for i in 0..<h { for j in 0..<w {
                let s = z.offset((a * 2 + b) * cout + c, i + a, j + b), d = dst.offset(c, 2 * i + a, 2 * j + b)
                (ds + d * es).copyMemory(from: zs + s * es, byteCount: es)
            } } } } }
        }
    }
}
