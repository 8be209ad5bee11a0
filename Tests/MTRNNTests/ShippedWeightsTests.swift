import Foundation
import Testing
@testable import MTRNN
import TestSupport

/// The weights the daemon ships (Models/mtrnn.safetensors) against the PyTorch
/// reference on a GoPro validation crop (training/make_shipped_fixture.py).
/// The fixture records the SHA-256 of the weights it was made from, so a new
/// export without a new fixture fails here instead of testing old numbers.
@Suite struct ShippedWeightsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let weightsURL = root.appendingPathComponent("Models/mtrnn.safetensors")

    static func sha256(_ url: URL) throws -> String {
        runProcess(["/usr/bin/sha256sum", url.path]).stdout.split(separator: " ").first.map(String.init) ?? ""
    }

    @Test func fixtureWasMadeFromTheShippedWeights() throws {
        let fixture = try SafeTensorsFile(contentsOf: Fixtures.url("shipped.safetensors"))
        let recorded = try #require(fixture.metadata["weights_sha256"])
        #expect(try Self.sha256(Self.weightsURL) == recorded,
                "Models/mtrnn.safetensors changed: run training/make_shipped_fixture.py")
    }

    @Test func engineMatchesPyTorchOnAValidationCrop() throws {
        let fixture = try SafeTensorsFile(contentsOf: Fixtures.url("shipped.safetensors"))
        let weights = try MTRNNWeights.load(contentsOf: Self.weightsURL)
        let input = try #require(fixture.tensors["input"])
        let image = PlanarImage(width: input.shape[3], height: input.shape[2], data: input.values)
        let network = try MTRNNNetwork(weights: weights, precision: .f32)
        var outputs: [Int: [Float]] = [:]
        _ = try network.run(image, iterations: 6) { i, out in outputs[i] = out.data }
        for i in [1, 6] {
            let want = try #require(fixture.tensors["out\(i)"]).values
            let e = ErrorStats(try #require(outputs[i]), want)
            print("shipped weights, iteration \(i): \(e)")
            #expect(e.relativeL2 <= 1e-4, "iteration \(i): \(e)")
            if i == 6 { #expect(e.maxAbs <= 0.05, "\(e)") }
        }
    }
}
