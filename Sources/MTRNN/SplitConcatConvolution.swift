/// A 1x1 convolution on cat(a, b) (2C -> C channels) without the concat:
/// W [a; b] = Wa a + Wb b. The first convolution computes Wb b + bias into
/// the destination, the second adds Wa a through a sum post-op.
final class SplitConcatConvolution {
    let name: String
    let first: Convolution   // Wb * b + bias
    let second: Convolution  // += Wa * a

    /// weights: [C, 2C, 1, 1]; input channels 0..<C multiply `a`, C..<2C multiply `b`.
    init(engine: Engine, name: String, channels c: Int, size: (h: Int, w: Int), weights: [Float], bias: [Float],
         dataType: DataType, layout: Layout) throws {
        self.name = name
        precondition(weights.count == c * 2 * c)
        var wa = [Float](), wb = [Float]()
        wa.reserveCapacity(c * c); wb.reserveCapacity(c * c)
        for o in 0..<c {
            wa += weights[(o * 2 * c)..<(o * 2 * c + c)]
            wb += weights[(o * 2 * c + c)..<(o * 2 * c + 2 * c)]
        }
        let shape = Convolution.Shape(cin: c, cout: c, kernel: (1, 1), padLow: (0, 0), padHigh: (0, 0))
        first = try Convolution(engine: engine, name: "\(name) (second half)", shape: shape, input: size, weights: wb, bias: bias,
                                postOp: .none, srcType: dataType, srcLayout: layout, dstType: dataType, dstLayout: layout,
                                weightsType: dataType)
        second = try Convolution(engine: engine, name: "\(name) (first half)", shape: shape, input: size, weights: wa, bias: nil,
                                 postOp: .sum, srcType: dataType, srcLayout: layout, dstType: dataType, dstLayout: layout,
                                 weightsType: dataType)
    }

    /// dst = W cat(a, b) + bias. `dst` must be neither a nor b; a and b may be the same tensor.
    func execute(a: Tensor, b: Tensor, into dst: Tensor) throws {
        precondition(dst !== a && dst !== b)
        try first.execute(src: b, dst: dst)
        try second.execute(src: a, dst: dst)
    }
}
