import Foundation
import Testing
@testable import MTRNN

/// Whole-network parity with the float64 PyTorch reference
/// (network.safetensors), after every one of the six iterations.
@Suite struct NetworkTests {
    /// Runs the fixture input and returns the error against the reference per iteration.
    func parity(_ name: String, precision: Precision) throws -> [ErrorStats] {
        let net = try MTRNNNetwork(weights: Fixtures.weights, precision: precision)
        let input = Fixtures.image(name)
        var stats: [ErrorStats] = []
        var lastImage: PlanarImage?
        let out = try net.run(input, iterations: 6) { i, img in
            #expect(img.width == input.width && img.height == input.height)
            let e = ErrorStats(img.data, Fixtures.network.tensors["\(name)_out\(i)"]!.values)
            print("\(precision) \(name) (\(input.width)x\(input.height)) iteration \(i): \(e)")
            stats.append(e)
            lastImage = img
        }
        #expect(stats.count == 6)
        #expect(out.data == lastImage?.data)
        return stats
    }

    @Test(arguments: ["a", "b"])
    func f32MatchesReferenceAtEveryIteration(_ name: String) throws {
        let stats = try parity(name, precision: .f32)
        // The issue asks for 1e-4 and 0.05; measured here ~4e-7 and ~3e-4, so hold
        // a tighter line that still leaves room for other CPUs' kernels.
        for (i, e) in stats.enumerated() {
            #expect(e.relativeL2 <= 1e-5, "iteration \(i + 1): \(e)")
        }
        #expect(stats.last!.maxAbs <= 0.01, "after 6 iterations: \(stats.last!)")
    }

    /// With each 3x3 algorithm (Winograd where it applies, oneDNN direct).
    @Test(arguments: Conv3x3Algorithm.allCases)
    func recurrentFeaturesAfterFirstIteration(algorithm: Conv3x3Algorithm) throws {
        try Conv3x3Algorithm.$override.withValue(algorithm) {
            let net = try MTRNNNetwork(weights: Fixtures.weights)
            let input = Fixtures.image("a")
            _ = try net.run(input, iterations: 1)
            let (f1, f2) = try net.lastFeatures(width: input.width, height: input.height)
            let e1 = ErrorStats(f1, Fixtures.network.tensors["a_f1_1"]!.values)
            let e2 = ErrorStats(f2, Fixtures.network.tensors["a_f2_1"]!.values)
            print("\(algorithm): F1 after iteration 1: \(e1); F2: \(e2)")
            #expect(e1.relativeL2 <= 1e-5)
            #expect(e2.relativeL2 <= 1e-5)
        }
    }

    @Test(.enabled(if: MTRNNNetwork.bf16Supported(), "\(MTRNNNetwork.bf16UnsupportedReason ?? "")"),
          arguments: ["a", "b"])
    func bf16StaysCloseToReference(_ name: String) throws {
        let stats = try parity(name, precision: .bf16)
        for (i, e) in stats.enumerated() {
            #expect(e.relativeL2 <= 1e-2, "iteration \(i + 1): \(e)")
        }
    }

    @Test(.enabled(if: !MTRNNNetwork.bf16Supported(), "this CPU has bf16 kernels"))
    func bf16RefusedWithAClearMessage() throws {
        do {
            _ = try MTRNNNetwork(weights: Fixtures.weights, precision: .bf16)
            Issue.record("bf16 was accepted on a CPU without bf16 kernels")
        } catch let e as MTRNNError {
            print("bf16 refused: \(e)")
            #expect("\(e)".contains("avx512_bf16"))
            // The facts only: the advice names a flag or a key, which is the caller's.
            #expect(!"\(e)".contains("--precision"), "library advice names a mtrnnctl flag: \(e)")
        }
    }

    @Test func reusedNetworkGivesTheSameResultAndHandlesSeveralSizes() throws {
        // Plans are cached per padded size; the recurrent state must restart each run.
        let net = try MTRNNNetwork(weights: Fixtures.weights)
        let a = Fixtures.image("a"), b = Fixtures.image("b")
        let first = try net.run(a, iterations: 2)
        _ = try net.run(b, iterations: 2)
        let again = try net.run(a, iterations: 2)
        #expect(first.data == again.data)
        let e = ErrorStats(again.data, Fixtures.network.tensors["a_out2"]!.values)
        #expect(e.relativeL2 <= 1e-4)
    }

