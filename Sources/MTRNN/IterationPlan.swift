import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Everything one MT-RNN iteration needs for one padded input size: every
/// layer's primitive (created once, reused for every iteration and every
/// tile of that size), the activation buffers, and the recurrent state F1/F2.
/// Reads like design.md's layer table; the official names label each layer.
///
/// Layout: every activation of 32, 64 or 128 channels has the single layout
/// oneDNN prefers for this CPU (probed once), so no layer needs a reorder.
/// Only the 6-channel input and the 3-channel output use whatever format
/// conv1_1 and img_prd ask for, and the engine reads and writes those itself.
final class IterationPlan {
    let height: Int, width: Int
    let layout: Layout
    let dataType: DataType
    private let engine: Engine

    // Layers, in the order they run.
    private let conv1_1: Convolution
    private let level1Encoder: [ResBlock]
    private let conv2_1: Convolution
    private let conv2_c: SplitConcatConvolution
    private let level2Encoder: [ResBlock]
    private let conv3_1: Convolution
    private let conv3_c: SplitConcatConvolution
    private let level3: [ResBlock]
    private let conv5_1: TransposedConvolution
    private let conv5_c: SplitConcatConvolution
    private let level2Decoder: [ResBlock]
    private let conv6_1: TransposedConvolution
    private let conv6_c: SplitConcatConvolution
    private let level1Decoder: [ResBlock]
    private let img_prd: Convolution

    // Activations. Full resolution: l1 (level-1 features), t1/u1 scratch.
    private let input6: Tensor        // cat(sub_mean(x_in), sub_mean(x_d))
    private let l1: Tensor, t1: Tensor, u1: Tensor
    private let l2: Tensor, t2: Tensor  // H/2
    private let t3: Tensor              // H/4
    private var f1: [Tensor]            // F1 double-buffered: previous and current
    private var f2: [Tensor]
    private let output3: Tensor         // img_prd(d1) + sub_mean(x_in), f32
    private var current = 0
    private let scratchpad: UnsafeMutableRawPointer

    // The mean shift, read from the file's 1x1 convs: y = M x + m.
    private let subMean: (w: [Float], b: [Float])
    private let addMean: (w: [Float], b: [Float])

    var profile: LayerProfile?

