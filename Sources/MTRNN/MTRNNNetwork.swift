import Foundation

/// Numeric precision of the engine. bf16 keeps weights and activations in
/// bfloat16 (f32 accumulation, f32 input and output) and needs avx512_bf16 or AMX.
public enum Precision: String, Sendable, CaseIterable {
    case f32, bf16
}

/// MT-RNN on the CPU through oneDNN. One instance per worker thread (it owns
/// its oneDNN engine, stream, buffers and recurrent state); instances on
/// different threads share nothing but the immutable weights.
public final class MTRNNNetwork {
    /// 2 x multiply-adds per input pixel for one iteration, counting only the
    /// network's real convolutions (see training/mtrnn_model.py flops_per_pixel).
    public static let flopsPerPixelPerIteration = 736_320

    /// Whether `.bf16` runs on this CPU with oneDNN's bf16 kernels (it would
    /// otherwise fall back to reference loops hundreds of times slower).
    public static func bf16Supported() -> Bool { DNNL.hasBF16Kernels }

    /// Why bf16 cannot run here, or nil when it can.
    public static var bf16UnsupportedReason: String? {
        bf16Supported() ? nil
            : "bf16 needs a CPU with avx512_bf16 or AMX; this CPU has \(DNNL.isaName(DNNL.effectiveISA)) only"
    }

    public let weights: MTRNNWeights
    public let precision: Precision
    public let threads: Int
    private let engine: Engine
    private var plans: [IterationPlan] = []  // most recently used last
    private static let maxPlans = 3

    /// Per-layer seconds, summed over runs, when profiling is on (the
    /// MTRNN_PROFILE=1 environment variable turns it on at creation).
    public var profiling: Bool
    public private(set) var profile = LayerProfile()

    /// - threads: OpenMP threads for each layer; 0 keeps oneDNN's default (all cores).
    public init(weights: MTRNNWeights, precision: Precision = .f32, threads: Int = 0) throws {
        if precision == .bf16, let reason = Self.bf16UnsupportedReason {
            throw MTRNNError.unsupportedPrecision(reason)
        }
        guard threads >= 0 else { throw MTRNNError.invalidInput("threads must be 0 (default) or more, got \(threads)") }
        self.weights = weights
        self.precision = precision
        self.threads = threads
        engine = try Engine()
        profiling = ProcessInfo.processInfo.environment["MTRNN_PROFILE"] == "1"
    }

    /// Deblurs `image` with `iterations` recurrent passes. Any size: the
    /// image is reflect-padded at the bottom and right to a multiple of 4,
    /// every iteration runs on the padded image, and each output is cropped
    /// back. `afterIteration` sees each iteration's (cropped) estimate.
    public func run(_ image: PlanarImage, iterations: Int = 6,
                    afterIteration: ((Int, PlanarImage) -> Void)? = nil) throws -> PlanarImage {
        try run(image, iterations: iterations, afterIteration: afterIteration, stop: nil).image
    }

    /// `run`, stopping early once an iteration changes the image by less than
    /// `stopBelow` (mean absolute change per sample, in the image's units:
    /// 0...255 for photos), after at least `minimum` iterations. The paper's
    /// own curve flattens after 6-7 iterations; on flat or sharp regions the
    /// update is small early. Returns the image and the iterations run.
    public func run(_ image: PlanarImage, iterations: Int, stopBelow: Float,
                    minimum: Int = 2) throws -> (image: PlanarImage, iterations: Int) {
        try run(image, iterations: iterations, afterIteration: nil) { i, previous, current in
            guard i >= minimum else { return false }
            var sum: Float = 0
            previous.withUnsafeBufferPointer { a in
                current.withUnsafeBufferPointer { b in
                    for k in 0..<a.count { sum += abs(a[k] - b[k]) }
                }
            }
            return sum / Float(max(current.count, 1)) < stopBelow
        }
    }

    private func run(_ image: PlanarImage, iterations: Int, afterIteration: ((Int, PlanarImage) -> Void)?,
                     stop: ((Int, [Float], [Float]) -> Bool)?) throws -> (image: PlanarImage, iterations: Int) {
        guard image.width > 0, image.height > 0, image.data.count == 3 * image.width * image.height else {
            throw MTRNNError.invalidInput("image of \(image.width)x\(image.height) holds \(image.data.count) values, "
                + "expected 3 x width x height = \(3 * max(image.width, 0) * max(image.height, 0))")
        }
        guard iterations >= 1 else { throw MTRNNError.invalidInput("iterations must be at least 1, got \(iterations)") }
        DNNL.setThreadsForCurrentThread(threads)
        let pw = (image.width + 3) / 4 * 4, ph = (image.height + 3) / 4 * 4
        let plan = try plan(height: ph, width: pw)
        plan.profile = profiling ? profile : nil
        defer { if let p = plan.profile { profile = p }; plan.profile = nil }
        let x = image.reflectPadded(toWidth: pw, height: ph)
        var xd = x
        for i in 1...iterations {
            let previous = xd
            xd = try plan.iterate(x: x, xd: xd, first: i == 1)
            afterIteration?(i, xd.cropped(toWidth: image.width, height: image.height))
            if let stop, i < iterations, stop(i, previous.data, xd.data) {
                return (xd.cropped(toWidth: image.width, height: image.height), i)
            }
        }
        return (xd.cropped(toWidth: image.width, height: image.height), iterations)
    }

    /// Creates (or reuses) the primitives for one padded size ahead of time,
    /// so the first tile does not pay for it. Returns the layers' kernels.
    @discardableResult
    public func prepare(width: Int, height: Int) throws -> [(layer: String, kernel: String)] {
        DNNL.setThreadsForCurrentThread(threads)
        let p = try plan(height: (height + 3) / 4 * 4, width: (width + 3) / 4 * 4)
        return p.implementations.map { (layer: $0.0, kernel: $0.1) }
    }

    public func resetProfile() { profile = LayerProfile() }

    /// F1 and F2 after the last iteration on an image of this size (tests).
    func lastFeatures(width: Int, height: Int) throws -> (f1: [Float], f2: [Float]) {
        try plan(height: (height + 3) / 4 * 4, width: (width + 3) / 4 * 4).lastFeatures
    }

    private func plan(height: Int, width: Int) throws -> IterationPlan {
        if let i = plans.firstIndex(where: { $0.height == height && $0.width == width }) {
            let p = plans.remove(at: i)
            plans.append(p)
            return p
        }
        let p = try IterationPlan(engine: engine, weights: weights, dataType: precision == .bf16 ? .bf16 : .f32,
                                  height: height, width: width)
        if plans.count >= Self.maxPlans { plans.removeFirst() }
        plans.append(p)
        return p
    }
}

extension MTRNNNetwork {
    /// The instruction set oneDNN runs on here, in words (for reports).
    public static var cpuDescription: String { DNNL.isaName(DNNL.effectiveISA) }
}
