import Foundation
@testable import MTRNN

/// The golden files written by training/make_fixtures.py.
enum Fixtures {
    static func url(_ name: String) -> URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(name)
    }

    static let weights: MTRNNWeights = try! MTRNNWeights.load(contentsOf: url("weights.safetensors"))
    static let network: SafeTensorsFile = try! SafeTensorsFile(contentsOf: url("network.safetensors"))
    static let layers: SafeTensorsFile = try! SafeTensorsFile(contentsOf: url("layers.safetensors"))

    /// A [1, 3, H, W] fixture tensor as a planar image.
    static func image(_ name: String) -> PlanarImage {
        let t = network.tensors[name]!
        return PlanarImage(width: t.shape[3], height: t.shape[2], data: t.values)
    }
}

struct ErrorStats: CustomStringConvertible {
    let relativeL2: Double
    let maxAbs: Double

    init(_ got: [Float], _ want: [Float]) {
        precondition(got.count == want.count, "size \(got.count) vs \(want.count)")
        var num = 0.0, den = 0.0, m = 0.0
        for (g, w) in zip(got, want) {
            let d = Double(g) - Double(w)
            num += d * d
            den += Double(w) * Double(w)
            m = max(m, abs(d))
        }
        relativeL2 = (num / max(den, 1e-30)).squareRoot()
        maxAbs = m
    }

    var description: String {
        "relative L2 \(String(format: "%.3e", relativeL2)), max abs \(String(format: "%.3e", maxAbs))"
    }
}