    @Test func concurrentNetworksAgree() async throws {
        let a = Fixtures.image("b")
        let reference = try MTRNNNetwork(weights: Fixtures.weights, threads: 1).run(a, iterations: 2).data
        let results = try await withThrowingTaskGroup(of: [Float].self) { group in
            for _ in 0..<3 {
                group.addTask { try MTRNNNetwork(weights: Fixtures.weights, threads: 1).run(a, iterations: 2).data }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for r in results { #expect(r == reference) }
    }

    /// MTRNN_LAYOUT forces a layout this CPU may have no kernels for (on
    /// AVX2, oneDNN runs nChw16c entirely on reference loops): the check is
    /// about the layout the engine picks by itself.
    static let layoutForced = ProcessInfo.processInfo.environment["MTRNN_LAYOUT"] != nil

    @Test(.disabled(if: layoutForced, "MTRNN_LAYOUT forces a layout; the engine's own choice is checked without it"))
    func noLayerFallsBackToReferenceKernels() throws {
        // oneDNN silently picks its C++ reference loops (100x slower) when a
        // layer's shape/format has no optimised kernel; catch that here.
        let net = try MTRNNNetwork(weights: Fixtures.weights)
        let kernels = try net.prepare(width: 93, height: 70)
        print("kernels: \(Set(kernels.map(\.kernel)).sorted())")
        #expect(kernels.count == 50)  // 18 ResBlocks x 2, 4 split 1x1 x 2, 6 single convs
        for k in kernels { #expect(!k.kernel.hasPrefix("ref"), "\(k.layer) runs on \(k.kernel)") }
    }

    @Test func rejectsMalformedImages() throws {
        let net = try MTRNNNetwork(weights: Fixtures.weights)
        #expect(throws: MTRNNError.self) { _ = try net.run(PlanarImage(width: 4, height: 4, data: [0, 1])) }
        #expect(throws: MTRNNError.self) {
            _ = try net.run(PlanarImage(width: 4, height: 4, data: .init(repeating: 0, count: 48)), iterations: 0)
        }
    }

    @Test func tinyImagesArePaddedAndCropped() throws {
        let net = try MTRNNNetwork(weights: Fixtures.weights)
        let img = PlanarImage(width: 3, height: 1, data: (0..<9).map { Float($0 * 20) })
        let out = try net.run(img, iterations: 1)
        #expect(out.width == 3 && out.height == 1 && out.data.count == 9)
        #expect(out.data.allSatisfy { $0.isFinite })
    }

    @Test func reflectPaddingMatchesPyTorch() {
        // torch.nn.functional.pad(x, (0, 3, 0, 2), mode="reflect") on a 1x1x3x5 ramp.
        let img = PlanarImage(width: 5, height: 3, data: (0..<45).map(Float.init))
        let p = img.reflectPadded(toWidth: 8, height: 5)
        #expect(Array(p.data[0..<8]) == [0, 1, 2, 3, 4, 3, 2, 1])
        #expect(Array(p.data[24..<32]) == [5, 6, 7, 8, 9, 8, 7, 6])  // row 3 = row 1
        #expect(Array(p.data[32..<40]) == [0, 1, 2, 3, 4, 3, 2, 1])  // row 4 = row 0
        #expect(Array(p.data[40..<48]) == [15, 16, 17, 18, 19, 18, 17, 16])  // G plane starts
    }

    @Test func reflectMirrorsWithoutRepeatingTheEdge() {
        let reflect = Reflection.index
        #expect((-3...7).map { reflect($0, 5) } == [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1])
        #expect((-5...5).allSatisfy { reflect($0, 1) == 0 })
        #expect((-20...20).map { reflect($0, 2) } .allSatisfy { $0 == 0 || $0 == 1 })
        #expect(reflect(-1, 2) == 1 && reflect(2, 2) == 0 && reflect(3, 2) == 1)
        // Longer than the image: folded again.
        #expect(Reflection.pad([1, 2, 3], planes: 1, width: 3, height: 1, toWidth: 8, height: 2) == [1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2])
    }
}
