import CWinograd
import Foundation
import Testing
@testable import MTRNN

/// Winograd F(4,3) and F(6,3) for the ResBlock convolutions against oneDNN's direct
/// convolution (per layer) and against the float64 reference (whole network).
@Suite(.enabled(if: WinogradConvolution.cpuSupported, "this CPU has no AVX2 + FMA: the Winograd path is never taken"))
struct WinogradTests {
    let engine = try! Engine()

    /// Seeded values in [-scale, scale): a tiny LCG so the test is the same everywhere.
    static func random(_ count: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed &* 6364136223846793005 &+ 1442695040888963407
        return (0..<count).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale
        }
    }

    func tensor(_ c: Int, _ h: Int, _ w: Int, _ values: [Float], block: Int = 8) throws -> Tensor {
        let t = try Tensor(engine: engine, channels: c, height: h, width: w, dataType: .f32, layout: .blocked(block), name: "t")
        t.fill(fromNCHW: values)
        return t
    }

    /// Runs one layer both ways and returns the Winograd result's error against
    /// oneDNN direct (in nChw8c, whose kernels this CPU has; the Winograd layer
    /// in blocks of `block` channels: 8, or 16 for the nChw16c kernels).
    func compare(channels c: Int, height h: Int, width w: Int, postOp: Convolution.PostOp, threads: Int = 1,
                 outputTile: Int = 4, block: Int = 8, gemm: WinogradGEMMPrecision = .f32,
                 int8: Bool = false) throws -> ErrorStats {
        // He-like scale, as trained weights have, so activations stay O(1).
        let weights = Self.random(c * c * 9, seed: UInt64(c * 1000 + h), scale: (6.0 / Float(c * 9)).squareRoot())
        let bias = Self.random(c, seed: 7, scale: 0.1)
        let x = Self.random(c * h * w, seed: UInt64(w), scale: 1)
        let prior = Self.random(c * h * w, seed: 99, scale: 1)  // what the sum post-op adds to

        let direct = try Convolution(engine: engine, name: "direct",
                                     shape: .init(cin: c, cout: c, kernel: (3, 3), padLow: (1, 1), padHigh: (1, 1)),
                                     input: (h, w), weights: weights, bias: bias, postOp: postOp,
                                     srcType: .f32, srcLayout: .blocked(8), dstType: .f32, dstLayout: .blocked(8), weightsType: .f32)
        let want = try tensor(c, h, w, prior)
        DNNL.setThreadsForCurrentThread(1)
        try direct.execute(src: try tensor(c, h, w, x), dst: want)
        try engine.wait()

        let wino = WinogradConvolution(name: "winograd", channels: c, size: (h, w), weights: weights, bias: bias,
                                       postOp: postOp, outputTile: outputTile, block: block, gemm: gemm, int8: int8)
        let got = try tensor(c, h, w, prior, block: block)
        DNNL.setThreadsForCurrentThread(threads)
        defer { DNNL.setThreadsForCurrentThread(1) }
        wino.execute(src: try tensor(c, h, w, x, block: block), dst: got, scratch: WinogradConvolution.Scratch())
        let e = ErrorStats(got.toNCHW(), want.toNCHW())
        print("winograd F(\(outputTile),3) nChw\(block)c \(WinogradConvolution.kernelDescription(block: block)) "
              + "\(c) ch \(h)x\(w) \(postOp) (\(threads) threads) vs oneDNN direct: \(e)")
        return e
    }

    /// The two Winograd variants, as (channels, size) pairs run for each.
    static let tiles = [4, 6, 2]
    /// The kernels' channel blocks: 8 (AVX2, nChw8c) and 16 (AVX-512, nChw16c;
    /// its emulation on a CPU without AVX-512).
    static let blocks = [8, 16]

    @Test(arguments: [32, 64, 128], [(12, 20), (64, 64), (8, 4)])
    func matchesDirectWithLeakyReLU(_ channels: Int, _ size: (Int, Int)) throws {
        for m in Self.tiles {
            for block in Self.blocks {
                let e = try compare(channels: channels, height: size.0, width: size.1, postOp: .leakyReLU,
                                    outputTile: m, block: block)
                // Measured 1e-6 to 2.6e-6 for F(4,3) (its transform constants cost
                // ~10x f32's rounding of a direct sum), 1.5e-6 to 4e-6 for F(6,3);
                // a wrong tap or border gives ~1e-1.
                #expect(e.relativeL2 <= 1e-5, "F(\(m),3) nChw\(block)c: \(e)")
            }
        }
    }

    @Test(arguments: [32, 64, 128], [(12, 20), (64, 64), (8, 4)])
    func matchesDirectWithResidualSum(_ channels: Int, _ size: (Int, Int)) throws {
        for m in Self.tiles {
            for block in Self.blocks {
                let e = try compare(channels: channels, height: size.0, width: size.1, postOp: .sum,
                                    outputTile: m, block: block)
                #expect(e.relativeL2 <= 1e-5, "F(\(m),3) nChw\(block)c: \(e)")
            }
        }
    }

    @Test(arguments: tiles)
    func tilesPastTheEdgeAndThreadsSplittingTheTiles(_ m: Int) throws {
        // Sizes the engine never makes (not multiples of 4 or 6): partial tiles at
        // the right and bottom must be cut, not written past the rows' ends.
        #expect(try compare(channels: 32, height: 13, width: 22, postOp: .sum, outputTile: m).relativeL2 <= 1e-5)
        #expect(try compare(channels: 16, height: 5, width: 3, postOp: .leakyReLU, outputTile: m).relativeL2 <= 1e-5)
        #expect(try compare(channels: 64, height: 36, width: 28, postOp: .leakyReLU, threads: 2, outputTile: m).relativeL2 <= 1e-5)
        #expect(try compare(channels: 32, height: 17, width: 11, postOp: .sum, threads: 2, outputTile: m).relativeL2 <= 1e-5)
        // The nChw16c kernels: groups of 12 or 24 tiles, so also a last group
        // of 1 tile (25 tiles of F(4,3) at 17 x 19) and maps under one tile.
        for (c, h, w, threads) in [(32, 13, 22, 1), (32, 5, 3, 1), (64, 36, 28, 2), (32, 17, 19, 1), (96, 1, 1, 1), (32, 17, 11, 2)] {
            for post in [Convolution.PostOp.sum, .leakyReLU] {
                let e = try compare(channels: c, height: h, width: w, postOp: post, threads: threads, outputTile: m, block: 16)
                #expect(e.relativeL2 <= 1e-5, "F(\(m),3) nChw16c \(c) ch \(h)x\(w) \(post): \(e)")
            }
        }
    }

    /// The nChw8c and nChw16c kernels do the same arithmetic in the same
    /// order (transforms, and each GEMM sum over the input channels in turn),
    /// so they agree to the bit: a second, independent check of each.
    @Test(arguments: tiles)
    func bothBlockSizesGiveTheSameBits(_ m: Int) throws {
        let (c, h, w) = (64, 19, 26)
        let weights = Self.random(c * c * 9, seed: 8, scale: 0.05), bias = Self.random(c, seed: 9, scale: 0.1)
        let x = Self.random(c * h * w, seed: 10, scale: 1), prior = Self.random(c * h * w, seed: 11, scale: 1)
        for gemm in WinogradGEMMPrecision.allCases {
            var out: [[UInt32]] = []
            for block in Self.blocks {
                let layer = WinogradConvolution(name: "w", channels: c, size: (h, w), weights: weights, bias: bias,
                                                postOp: .sum, outputTile: m, block: block, gemm: gemm)
                let dst = try tensor(c, h, w, prior, block: block)
                layer.execute(src: try tensor(c, h, w, x, block: block), dst: dst, scratch: WinogradConvolution.Scratch())
                out.append(dst.toNCHW().map(\.bitPattern))
            }
            let differing = zip(out[0], out[1]).filter { $0 != $1 }.count  // bit patterns
            #expect(differing == 0, "F(\(m),3), GEMM \(gemm): \(differing) values differ")
        }
    }

    /// MTRNN_WINOGRAD_GEMM=bf16 rounds the GEMM's inputs to bfloat16: the
    /// error against direct f32 grows from ~1e-6 by four orders, for both
    /// kernels; the rounding itself is to the nearest, ties to even.
    @Test func bf16GEMMRoundsTheGEMMInputs() throws {
        var v: [Float] = [1, 1 + 0x1p-8, 1 + 0x1p-7 + 0x1p-8, 1 + 0x1p-8 + 0x1p-20, -3.0e-3, 65504, 0x1p-130]
        wino_round_bf16(&v, v.count)
        // 1 + 2^-8 is a tie: to 1 (even); 1 + 3 x 2^-8 is a tie: up to 1 + 2^-6 (even); above a tie: up.
        #expect(v[0] == 1 && v[1] == 1 && v[2] == 1 + 0x1p-6 && v[3] == 1 + 0x1p-7)
        #expect(v.allSatisfy { $0.bitPattern & 0xffff == 0 })
        #expect(abs(v[4] + 3.0e-3) <= 3.0e-3 * 0x1p-8 && v[5] == 65536 && v[6] == 0x1p-130)
        for block in Self.blocks {
            for m in Self.tiles {
                let e = try WinogradGEMMPrecision.$override.withValue(.bf16) {
                    try compare(channels: 64, height: 20, width: 24, postOp: .leakyReLU, outputTile: m, block: block, gemm: .bf16)
                }
                // Measured 2.5e-2 for F(4,3) and 4.8e-2 for F(6,3), both blocks: the
                // transforms' constants amplify bf16's 2^-9 (BENCHMARKS.md).
                #expect(e.relativeL2 > 1e-3 && e.relativeL2 < 1e-1, "F(\(m),3) nChw\(block)c bf16 GEMM: \(e)")
            }
        }
        #expect(try WinogradGEMMPrecision.configured(environment: [:]) == .f32)
        #expect(try WinogradGEMMPrecision.configured(environment: ["MTRNN_WINOGRAD_GEMM": "bf16"]) == .bf16)
        #expect(throws: MTRNNError.self) { try WinogradGEMMPrecision.configured(environment: ["MTRNN_WINOGRAD_GEMM": "fp16"]) }
    }

    /// MTRNN_RESBLOCK_INT8=1: inputs to 127 steps of their peak (per tensor),
    /// weights per output channel; the layer's error grows to int8's ~1e-2.
    @Test func int8SimulationRoundsInputsAndWeights() throws {
        let x: [Float] = [0.5, -1.27, 0.004, 0.006, 1.0, 0, -0.0051]
        var q = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { src in q.withUnsafeMutableBufferPointer { Int8Simulation.quantise(src.baseAddress!, count: x.count, into: $0.baseAddress!) } }
        let step: Float = 1.27 / 127
        #expect(q[1] == -1.27)                                      // the peak is a step
        #expect(zip(q, x).allSatisfy { abs($0 - $1) <= step / 2 * 1.0001 })
        #expect(q.allSatisfy { abs(($0 / step).rounded() - $0 / step) < 1e-3 })  // on the grid
        #expect(q[2] == 0 && abs(q[3] - step) < 1e-7 && q[5] == 0)   // 0.004 < step / 2 < 0.006
        let w: [Float] = [1, 0.5, 0.001, 100, 50, 0.3]              // two "channels" of 3
        let wq = Int8Simulation.quantisedPerOutputChannel(w, channels: 2)
        #expect(wq[0] == 1 && abs(wq[1] - 0.5) <= 0.5 / 127 && wq[2] == 0)  // channel 0's own step, 1/127
        #expect(wq[3] == 100 && abs(wq[5] - 0.3) <= 100.0 / 127 / 2)

        for block in Self.blocks {
            let e = try compare(channels: 64, height: 20, width: 24, postOp: .leakyReLU, block: block, int8: true)
            #expect(e.relativeL2 > 1e-4 && e.relativeL2 < 5e-2, "int8 nChw\(block)c: \(e)")
        }
        #expect(try Int8Simulation.configured(environment: [:]) == false)
        #expect(try Int8Simulation.configured(environment: ["MTRNN_RESBLOCK_INT8": "1"]) == true)
        #expect(throws: MTRNNError.self) { try Int8Simulation.configured(environment: ["MTRNN_RESBLOCK_INT8": "yes"]) }
    }

    /// Where this CPU has AVX-512F, its nChw16c kernel and the AVX2 emulation
    /// of it must give the same bits: the emulation is what AVX2 machines test.
    @Test(.enabled(if: WinogradConvolution.avx512Supported, "no AVX-512F here: scripts/avx512-emu.sh runs this check emulated"),
          arguments: tiles)
    func avx512KernelAndItsEmulationAgreeToTheBit(_ m: Int) throws {
        let (c, h, w) = (64, 23, 29)
        let weights = Self.random(c * c * 9, seed: 3, scale: 0.05), bias = Self.random(c, seed: 4, scale: 0.1)
        let x = Self.random(c * h * w, seed: 5, scale: 1), prior = Self.random(c * h * w, seed: 6, scale: 1)
        let u = TransformedWeights.shared(for: weights, channels: c, outputTile: m, block: 16)
        let floats = Int(wino16_scratch_floats(Int32(m), Int32(c), Int32(c)))
        var results: [[Float]] = []
        for variant in [WINO16_AVX512, WINO16_EMULATED] {
            let src = try tensor(c, h, w, x, block: 16), dst = try tensor(c, h, w, prior, block: 16)
            let scratch = WinogradConvolution.Scratch().buffers(1, floats: floats)[0]
            for mode in [WINO_LEAKY_RELU, WINO_ACCUMULATE] {
                let rc = bias.withUnsafeBufferPointer { b in
                    wino16_conv3x3(Int32(variant), Int32(m), src.buffer.assumingMemoryBound(to: Float.self),
                                   dst.buffer.assumingMemoryBound(to: Float.self), u.buffer, b.baseAddress!,
                                   Int32(c), Int32(c), Int32(h), Int32(w), Int32(mode), 0,
                                   wino_tile_count(Int32(m), Int32(h), Int32(w)), scratch)
                }
                #expect(rc == 0)
            }
            results.append(dst.toNCHW())
        }
        let differing = zip(results[0], results[1]).filter { $0.bitPattern != $1.bitPattern }.count
        #expect(differing == 0, "F(\(m),3): \(differing) values differ")
    }

    @Test func resBlockAgainstTheFloat64Reference() throws {
        // layers.safetensors' ResBlock (32 ch, 16x8), computed in float64 by PyTorch.
        let l = Fixtures.layers
        var t = Fixtures.weights.tensors
        for (k, v) in ["blk.stem.0.weight": "res_w0", "blk.stem.0.bias": "res_b0", "blk.stem.2.weight": "res_w2", "blk.stem.2.bias": "res_b2"] {
            t[k] = .init(shape: l.tensors[v]!.shape, values: l.tensors[v]!.values)
        }
        let s = l.tensors["res_x"]!.shape
        var errors: [Conv3x3Algorithm: ErrorStats] = [:]
        // nChw16c's direct convolution would run oneDNN's reference loops on
        // AVX2 (slow, and not what is tested here): Winograd only there.
        for (a, blockSize) in Conv3x3Algorithm.allCases.map({ ($0, 8) }) + [(.winograd, 16), (.winograd63, 16), (.winograd23, 16)] {
            let block = try ResBlock(engine: engine, name: "blk", channels: s[1], size: (s[2], s[3]),
                                     weights: WeightsView(t).weights, dataType: .f32, layout: .blocked(blockSize), algorithm: a)
            #expect(block.algorithm == a)
            let x = try tensor(s[1], s[2], s[3], l.tensors["res_x"]!.values, block: blockSize)
            try block.execute(x, scratch: try tensor(s[1], s[2], s[3], [Float](repeating: 0, count: s[1] * s[2] * s[3]),
                                                     block: blockSize))
            try engine.wait()
            let e = ErrorStats(x.toNCHW(), l.tensors["res_y"]!.values)
            print("ResBlock \(a) nChw\(blockSize)c vs float64: \(e)")
            #expect(e.relativeL2 <= 1e-5, "\(a) nChw\(blockSize)c: \(e)")
            if blockSize == 8 { errors[a] = e }
        }
        #expect(errors.count == Conv3x3Algorithm.allCases.count)
    }

    /// The whole network with each algorithm against the float64 fixtures,
    /// at every iteration; the same bounds as NetworkTests.
    @Test(arguments: ["a", "b"])
    func networkParityWithWinograd(_ name: String) throws {
        let input = Fixtures.image(name)
        var outputs: [Conv3x3Algorithm: [Float]] = [:]
        var ranWinograd: [Conv3x3Algorithm: Bool] = [:]
        var kernels: [Conv3x3Algorithm: Set<String>] = [:]
        for a in Conv3x3Algorithm.allCases {
            try Conv3x3Algorithm.$override.withValue(a) {
                let net = try MTRNNNetwork(weights: Fixtures.weights, threads: 1)
                let implementations = try net.prepare(width: input.width, height: input.height)
                ranWinograd[a] = implementations.contains { $0.kernel.hasPrefix("winograd") }
                kernels[a] = Set(implementations.map(\.kernel).filter { $0.hasPrefix("winograd") })
                var stats: [ErrorStats] = []
                let out = try net.run(input, iterations: 6) { i, img in
                    let e = ErrorStats(img.data, Fixtures.network.tensors["\(name)_out\(i)"]!.values)
                    print("\(a) \(name) (\(input.width)x\(input.height)) iteration \(i): \(e)")
                    stats.append(e)
                }
                for (i, e) in stats.enumerated() { #expect(e.relativeL2 <= 1e-5, "\(a) iteration \(i + 1): \(e)") }
                #expect(stats.last!.maxAbs <= 0.01, "\(a) after 6 iterations: \(stats.last!)")
                outputs[a] = out.data
                // For BENCHMARKS.md: PSNR against float64 after 6 iterations,
                // the peak being the reference's range (the fixture weights are
                // random, so the outputs span hundreds, not 0...1).
                let want = Fixtures.network.tensors["\(name)_out6"]!.values
                var sum = 0.0
                for (g, w) in zip(out.data, want) {
                    let d = Double(g) - Double(w)
                    sum += d * d
                }
                let peak = Double(want.max()! - want.min()!)
                let psnr: Double = 10 * log10(peak * peak * Double(want.count) / sum)
                let range = "\(want.min()!)...\(want.max()!)"
                print("\(a) \(name): PSNR vs float64 after 6 iterations \(String(format: "%.1f", psnr)) dB (reference range \(range))")
            }
        }
        // Winograd runs exactly where it applies: AVX2 + FMA, f32 and a
        // blocked layout (nChw8c, picked on AVX2; nChw16c under MTRNN_LAYOUT,
        // natively on AVX-512 or emulated). Elsewhere (nhwc, the AVX-512
        // default, or nchw) asking for it runs direct.
        let layout = try IterationPlan.preferredLayout(engine: try Engine(), dataType: .f32,
                                                       size: (input.height, input.width))
        let applies = WinogradConvolution.applies(channels: 32, dataType: .f32, layout: layout)
        print("layout \(layout): Winograd \(applies ? "applies" : "does not apply")")
        #expect(ranWinograd[.direct] == false)
        let winogradAlgorithms = Conv3x3Algorithm.allCases.filter { $0.winogradTile != nil }
        for a in winogradAlgorithms { #expect(ranWinograd[a] == applies, "\(a)") }
        if applies {
            // Proof that each Winograd path ran: its rounding differs from
            // oneDNN's and from the others'.
            let kernel = WinogradConvolution.kernelDescription(block: layout == .blocked(16) ? 16 : 8)
            for a in winogradAlgorithms {
                #expect(kernels[a] == ["winograd F(\(a.winogradTile!),3) \(kernel) (CWinograd)"])
                #expect(outputs[a] != outputs[.direct], "\(a)")
                for b in winogradAlgorithms where b != a { #expect(outputs[a] != outputs[b], "\(a) \(b)") }
            }
        } else {
            for a in winogradAlgorithms { #expect(outputs[a] == outputs[.direct], "\(a)") }
        }
    }

    @Test func transformedWeightsAreSharedOnlyForTheSameArray() {
        let w = Self.random(32 * 32 * 9, seed: 1, scale: 0.1), b = [Float](repeating: 0, count: 32)
        var copy = w
        copy[0] += 1  // its own storage, other values
        let a = WinogradConvolution(name: "a", channels: 32, size: (8, 8), weights: w, bias: b, postOp: .sum)
        let same = TransformedWeights.shared(for: w, channels: 32)
        let other = TransformedWeights.shared(for: copy, channels: 32)
        #expect(same === TransformedWeights.shared(for: w, channels: 32))
        #expect(same !== other)
        #expect(same.buffer[0] != other.buffer[0] || same.buffer[1] != other.buffer[1])
        // F(6,3)'s transform of the same array is its own (64 positions, not 36).
        let six = TransformedWeights.shared(for: w, channels: 32, outputTile: 6)
        #expect(six !== same)
        #expect(six === TransformedWeights.shared(for: w, channels: 32, outputTile: 6))
        #expect(six.buffer[0] != same.buffer[0])
        // The nChw16c kernels' panels (32 columns) are their own too.
        let wide = TransformedWeights.shared(for: w, channels: 32, outputTile: 4, block: 16)
        #expect(wide !== same)
        #expect(wide === TransformedWeights.shared(for: w, channels: 32, outputTile: 4, block: 16))
        #expect(wide.buffer[16] != same.buffer[16])  // column 16 of panel 0 against channel 0 of panel 1's row
        _ = a
    }

    @Test func environmentVariableChoosesOrExplains() throws {
        #expect(try Conv3x3Algorithm.configured(environment: [:]) == Conv3x3Algorithm.standard)
        #expect(try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "direct"]) == .direct)
        #expect(try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "winograd"]) == .winograd)
        #expect(try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "f43"]) == .winograd)
        #expect(try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "f63"]) == .winograd63)
        #expect(try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "f23"]) == .winograd23)
        do {
            _ = try Conv3x3Algorithm.configured(environment: ["MTRNN_CONV3X3": "fft"])
            Issue.record("an unknown algorithm was accepted")
        } catch let e as MTRNNError {
            #expect("\(e)".contains("MTRNN_CONV3X3=fft"))
            #expect("\(e)".contains("direct, winograd (or f43"))
            #expect("\(e)".contains("f63") && "\(e)".contains("f23"))
        }
    }

    /// The transposed convolutions' Winograd F(3,2) with the fused shuffle
    /// against the oneDNN 2x2 convolution + Swift shuffle, on the network's
    /// shapes and on sizes that leave partial tiles (3 does not divide H + 1).
    @Test(arguments: [(128, 64, 16, 16, 1), (64, 32, 13, 10, 1), (16, 8, 5, 7, 1), (32, 16, 1, 1, 1), (64, 32, 20, 17, 2)])
    func upconvMatchesTheOneDNNPath(_ shape: (Int, Int, Int, Int, Int)) throws {
        let (cin, cout, h, w, threads) = shape
        let weights = Self.random(cin * cout * 16, seed: UInt64(cin + h), scale: (3.0 / Float(cin * 4)).squareRoot())
        let bias = Self.random(cout, seed: 5, scale: 0.1)
        let x = try tensor(cin, h, w, Self.random(cin * h * w, seed: UInt64(w), scale: 1))
        var out: [UpconvAlgorithm: [Float]] = [:]
        for a in UpconvAlgorithm.allCases {
            let up = try TransposedConvolution(engine: engine, name: "up", cin: cin, cout: cout, input: (h, w),
                                               weights: weights, bias: bias, leakyReLU: true, dataType: .f32,
                                               layout: .blocked(8), algorithm: a)
            #expect(up.algorithm == a)
            // NaN everywhere first: a pixel the kernel forgot stays NaN.
            let dst = try tensor(cout, 2 * h, 2 * w, [Float](repeating: .nan, count: cout * 4 * h * w))
            DNNL.setThreadsForCurrentThread(threads)
            try up.execute(src: x, dst: dst)
            try engine.wait()
            DNNL.setThreadsForCurrentThread(1)
            out[a] = dst.toNCHW()
        }
        #expect(!out[.winograd]!.contains { $0.isNaN })
        let e = ErrorStats(out[.winograd]!, out[.direct]!)
        print("upconv F(3,2) \(cin)->\(cout) \(h)x\(w) (\(threads) threads) vs oneDNN 2x2 + shuffle: \(e)")
        // Measured 1e-7 to 4e-7 in a C harness against float64; a wrong tap,
        // group or shuffle offset gives ~1e-1.
        #expect(e.relativeL2 <= 1e-5)
        #expect(out[.winograd] != out[.direct])  // proof that each path ran
        // The nChw16c kernel (cout a multiple of 16): the same arithmetic in
        // the same order as the nChw8c one, so the same bits, every pixel written.
        if cout % 16 == 0 {
            let up = try TransposedConvolution(engine: engine, name: "up16", cin: cin, cout: cout, input: (h, w),
                                               weights: weights, bias: bias, leakyReLU: true, dataType: .f32,
                                               layout: .blocked(16), algorithm: .winograd)
            #expect(up.algorithm == .winograd)
            let src = try tensor(cin, h, w, x.toNCHW(), block: 16)
            let dst = try tensor(cout, 2 * h, 2 * w, [Float](repeating: .nan, count: cout * 4 * h * w), block: 16)
            DNNL.setThreadsForCurrentThread(threads)
            try up.execute(src: src, dst: dst)
            DNNL.setThreadsForCurrentThread(1)
            let differing = zip(dst.toNCHW(), out[.winograd]!).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "nChw16c against nChw8c: \(differing) values differ")
        }
    }

    /// The whole network with the oneDNN transposed convolutions and with
    /// ours, against the float64 fixtures (the NetworkTests bounds).
    @Test(arguments: ["a", "b"])
    func networkParityWithEachUpconv(_ name: String) throws {
        let input = Fixtures.image(name)
        var outputs: [UpconvAlgorithm: [Float]] = [:]
        for a in UpconvAlgorithm.allCases {
            try UpconvAlgorithm.$override.withValue(a) {
                let net = try MTRNNNetwork(weights: Fixtures.weights, threads: 1)
                let kernels = try net.prepare(width: input.width, height: input.height)
                    .filter { $0.layer == "conv5_1" || $0.layer == "conv6_1" }.map(\.kernel)
                print("upconv \(a): \(kernels)")
                var stats: [ErrorStats] = []
                let out = try net.run(input, iterations: 6) { i, img in
                    stats.append(ErrorStats(img.data, Fixtures.network.tensors["\(name)_out\(i)"]!.values))
                    print("upconv \(a) \(name) iteration \(i): \(stats.last!)")
                }
                for (i, e) in stats.enumerated() { #expect(e.relativeL2 <= 1e-5, "\(a) iteration \(i + 1): \(e)") }
                #expect(stats.last!.maxAbs <= 0.01, "\(a) after 6 iterations: \(stats.last!)")
                outputs[a] = out.data
            }
        }
        let layout = try IterationPlan.preferredLayout(engine: try Engine(), dataType: .f32,
                                                       size: (input.height, input.width))
        if WinogradUpconvolution.applies(cin: 64, cout: 32, dataType: .f32, layout: layout, leakyReLU: true) {
            #expect(outputs[.winograd] != outputs[.direct])
        } else {
            #expect(outputs[.winograd] == outputs[.direct])
        }
    }

    @Test func upconvEnvironmentVariableChoosesOrExplains() throws {
        #expect(try UpconvAlgorithm.configured(environment: [:]) == UpconvAlgorithm.standard)
        #expect(try UpconvAlgorithm.configured(environment: ["MTRNN_UPCONV": "direct"]) == .direct)
        #expect(try UpconvAlgorithm.configured(environment: ["MTRNN_UPCONV": "winograd"]) == .winograd)
        do {
            _ = try UpconvAlgorithm.configured(environment: ["MTRNN_UPCONV": "fft"])
            Issue.record("an unknown algorithm was accepted")
        } catch let e as MTRNNError {
            #expect("\(e)".contains("MTRNN_UPCONV=fft"))
        }
    }
}
