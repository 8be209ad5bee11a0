import Foundation

/// MT-RNN parameters loaded from a safetensors file with exactly the
/// authors' state_dict names and shapes. Loading is strict: missing, extra
/// and mis-shaped tensors are all reported by name. Immutable, so one
/// instance can feed networks on many threads.
public final class MTRNNWeights: Sendable {
    public struct Tensor: Sendable {
        public let shape: [Int]
        public let values: [Float]
    }

    public let tensors: [String: Tensor]
    public let source: String

    public static func load(contentsOf url: URL) throws -> MTRNNWeights {
        let file = try SafeTensorsFile(contentsOf: url)
        return try MTRNNWeights(tensors: file.tensors.mapValues { Tensor(shape: $0.shape, values: $0.values) }, source: url.path)
    }

    /// Checks the set of tensors against the architecture.
    public init(tensors: [String: Tensor], source: String = "<memory>") throws {
        let expected = Architecture.expectedShapes
        var problems: [String] = []
        let missing = expected.keys.filter { tensors[$0] == nil }.sorted()
        let extra = tensors.keys.filter { expected[$0] == nil }.sorted()
        let misshaped = expected.compactMap { name, shape -> String? in
            guard let t = tensors[name], t.shape != shape else { return nil }
            return "\(name) is \(t.shape), expected \(shape)"
        }.sorted()
        if !missing.isEmpty { problems.append("missing tensors: " + missing.joined(separator: ", ")) }
        if !extra.isEmpty { problems.append("unexpected tensors: " + extra.joined(separator: ", ")) }
        if !misshaped.isEmpty { problems.append("wrong shapes: " + misshaped.joined(separator: "; ")) }
        if !problems.isEmpty {
            throw MTRNNError.weightsFile(path: source, reason: "is not an MT-RNN checkpoint with the authors' parameter names ("
                + problems.joined(separator: "; ") + "); convert it with training/export.py")
        }
        self.tensors = tensors
        self.source = source
    }

    /// Skips validation (tests that feed single layers).
    init(unchecked tensors: [String: Tensor]) {
        self.tensors = tensors
        source = "<unchecked>"
    }

    func values(_ name: String) -> [Float] { tensors[name]!.values }

    /// Seeded random weights with the right shapes (benchmarks and tests
    /// that only need timing, never quality). Scaled as the fixtures are, so
    /// that six iterations keep activations in a sane range.
    public static func random(seed: UInt64) -> MTRNNWeights {
        var rng = SplitMix64(seed: seed)
        var tensors: [String: Tensor] = [:]
        let mean: [Float] = [0.4488, 0.4371, 0.4040]
        for (name, shape) in Architecture.expectedShapes.sorted(by: { $0.key < $1.key }) {
            let count = shape.reduce(1, *)
            var v = [Float](repeating: 0, count: count)
            if name.hasSuffix("_mean.weight") {
                for i in 0..<3 { v[i * 3 + i] = 1 }
            } else if name.hasSuffix("_mean.bias") {
                let sign: Float = name.hasPrefix("sub") ? -255 : 255
                for i in 0..<3 { v[i] = sign * mean[i] }
            } else if name.hasSuffix("bias") {
                for i in 0..<count { v[i] = rng.uniform(-0.05, 0.05) }
            } else {
                // PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fan_in is dim 1 x k x k for
                // conv, dim 0 x k x k for the transposed convs' [in, out, k, k] storage reads the same way in torch.
                let fanIn = shape[1] * shape[2] * shape[3]
                var bound = 1 / Float(fanIn).squareRoot()
                if name.contains("stem.2") { bound *= 0.5 }
                if name.hasPrefix("img_prd") { bound *= 4 }
                for i in 0..<count { v[i] = rng.uniform(-bound, bound) }
            }
            tensors[name] = Tensor(shape: shape, values: v)
        }
        // swiftlint:disable:next force_try
        return try! MTRNNWeights(tensors: tensors, source: "<random seed \(seed)>")
    }
}

/// A tiny deterministic generator (SplitMix64), so that seeded values are the
/// same everywhere: the seeded weights here, and the tests' random images and
/// damaged files (the one copy of it in the package).
public struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in lo..<hi, from the top 24 bits.
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
}
