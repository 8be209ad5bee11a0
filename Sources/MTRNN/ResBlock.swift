/// x + conv3x3(LReLU(conv3x3(x))), keys `stem.0.*` and `stem.2.*`. The second
/// convolution writes into x's own buffer with a sum post-op, so the residual
/// add costs no extra pass and no copy.
///
/// The two convolutions run as Winograd F(4,3) (`WinogradConvolution`) where
/// it applies (f32, nChw8c or nChw16c, AVX2 + FMA or AVX-512F) unless `MTRNN_CONV3X3=direct` (or
/// `f63`, `f23`: Winograd F(6,3), F(2,3)), and as
/// oneDNN direct convolutions otherwise; only the ones that run are made (the
/// oneDNN primitives and their reordered weights cost memory in every worker).
final class ResBlock {
    let name: String
    /// The oneDNN convolutions, when the direct algorithm runs; empty otherwise.
    let directConvolutions: [Convolution]
    private let winograd: (conv0: WinogradConvolution, conv2: WinogradConvolution, scratch: WinogradConvolution.Scratch)?

    /// - algorithm: nil reads `MTRNN_CONV3X3` (default: `Conv3x3Algorithm.standard`).
    init(engine: Engine, name: String, channels: Int, size: (h: Int, w: Int), weights: MTRNNWeights,
         dataType: DataType, layout: Layout, algorithm requested: Conv3x3Algorithm? = nil) throws {
        self.name = name
        let wanted = try requested ?? Conv3x3Algorithm.configured()
        let gemm = try WinogradGEMMPrecision.configured()
        let int8 = try Int8Simulation.configured()
        if let tile = wanted.winogradTile,
           WinogradConvolution.applies(channels: channels, dataType: dataType, layout: layout) {
            func make(_ i: Int, _ post: Convolution.PostOp) -> WinogradConvolution {
                WinogradConvolution(name: "\(name).stem.\(i)", channels: channels, size: size,
                                    weights: weights.values("\(name).stem.\(i).weight"),
                                    bias: weights.values("\(name).stem.\(i).bias"), postOp: post, outputTile: tile,
                                    block: layout == .blocked(16) ? 16 : 8, gemm: gemm, int8: int8)
            }
            winograd = (make(0, .leakyReLU), make(2, .sum), WinogradConvolution.Scratch())
            directConvolutions = []
        } else {
            let shape = Convolution.Shape(cin: channels, cout: channels, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1))
            func make(_ i: Int, _ post: Convolution.PostOp) throws -> Convolution {
                try Convolution(engine: engine, name: "\(name).stem.\(i)", shape: shape, input: size,
                                weights: weights.values("\(name).stem.\(i).weight"),
                                bias: weights.values("\(name).stem.\(i).bias"), postOp: post, srcType: dataType,
                                srcLayout: layout, dstType: dataType, dstLayout: layout, weightsType: dataType)
            }
            winograd = nil
            directConvolutions = [try make(0, .leakyReLU), try make(2, .sum)]
        }
    }

    /// The algorithm that runs (direct when Winograd does not apply here).
    var algorithm: Conv3x3Algorithm {
        guard let winograd else { return .direct }
        return Conv3x3Algorithm(winogradTile: winograd.conv0.outputTile) ?? .winograd
    }

    /// (layer, kernel) for each of the two convolutions, for the benchmark's report.
    var implementations: [(String, String)] {
        if let winograd {
            let m = winograd.conv0.outputTile, kernel = WinogradConvolution.kernelDescription(block: winograd.conv0.block)
            let gemm = (winograd.conv0.bf16GEMM ? ", GEMM inputs rounded to bf16" : "")
                + (winograd.conv0.int8 ? ", inputs and weights rounded to int8" : "")
            return ["\(name).stem.0", "\(name).stem.2"].map { ($0, "winograd F(\(m),3) \(kernel)\(gemm) (CWinograd)") }
        }
        return directConvolutions.map { ($0.name, $0.implementation) }
    }

    /// x <- x + stem(x), using `scratch` (same shape) for the middle activation.
    func execute(_ x: Tensor, scratch: Tensor) throws {
        if let winograd {
            winograd.conv0.execute(src: x, dst: scratch, scratch: winograd.scratch)
            winograd.conv2.execute(src: scratch, dst: x, scratch: winograd.scratch)
            return
        }
        try directConvolutions[0].execute(src: x, dst: scratch)
        try directConvolutions[1].execute(src: scratch, dst: x)
    }
}
