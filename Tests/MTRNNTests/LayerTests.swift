import Testing
@testable import MTRNN

/// Each building block against a float64 PyTorch reference (layers.safetensors).
@Suite struct LayerTests {
    let engine = try! Engine()

    func values(_ name: String) -> [Float] { Fixtures.layers.tensors[name]!.values }
    func shape(_ name: String) -> [Int] { Fixtures.layers.tensors[name]!.shape }

    func layout(_ h: Int, _ w: Int) throws -> Layout {
        try IterationPlan.preferredLayout(engine: engine, dataType: .f32, size: (h, w))
    }

    func tensor(_ name: String, layout: Layout) throws -> Tensor {
        let s = shape(name)
        let t = try Tensor(engine: engine, channels: s[1], height: s[2], width: s[3], dataType: .f32, layout: layout, name: name)
        t.fill(fromNCHW: values(name))
        return t
    }

    func empty(_ c: Int, _ h: Int, _ w: Int, layout: Layout) throws -> Tensor {
        try Tensor(engine: engine, channels: c, height: h, width: w, dataType: .f32, layout: layout, name: "out")
    }

    func check(_ label: String, _ got: Tensor, _ want: String, tolerance: Double = 1e-5) {
        let e = ErrorStats(got.toNCHW(), values(want))
        print("\(label): \(e)")
        #expect(e.relativeL2 <= tolerance, "\(label): \(e)")
    }

    func conv3(_ p: String, stride: Int) throws {
        let x = shape("\(p)_x"), w = shape("\(p)_w")
        let lay = try layout(x[2], x[3])
        let conv = try Convolution(engine: engine, name: p,
                                   shape: .init(cin: w[1], cout: w[0], kernel: (3, 3), stride: stride, padLow: (1, 1), padHigh: (1, 1)),
                                   input: (x[2], x[3]), weights: values("\(p)_w"), bias: values("\(p)_b"), postOp: .leakyReLU,
                                   srcType: .f32, srcLayout: lay, dstType: .f32, dstLayout: lay, weightsType: .f32)
        let out = try empty(w[0], conv.outputSize.h, conv.outputSize.w, layout: lay)
        try conv.execute(src: try tensor("\(p)_x", layout: lay), dst: out)
        try engine.wait()
        check("\(p) (\(lay))", out, "\(p)_y")
    }

    @Test func convolution3x3WithLeakyReLU() throws { try conv3("conv3", stride: 1) }

    @Test func stridedConvolution() throws { try conv3("conv3s2", stride: 2) }

    @Test func resBlockAddsInPlace() throws {
        let s = shape("res_x")
        let lay = try layout(s[2], s[3])
        let names = ["blk.stem.0.weight": "res_w0", "blk.stem.0.bias": "res_b0", "blk.stem.2.weight": "res_w2", "blk.stem.2.bias": "res_b2"]
        // ResBlock reads its weights by name from an MTRNNWeights: reuse the fixture file and swap in these.
        var t = Fixtures.weights.tensors
        for (k, v) in names { t[k] = .init(shape: shape(v), values: values(v)) }
        let weights = WeightsView(t)
        let block = try ResBlock(engine: engine, name: "blk", channels: s[1], size: (s[2], s[3]), weights: weights.weights,
                                 dataType: .f32, layout: lay)
        let x = try tensor("res_x", layout: lay)
        try block.execute(x, scratch: try empty(s[1], s[2], s[3], layout: lay))
        try engine.wait()
        check("ResBlock", x, "res_y")
    }

    @Test func splitOneByOneOnConcat() throws {
        let s = shape("cat1x1_a")
        let lay = try layout(s[2], s[3])
        let conv = try SplitConcatConvolution(engine: engine, name: "cat1x1", channels: s[1], size: (s[2], s[3]),
                                              weights: values("cat1x1_w"), bias: values("cat1x1_bias"), dataType: .f32, layout: lay)
        let out = try empty(s[1], s[2], s[3], layout: lay)
        try conv.execute(a: try tensor("cat1x1_a", layout: lay), b: try tensor("cat1x1_b", layout: lay), into: out)
        try engine.wait()
        check("1x1 on concat (split)", out, "cat1x1_y")
    }

    @Test func transposedConvolutionAs2x2AndShuffle() throws {
        let x = shape("deconv_x"), w = shape("deconv_w")
        let lay = try layout(x[2], x[3])
        let up = try TransposedConvolution(engine: engine, name: "deconv", cin: w[0], cout: w[1], input: (x[2], x[3]),
                                           weights: values("deconv_w"), bias: values("deconv_b"), leakyReLU: true,
                                           dataType: .f32, layout: lay)
        let out = try empty(w[1], 2 * x[2], 2 * x[3], layout: lay)
        try up.execute(src: try tensor("deconv_x", layout: lay), dst: out)
        try engine.wait()
        check("ConvTranspose2d k4 s2 p1 as 2x2 + shuffle", out, "deconv_y")
    }

    @Test func layoutOverrideIsReadOrRefused() throws {
        func pick(_ v: String?) throws -> Layout {
            try IterationPlan.preferredLayout(engine: engine, dataType: .f32, size: (16, 16),
                                              environment: v.map { ["MTRNN_LAYOUT": $0] } ?? [:])
        }
        #expect(try pick("nhwc") == .nhwc)
        #expect(try pick("nchw") == .nchw)
        #expect(try pick("nChw8c") == .blocked(8))
        #expect(try pick("nChw16c") == .blocked(16))
        #expect(try pick("") == pick(nil))
        #expect(throws: MTRNNError.self) { try pick("NHWC") }
    }

    @Test func pixelShuffleInEveryLayout() throws {
        // The shuffle has one path per layout; the plain ones must agree with the blocked one.
        let (c, h, w) = (16, 3, 5)
        var z = [Float](repeating: 0, count: 4 * c * (h + 1) * (w + 1))
        for i in z.indices { z[i] = Float(i % 997) }
        var results: [[Float]] = []
        for lay in [Layout.nchw, .nhwc, .blocked(8)] {
            let zt = try empty(4 * c, h + 1, w + 1, layout: lay)
            zt.fill(fromNCHW: z)
            let out = try empty(c, 2 * h, 2 * w, layout: lay)
            TransposedConvolution.pixelShuffle(zt, into: out, cout: c)
            results.append(out.toNCHW())
        }
        #expect(results[0] == results[1])
        #expect(results[0] == results[2])
        // dst[c, 2i+a, 2j+b] = z[(2a+b)c' + c, i+a, j+b], spot-checked.
        let (cc, i, j, a, b) = (5, 1, 2, 1, 0)
        let want = z[(((2 * a + b) * c + cc) * (h + 1) + i + a) * (w + 1) + j + b]
        #expect(results[0][(cc * 2 * h + 2 * i + a) * 2 * w + 2 * j + b] == want)
    }
}

/// MTRNNWeights validates names; this wraps a full set with a few extra
/// tensors for the ResBlock test without the strict check.
struct WeightsView {
    let weights: MTRNNWeights
    init(_ tensors: [String: MTRNNWeights.Tensor]) {
        weights = MTRNNWeights(unchecked: tensors)
    }
}
