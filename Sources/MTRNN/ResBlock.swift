/// x + conv3x3(LReLU(conv3x3(x))), keys `stem.0.*` and `stem.2.*`. The second
/// convolution writes into x's own buffer with a sum post-op, so the residual
/// add costs no extra pass and no copy.
final class ResBlock {
    let name: String
    let conv0: Convolution
    let conv2: Convolution

    init(engine: Engine, name: String, channels: Int, size: (h: Int, w: Int), weights: MTRNNWeights,
         dataType: DataType, layout: Layout) throws {
        self.name = name
        let shape = Convolution.Shape(cin: channels, cout: channels, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1))
        conv0 = try Convolution(engine: engine, name: "\(name).stem.0", shape: shape, input: size,
                                weights: weights.values("\(name).stem.0.weight"), bias: weights.values("\(name).stem.0.bias"),
                                postOp: .leakyReLU, srcType: dataType, srcLayout: layout, dstType: dataType,
                                dstLayout: layout, weightsType: dataType)
        conv2 = try Convolution(engine: engine, name: "\(name).stem.2", shape: shape, input: size,
                                weights: weights.values("\(name).stem.2.weight"), bias: weights.values("\(name).stem.2.bias"),
                                postOp: .sum, srcType: dataType, srcLayout: layout, dstType: dataType,
                                dstLayout: layout, weightsType: dataType)
    }

    /// x <- x + stem(x), using `scratch` (same shape) for the middle activation.
    func execute(_ x: Tensor, scratch: Tensor) throws {
        try conv0.execute(src: x, dst: scratch)
        try conv2.execute(src: scratch, dst: x)
    }
}