    init(engine: Engine, weights: MTRNNWeights, dataType: DataType, height: Int, width: Int) throws {
        precondition(height % 4 == 0 && width % 4 == 0)
        self.engine = engine
        self.height = height
        self.width = width
        self.dataType = dataType
        let (c1, c2, c3) = (Architecture.c1, Architecture.c2, Architecture.c3)
        let s1 = (h: height, w: width), s2 = (h: height / 2, w: width / 2), s3 = (h: height / 4, w: width / 4)

        let layout = try Self.preferredLayout(engine: engine, dataType: dataType, size: s1)
        self.layout = layout

        func w(_ name: String) -> [Float] { weights.values(name) }
        func conv(_ name: String, _ cin: Int, _ cout: Int, k: Int, stride: Int = 1, at size: (h: Int, w: Int),
                  _ post: Convolution.PostOp) throws -> Convolution {
            let p = (k - 1) / 2
            return try Convolution(engine: engine, name: name,
                                   shape: .init(cin: cin, cout: cout, kernel: (k, k), stride: stride, padLow: (p, p), padHigh: (p, p)),
                                   input: size, weights: w("\(name).0.weight"), bias: w("\(name).0.bias"), postOp: post,
                                   srcType: dataType, srcLayout: layout, dstType: dataType, dstLayout: layout, weightsType: dataType)
        }
        func res(_ names: [String], _ ch: Int, at size: (h: Int, w: Int)) throws -> [ResBlock] {
            try names.map { try ResBlock(engine: engine, name: $0, channels: ch, size: size, weights: weights,
                                         dataType: dataType, layout: layout) }
        }
        func split(_ name: String, _ ch: Int, at size: (h: Int, w: Int)) throws -> SplitConcatConvolution {
            try SplitConcatConvolution(engine: engine, name: name, channels: ch, size: size,
                                       weights: w("\(name).0.weight"), bias: w("\(name).0.bias"), dataType: dataType, layout: layout)
        }
        func tensor(_ ch: Int, _ size: (h: Int, w: Int), _ name: String) throws -> Tensor {
            try Tensor(engine: engine, channels: ch, height: size.h, width: size.w, dataType: dataType, layout: layout, name: name)
        }

        // Level 1: the 6-channel input takes whatever format conv1_1 wants.
        conv1_1 = try Convolution(engine: engine, name: "conv1_1",
                                  shape: .init(cin: 6, cout: c1, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1)),
                                  input: s1, weights: w("conv1_1.0.weight"), bias: w("conv1_1.0.bias"), postOp: .none,
                                  srcType: dataType, srcLayout: nil, dstType: dataType, dstLayout: layout, weightsType: dataType)
        level1Encoder = try res(Architecture.level1Encoder, c1, at: s1)
        // Level 2
        conv2_1 = try conv("conv2_1", c1, c2, k: 3, stride: 2, at: s1, .leakyReLU)
        conv2_c = try split("conv2_c", c2, at: s2)
        level2Encoder = try res(Architecture.level2Encoder, c2, at: s2)
        // Level 3 and the bottleneck (conv4_*)
        conv3_1 = try conv("conv3_1", c2, c3, k: 3, stride: 2, at: s2, .leakyReLU)
        conv3_c = try split("conv3_c", c3, at: s3)
        level3 = try res(Architecture.level3, c3, at: s3)
        // Decoder level 2
        conv5_1 = try TransposedConvolution(engine: engine, name: "conv5_1", cin: c3, cout: c2, input: s3,
                                            weights: w("conv5_1.0.weight"), bias: w("conv5_1.0.bias"), leakyReLU: true,
                                            dataType: dataType, layout: layout)
        conv5_c = try split("conv5_c", c2, at: s2)
        level2Decoder = try res(Architecture.level2Decoder, c2, at: s2)
        // Decoder level 1; img_prd writes f32 in any precision, into the format it prefers.
        conv6_1 = try TransposedConvolution(engine: engine, name: "conv6_1", cin: c2, cout: c1, input: s2,
                                            weights: w("conv6_1.0.weight"), bias: w("conv6_1.0.bias"), leakyReLU: true,
                                            dataType: dataType, layout: layout)
        conv6_c = try split("conv6_c", c1, at: s1)
        level1Decoder = try res(Architecture.level1Decoder, c1, at: s1)
        img_prd = try Convolution(engine: engine, name: "img_prd",
                                  shape: .init(cin: c1, cout: 3, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1)),
                                  input: s1, weights: w("img_prd.0.weight"), bias: w("img_prd.0.bias"), postOp: .sum,
                                  srcType: dataType, srcLayout: layout, dstType: .f32, dstLayout: nil, weightsType: dataType)

        input6 = try Tensor(engine: engine, md: conv1_1.srcMD, name: "input")
        output3 = try Tensor(engine: engine, md: img_prd.dstMD, name: "output")
        l1 = try tensor(c1, s1, "l1"); t1 = try tensor(c1, s1, "t1"); u1 = try tensor(c1, s1, "u1")
        l2 = try tensor(c2, s2, "l2"); t2 = try tensor(c2, s2, "t2")
        t3 = try tensor(c3, s3, "t3")
        f1 = [try tensor(c2, s2, "F1 a"), try tensor(c2, s2, "F1 b")]
        f2 = [try tensor(c3, s3, "F2 a"), try tensor(c3, s3, "F2 b")]

        // One scratchpad for all layers: they never run at the same time.
        let outsideBlocks = [conv1_1, conv2_1, conv3_1, img_prd] + [conv5_1, conv6_1].compactMap(\.conv)
            + [conv2_c, conv3_c, conv5_c, conv6_c].flatMap { [$0.first, $0.second] }
        let blocks = level1Encoder + level2Encoder + level3 + level2Decoder + level1Decoder
        let all = outsideBlocks + blocks.flatMap(\.directConvolutions)
        let bytes = all.map(\.scratchpadBytes).max() ?? 0
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(bytes, 64)) == 0, let raw else {
            throw MTRNNError.outOfMemory("allocating a \(bytes)-byte scratchpad")
        }
        scratchpad = raw
        for c in all { try c.useScratchpad(raw) }
        layers = all
        implementations = [conv1_1, conv2_1, conv3_1].map { ($0.name, $0.implementation) }
            + [conv5_1.implementation, conv6_1.implementation, (img_prd.name, img_prd.implementation)]
            + [conv2_c, conv3_c, conv5_c, conv6_c].flatMap { [$0.first, $0.second] }.map { ($0.name, $0.implementation) }
            + blocks.flatMap(\.implementations)

        subMean = (w("sub_mean.weight"), w("sub_mean.bias"))
        addMean = (w("add_mean.weight"), w("add_mean.bias"))
    }

    let layers: [Convolution]

    /// The activation layout oneDNN picks for a typical layer (32 -> 32, 3x3)
    /// when left free; every 32/64/128-channel tensor then uses it.
    static func preferredLayout(engine: Engine, dataType: DataType, size: (h: Int, w: Int),
                                environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Layout {
        // MTRNN_LAYOUT=nhwc|nchw|nChw8c|nChw16c overrides the choice: for measuring
        // (issue 6), and for testing on one CPU the layouts other CPUs pick (issue 14).
        switch environment["MTRNN_LAYOUT"] {
        case "nhwc": return .nhwc
        case "nchw": return .nchw
        case "nChw8c": return .blocked(8)
        case "nChw16c": return .blocked(16)
        case nil, "": break
        case let value?:
            throw MTRNNError.invalidInput("MTRNN_LAYOUT=\(value) is not a layout: set it to nhwc, nchw, nChw8c "
                + "or nChw16c, or unset it to let the engine choose for this CPU")
        }
        let c = Architecture.c1
        let probe = try Convolution(engine: engine, name: "layout probe",
                                    shape: .init(cin: c, cout: c, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1)),
                                    input: size, weights: [Float](repeating: 0, count: c * c * 9), bias: nil,
                                    postOp: .none, srcType: dataType, srcLayout: nil, dstType: dataType, dstLayout: nil,
                                    weightsType: dataType)
        return Layout(probe.dstMD) ?? .blocked(8)
    }

    deinit { free(scratchpad) }

    /// Which kernel runs each layer (for the benchmark's report).
    let implementations: [(String, String)]

    /// One recurrent iteration. `x` is the padded input and `xd` the previous
    /// estimate (x itself on the first pass); returns the new estimate.
    /// On the first pass each level's features are concatenated with
    /// themselves, as the authors do, instead of with F1/F2.
    func iterate(x: PlanarImage, xd: PlanarImage, first: Bool) throws -> PlanarImage {
        precondition(x.width == width && x.height == height && xd.width == width && xd.height == height)
        if first { current = 0 }
        let prev = current, next = 1 - current
        let plane = width * height

        try step("input") {
            var shifted = [Float](repeating: 0, count: plane)
            for (k, img) in [x, xd].enumerated() {
                for c in 0..<3 {
                    affine(img.data, row: c, subMean, into: &shifted)
                    shifted.withUnsafeBufferPointer { input6.writePlane(k * 3 + c, from: $0.baseAddress!) }
                    // img_prd adds its result to sub_mean(x_in) through its sum post-op.
                    if k == 0 { shifted.withUnsafeBufferPointer { output3.writePlane(c, from: $0.baseAddress!) } }
                }
            }
        }
        try run(conv1_1, input6, l1)
        for r in level1Encoder { try timed(r.name) { try r.execute(l1, scratch: t1) } }

        try run(conv2_1, l1, t2)
        try timed(conv2_c.name) { try conv2_c.execute(a: t2, b: first ? t2 : f1[prev], into: l2) }
        for r in level2Encoder { try timed(r.name) { try r.execute(l2, scratch: t2) } }

        try run(conv3_1, l2, t3)
        let f2out = f2[next]
        try timed(conv3_c.name) { try conv3_c.execute(a: t3, b: first ? t3 : f2[prev], into: f2out) }
        for r in level3 { try timed(r.name) { try r.execute(f2out, scratch: t3) } }

        try transposed(conv5_1, f2out, t2)
        let f1out = f1[next]
        try timed(conv5_c.name) { try conv5_c.execute(a: t2, b: l2, into: f1out) }
        for r in level2Decoder { try timed(r.name) { try r.execute(f1out, scratch: t2) } }

        try transposed(conv6_1, f1out, u1)
        try timed(conv6_c.name) { try conv6_c.execute(a: u1, b: l1, into: t1) }
        for r in level1Decoder { try timed(r.name) { try r.execute(t1, scratch: u1) } }
        try run(img_prd, t1, output3)

        var out = [Float](repeating: 0, count: 3 * plane)
        try step("output") {
            var raw = [Float](repeating: 0, count: 3 * plane)
            raw.withUnsafeMutableBufferPointer { r in
                for c in 0..<3 { output3.readPlane(c, into: r.baseAddress! + c * plane) }
            }
            for c in 0..<3 {
                var o = [Float](repeating: 0, count: plane)
                affine(raw, row: c, addMean, into: &o)
                out.replaceSubrange(c * plane..<(c + 1) * plane, with: o)
            }
        }
        current = next
        return PlanarImage(width: width, height: height, data: out)
    }

    /// The recurrent features after the last iteration, as plain NCHW (tests).
    var lastFeatures: (f1: [Float], f2: [Float]) { (f1[current].toNCHW(), f2[current].toNCHW()) }

    /// dst = sum_k M[row, k] * planes[k] + m[row] for the 1x1 mean-shift convs.
    private func affine(_ planes: [Float], row: Int, _ shift: (w: [Float], b: [Float]), into dst: inout [Float]) {
        let plane = width * height
        let (m0, m1, m2, bias) = (shift.w[row * 3], shift.w[row * 3 + 1], shift.w[row * 3 + 2], shift.b[row])
        planes.withUnsafeBufferPointer { p in
            dst.withUnsafeMutableBufferPointer { d in
                for i in 0..<plane {
                    d[i] = m0 * p[i] + m1 * p[plane + i] + m2 * p[2 * plane + i] + bias
                }
            }
        }
    }

    private func run(_ conv: Convolution, _ src: Tensor, _ dst: Tensor) throws {
        try timed(conv.name) { try conv.execute(src: src, dst: dst) }
    }

    /// A transposed convolution; on the oneDNN path its 2x2 convolution and
    /// its pixel shuffle are profiled apart.
    private func transposed(_ t: TransposedConvolution, _ src: Tensor, _ dst: Tensor) throws {
        guard let conv = t.conv, let grouped = t.grouped else { return try timed(t.name) { try t.execute(src: src, dst: dst) } }
        try timed(t.name) { try conv.execute(src: src, dst: grouped) }
        try timed("\(t.name) shuffle") { TransposedConvolution.pixelShuffle(grouped, into: dst, cout: t.cout) }
    }

    private func step(_ name: String, _ body: () throws -> Void) throws { try timed(name, body) }

    private func timed(_ name: String, _ body: () throws -> Void) throws {
        guard profile != nil else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        try engine.wait()
        profile!.add(name, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}

/// Seconds spent per layer, summed over iterations (MTRNN_PROFILE=1 or
/// `mtrnnctl bench --profile`).
public struct LayerProfile: Sendable {
    public private(set) var order: [String] = []
    public private(set) var seconds: [String: Double] = [:]

    mutating func add(_ name: String, seconds s: Double) {
        if seconds[name] == nil { order.append(name) }
        seconds[name, default: 0] += s
    }
}
