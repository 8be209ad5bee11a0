import CWinograd
import Foundation
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Which algorithm runs the ResBlocks' 3x3 convolutions (87 % of the work).
/// `MTRNN_CONV3X3=direct|winograd|f43|f63` chooses; unset means `standard`.
enum Conv3x3Algorithm: String, Sendable, CaseIterable {
    /// oneDNN's direct convolution.
    case direct
    /// Our Winograd F(4x4, 3x3) (CWinograd): 4x fewer multiply-adds, about
    /// 1e-6 relative error per layer in f32 (BENCHMARKS.md). Also `f43`.
    case winograd
    /// Our Winograd F(6x6, 3x3): 5.06x fewer multiply-adds than direct,
    /// about 2x F(4,3)'s error per layer; not the default, as it measured no
    /// faster than F(4,3) here (BENCHMARKS.md).
    case winograd63 = "f63"
    /// Our Winograd F(2x2, 3x3): 2.25x fewer multiply-adds than direct, the
    /// smallest rounding error of the three; the candidate for a bf16 GEMM
    /// (`MTRNN_WINOGRAD_GEMM`). Not the default: more work than F(4,3).
    case winograd23 = "f23"

    /// The output tile's side of a Winograd algorithm (nil for direct).
    var winogradTile: Int? {
        switch self {
        case .direct: nil
        case .winograd: 4
        case .winograd63: 6
        case .winograd23: 2
        }
    }

    /// The Winograd algorithm with output tiles of this side.
    init?(winogradTile: Int) {
        guard let a = Self.allCases.first(where: { $0.winogradTile == winogradTile }) else { return nil }
        self = a
    }

    static let standard: Conv3x3Algorithm = .winograd
    static let environmentVariable = "MTRNN_CONV3X3"

    /// Lets tests pick an algorithm for the networks they create, without
    /// touching the process environment that parallel tests share.
    @TaskLocal static var override: Conv3x3Algorithm?

    static func configured(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Conv3x3Algorithm {
        if let override { return override }
        guard let value = environment[environmentVariable], !value.isEmpty else { return standard }
        guard let a = value == "f43" ? .winograd : Conv3x3Algorithm(rawValue: value) else {
            throw MTRNNError.invalidInput("\(environmentVariable)=\(value) is not an algorithm: "
                + "set it to direct, winograd (or f43: Winograd F(4,3)), f63 (Winograd F(6,3)) or f23 (Winograd F(2,3)), "
                + "or unset it for the default (\(standard.rawValue))")
        }
        return a
    }
}

/// The precision of the Winograd GEMM's inputs. `MTRNN_WINOGRAD_GEMM=f32|bf16`
/// chooses; unset means f32. `bf16` rounds the transformed data and weights
/// to bfloat16 (nearest, ties to even) and keeps the f32 GEMM, which then
/// computes what a bf16 GEMM with f32 accumulation (AVX512_BF16's vdpbf16ps)
/// would: every bf16 x bf16 product is exact in f32. It measures, on any CPU,
/// the quality a bf16 Winograd would give (issue 21's 0.05 dB rule); it is
/// not faster.
enum WinogradGEMMPrecision: String, Sendable, CaseIterable {
    case f32
    case bf16

    static let environmentVariable = "MTRNN_WINOGRAD_GEMM"
    @TaskLocal static var override: WinogradGEMMPrecision?

    static func configured(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WinogradGEMMPrecision {
        if let override { return override }
        guard let value = environment[environmentVariable], !value.isEmpty else { return .f32 }
        guard let p = WinogradGEMMPrecision(rawValue: value) else {
            throw MTRNNError.invalidInput("\(environmentVariable)=\(value) is not a precision: set it to f32 or bf16 "
                + "(bf16 rounds the Winograd GEMM's inputs to bfloat16, to measure the quality of a bf16 Winograd), "
                + "or unset it for f32")
        }
        return p
    }
}

/// `MTRNN_RESBLOCK_INT8=1` simulates int8 ResBlock convolutions where the
/// Winograd path runs (what
/// AVX512_VNNI's vpdpbusd would compute): each convolution's input rounded to
/// 8 bits per tensor (symmetric, 127 steps of its largest magnitude, chosen at
/// each call: dynamic quantisation) and its weights per output channel; the
/// f32 Winograd then computes that int8 convolution's sums to about 1e-6. For
/// measuring int8's quality on any CPU (issue 21's stretch); not faster.
enum Int8Simulation {
    static let environmentVariable = "MTRNN_RESBLOCK_INT8"
    @TaskLocal static var override: Bool?

    static func configured(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Bool {
        if let override { return override }
        switch environment[environmentVariable] {
        case nil, "", "0": return false
        case "1": return true
        case let value?:
            throw MTRNNError.invalidInput("\(environmentVariable)=\(value) is not 0 or 1: set it to 1 to simulate "
                + "int8 residual-block convolutions (to measure their quality), or unset it")
        }
    }

    /// x rounded to 127 steps of its largest magnitude either side of 0.
    static func quantise(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Float>) {
        var peak: Float = 0
        for i in 0..<count { peak = max(peak, abs(x[i])) }
        guard peak > 0 else { q.update(from: x, count: count); return }
        let step = peak / 127
        for i in 0..<count { q[i] = (x[i] / step).rounded(.toNearestOrEven) * step }
    }

    /// [cout][cin][3][3] weights, each output channel's quantised on its own.
    static func quantisedPerOutputChannel(_ w: [Float], channels: Int) -> [Float] {
        var out = w
        let per = w.count / channels
        w.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for o in 0..<channels {
                    quantise(src.baseAddress! + o * per, count: per, into: dst.baseAddress! + o * per)
                }
            }
        }
        return out
    }
}

/// A 3x3, stride-1, padding-1 convolution (C -> C, bias, LeakyReLU 0.1 or a
/// residual add) by Winograd F(4x4, 3x3), F(6x6, 3x3) or F(2x2, 3x3), for f32 tensors:
/// the one shape of every ResBlock convolution. oneDNN 2.6.3 has Winograd
/// only for AVX-512 (and not for the shapes here); on AVX2 it runs 3x3
/// layers directly.
/// - nChw8c: the AVX2 + FMA kernels (`wino_conv3x3`).
/// - nChw16c: the AVX-512F kernels where the CPU has AVX-512 (`wino16_conv3x3`),
///   else their emulation on AVX2 + FMA, which gives the same bits (how an
///   AVX2 machine runs and tests this path under `MTRNN_LAYOUT=nChw16c`).
///
/// Runs on the calling thread, or splits the tiles over as many threads as
/// OpenMP would give oneDNN here (the network's `threads`), so that a
/// network with 1 thread per layer stays on 1 thread.
final class WinogradConvolution {
    let name: String
    let channels: Int
    let size: (h: Int, w: Int)
    let postOp: Convolution.PostOp
    /// The output tile's side: 4 for F(4,3), 6 for F(6,3), 2 for F(2,3).
    let outputTile: Int
    /// Channels per block of the layout: 8 (nChw8c) or 16 (nChw16c).
    let block: Int
    /// The GEMM's inputs rounded to bfloat16 (`WinogradGEMMPrecision.bf16`).
    let bf16GEMM: Bool
    /// The input and weights rounded to int8 (`Int8Simulation`).
    let int8: Bool
    private let weights: TransformedWeights
    private let bias: UnsafeMutablePointer<Float>

    /// Whether this CPU, type, layout and channel count can take the Winograd path.
    static func applies(channels: Int, dataType: DataType, layout: Layout) -> Bool {
        guard cpuSupported, dataType == .f32, channels > 0 else { return false }
        switch layout {
        case .blocked(8): return channels % 16 == 0
        case .blocked(16): return channels % 32 == 0
        default: return false
        }
    }

    /// AVX2 + FMA: every kernel here runs (the nChw16c one at least emulated).
    static let cpuSupported = wino_cpu_supported() != 0
    /// AVX-512F: the nChw16c kernel runs natively.
    static let avx512Supported = wino16_avx512_supported() != 0

    /// What runs a layer of this block size, for reports.
    static func kernelDescription(block: Int) -> String {
        block == 16 ? (avx512Supported ? "avx512f" : "avx2+fma emulating the avx512f kernel") : "avx2+fma"
    }

    /// - weights: [channels, channels, 3, 3] f32 (PyTorch order); bias: [channels].
    /// - postOp: `.leakyReLU` (dst = LReLU(conv + b)) or `.sum` (dst += conv + b).
    /// - outputTile: 4 (F(4,3)), 6 (F(6,3)) or 2 (F(2,3)).
    /// - block: 8 (nChw8c tensors) or 16 (nChw16c); gemm: `.bf16` rounds the GEMM's inputs.
    init(name: String, channels: Int, size: (h: Int, w: Int), weights w: [Float], bias b: [Float],
         postOp: Convolution.PostOp, outputTile: Int = 4, block: Int = 8, gemm: WinogradGEMMPrecision = .f32,
         int8: Bool = false) {
        precondition(block == 8 || block == 16, "\(name): no Winograd kernel for blocks of \(block) channels")
        precondition(channels % (2 * block) == 0 && w.count == channels * channels * 9 && b.count == channels, "\(name): shape")
        precondition([2, 4, 6].contains(outputTile), "\(name): Winograd F(\(outputTile),3) is not built")
        precondition(postOp != .none, "\(name): the Winograd path fuses LeakyReLU or the residual sum")
        self.name = name
        self.channels = channels
        self.size = size
        self.postOp = postOp
        self.outputTile = outputTile
        self.block = block
        bf16GEMM = gemm == .bf16
        self.int8 = int8
        weights = TransformedWeights.shared(for: int8 ? Int8Simulation.quantisedPerOutputChannel(w, channels: channels) : w,
                                            channels: channels, outputTile: outputTile, block: block, gemm: gemm)
        bias = .allocate(capacity: channels)
        bias.initialize(from: b, count: channels)
    }

    deinit { bias.deallocate() }

    /// dst = LReLU(conv(src) + b), or dst += conv(src) + b. src and dst are
    /// distinct f32 tensors of this layer's shape and layout (nChw8c or nChw16c).
    func execute(src: Tensor, dst: Tensor, scratch: Scratch) {
        precondition(src.buffer != dst.buffer, "\(name): Winograd cannot run in place")
        for t in [src, dst] {
            precondition(t.layout == .blocked(block) && t.dataType == .f32 && t.channels == channels
                         && t.height == size.h && t.width == size.w, "\(name): tensor shape or format")
        }
        let m = Int32(outputTile)
        var source = src.buffer.assumingMemoryBound(to: Float.self)
        var quantised: UnsafeMutableRawPointer?
        if int8 {
            let count = channels * size.h * size.w
            guard posix_memalign(&quantised, 64, count * 4) == 0, let q = quantised else {
                fatalError("out of memory allocating the int8 simulation's \(count * 4)-byte input")
            }
            Int8Simulation.quantise(source, count: count, into: q.bindMemory(to: Float.self, capacity: count))
            source = q.assumingMemoryBound(to: Float.self)
        }
        defer { free(quantised) }
        let job = Job(m: m, src: source, dst: dst.buffer.assumingMemoryBound(to: Float.self),
                      u: weights.buffer, bias: bias, channels: Int32(channels), height: Int32(size.h), width: Int32(size.w),
                      mode: Int32(postOp == .leakyReLU ? WINO_LEAKY_RELU : WINO_ACCUMULATE) | (bf16GEMM ? Int32(WINO_BF16_GEMM) : 0),
                      block16: block == 16)
        let c = Int32(channels)
        scratch.run(tiles: Int(wino_tile_count(m, Int32(size.h), Int32(size.w))),
                    rowTiles: (size.w + outputTile - 1) / outputTile,
                    floats: Int(block == 16 ? wino16_scratch_floats(m, c, c) : wino_scratch_floats(m, c, c)), job.run)
    }

    /// One call's arguments. Sendable because each thread's tiles write only
    /// their own output pixels and their own scratch.
    private struct Job: @unchecked Sendable {
        let m: Int32
        let src: UnsafeMutablePointer<Float>, dst: UnsafeMutablePointer<Float>
        let u: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>
        let channels: Int32, height: Int32, width: Int32, mode: Int32
        let block16: Bool

        func run(tiles: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
            let (begin, end) = (Int32(tiles.lowerBound), Int32(tiles.upperBound))
            if block16 {
                // AVX-512F where the CPU has it, else the emulation; -1 only without AVX2 (`applies` refuses that).
                let done = wino16_conv3x3(Int32(WINO16_AUTO), m, src, dst, u, bias, channels, channels, height, width,
                                          mode, begin, end, scratch)
                precondition(done == 0, "Winograd nChw16c: no kernel runs on this CPU")
            } else {
                wino_conv3x3(m, src, dst, u, bias, channels, channels, height, width, mode, begin, end, scratch)
            }
        }
    }

    /// OpenMP's thread count for this thread: what oneDNN would use for a
    /// layer here (the network sets it per thread; libgomp comes with libdnnl).
    private static let ompGetMaxThreads: (@convention(c) () -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "omp_get_max_threads") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) () -> Int32).self)
    }()

    static func openMPThreads() -> Int { Int(ompGetMaxThreads?() ?? 1) }

    /// Per-thread work space of the transforms (110 KB each, sized in C to
    /// stay in L2). One per ResBlock: its two convolutions never run
    /// at the same time, and a network runs on one thread at a time.
    final class Scratch {
        private var allocated: [UnsafeMutablePointer<Float>] = []
        private var floats = 0

        func buffers(_ count: Int, floats needed: Int) -> [UnsafeMutablePointer<Float>] {
            if needed > floats {
                allocated.forEach { free($0) }
                allocated = []
                floats = needed
            }
            while allocated.count < count {
                var raw: UnsafeMutableRawPointer?
                guard posix_memalign(&raw, 64, floats * 4) == 0, let raw else {
                    fatalError("out of memory allocating \(floats * 4) bytes of Winograd scratch")
                }
                // Zeros: GEMM rows past a group's last tile read it (never written out).
                memset(raw, 0, floats * 4)
                allocated.append(raw.bindMemory(to: Float.self, capacity: floats))
            }
            return Array(allocated.prefix(count))
        }

        /// Runs `tiles` tiles split evenly over OpenMP's thread count (this
        /// thread alone when there is one), each share with its own buffer of
        /// `floats`. A thread gets a whole row of tiles' worth of work
        /// (`rowTiles`) at least, else the split costs more than it saves.
        func run(tiles: Int, rowTiles: Int, floats: Int,
                 _ body: @escaping @Sendable (_ tiles: Range<Int>, _ scratch: UnsafeMutablePointer<Float>) -> Void) {
            let threads = max(1, min(WinogradConvolution.openMPThreads(), tiles / max(rowTiles, 1)))
            let shared = Buffers(pointers: buffers(threads, floats: floats))
            if threads == 1 {
                body(0..<tiles, shared.pointers[0])
                return
            }
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                body(tiles * i / threads..<tiles * (i + 1) / threads, shared.pointers[i])
            }
        }

        /// Each share writes only its own buffer.
        private struct Buffers: @unchecked Sendable { let pointers: [UnsafeMutablePointer<Float>] }

        deinit { allocated.forEach { free($0) } }
    }
}

/// Weights after the Winograd transform (36 x C x C floats for F(4,3), 4x
/// the original; 64 x C x C for F(6,3); 16 x cin x 4 cout for the
/// transposed convolutions' F(3,2)), shared by every plan and network that
/// uses the same weights array: a network keeps a plan per tile size, and
/// the pipeline one network per worker, which would otherwise hold up to 6
/// copies of 37 MB.
final class TransformedWeights: @unchecked Sendable {  // immutable after init
    let buffer: UnsafeMutablePointer<Float>
    /// Keeps the source storage alive, so its address identifies it.
    private let source: [Float]

    private init(_ w: [Float], floats count: Int, transform: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        source = w
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, count * 4) == 0, let raw else {
            fatalError("out of memory allocating \(count * 4) bytes of Winograd weights")
        }
        buffer = raw.bindMemory(to: Float.self, capacity: count)
        w.withUnsafeBufferPointer { transform($0.baseAddress!, buffer) }
    }

    deinit { free(buffer) }

    /// kind: the 3x3 layers' output tile (4, 6; + 100 for the nChw16c kernels' panels, + 1000 rounded to
    /// bfloat16), or 0 for a transposed convolution (-16 for the nChw16c kernel's).
    private struct Key: Hashable { let address: UInt, count: Int, kind: Int }
    private final class WeakEntry { weak var value: TransformedWeights? }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: WeakEntry] = [:]  // guarded by lock

    /// The transform of `w`, made once for as long as some layer uses it.
    /// An array's storage is immutable while we hold it (copy on write), so
    /// the same address means the same values; a live entry holds its
    /// storage, so the address cannot be reused for other values meanwhile.
    static func shared(for w: [Float], channels: Int, outputTile: Int = 4, block: Int = 8,
                       gemm: WinogradGEMMPrecision = .f32) -> TransformedWeights {
        let c = Int32(channels), m = Int32(outputTile), floats = Int(wino_weights_floats(m, c, c))
        return shared(w, kind: outputTile + (block == 16 ? 100 : 0) + (gemm == .bf16 ? 1000 : 0), floats: floats) {
            block == 16 ? wino16_transform_weights(m, $0, c, c, $1) : wino_transform_weights(m, $0, c, c, $1)
            if gemm == .bf16 { wino_round_bf16($1, floats) }
        }
    }

    /// The transform of a transposed convolution's [cin, cout, 4, 4] weights
    /// (PyTorch ConvTranspose2d order), by way of their 2x2 form, for the
    /// nChw8c (block 8) or nChw16c (16) kernel.
    static func sharedTransposed(for w: [Float], cin: Int, cout: Int, block: Int = 8) -> TransformedWeights {
        shared(w, kind: block == 16 ? -16 : 0, floats: Int(wino_up_weights_floats(Int32(cin), Int32(cout)))) { _, u in
            TransposedConvolution.weights2x2(w, cin: cin, cout: cout).withUnsafeBufferPointer {
                block == 16 ? wino16_up_transform_weights($0.baseAddress!, Int32(cin), Int32(cout), u)
                    : wino_up_transform_weights($0.baseAddress!, Int32(cin), Int32(cout), u)
            }
        }
    }

    private static func shared(_ w: [Float], kind: Int, floats: Int,
                               transform: (UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> TransformedWeights {
        let key = w.withUnsafeBufferPointer { Key(address: UInt(bitPattern: $0.baseAddress), count: $0.count, kind: kind) }
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[key]?.value { return hit }
        cache = cache.filter { $0.value.value != nil }
        let made = TransformedWeights(w, floats: floats, transform: transform)
        let entry = WeakEntry()
        entry.value = made
        cache[key] = entry
        return made
    }
}

/// How the decoder's two transposed convolutions run.
/// `MTRNN_UPCONV=direct|winograd` chooses; unset means `standard`.
enum UpconvAlgorithm: String, Sendable, CaseIterable {
    /// oneDNN's direct 2x2 convolution to 4 x cout channels, then the pixel
    /// shuffle in Swift (TransposedConvolution).
    case direct
    /// Our Winograd F(3x3, 2x2) for the same 2x2 convolution, writing the
    /// shuffled result directly (CWinograd `wino_up_conv`).
    case winograd

    static let standard: UpconvAlgorithm = .winograd
    static let environmentVariable = "MTRNN_UPCONV"

    @TaskLocal static var override: UpconvAlgorithm?

    static func configured(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> UpconvAlgorithm {
        if let override { return override }
        guard let value = environment[environmentVariable], !value.isEmpty else { return standard }
        guard let a = UpconvAlgorithm(rawValue: value) else {
            throw MTRNNError.invalidInput("\(environmentVariable)=\(value) is not an algorithm: "
                + "set it to direct or winograd, or unset it for the default (\(standard.rawValue))")
        }
        return a
    }
}

/// A transposed convolution (ConvTranspose2d k4 s2 p1, bias, LeakyReLU 0.1)
/// by Winograd F(3x3, 2x2), f32 nChw8c (AVX2 + FMA) or nChw16c (AVX-512F,
/// or its emulation on AVX2, as `WinogradConvolution`): the 2x2 convolution
/// of `TransposedConvolution` with the pixel shuffle fused into its output
/// transform. Threads as `WinogradConvolution`.
final class WinogradUpconvolution {
    let name: String
    let cin: Int, cout: Int
    let size: (h: Int, w: Int)
    /// Channels per block of the layout: 8 (nChw8c) or 16 (nChw16c).
    let block: Int
    private let weights: TransformedWeights
    private let bias4: UnsafeMutablePointer<Float>
    private let scratch = WinogradConvolution.Scratch()

    static func applies(cin: Int, cout: Int, dataType: DataType, layout: Layout, leakyReLU: Bool) -> Bool {
        guard WinogradConvolution.cpuSupported, dataType == .f32, leakyReLU, cin > 0, cout > 0 else { return false }
        switch layout {
        case .blocked(8): return cin % 16 == 0 && cout % 8 == 0
        case .blocked(16): return cin % 16 == 0 && cout % 16 == 0
        default: return false
        }
    }

    /// - weights: [cin, cout, 4, 4] (PyTorch ConvTranspose2d order); bias: [cout]; size: the input's.
    init(name: String, cin: Int, cout: Int, size: (h: Int, w: Int), weights w: [Float], bias b: [Float], block: Int = 8) {
        precondition(block == 8 || block == 16, "\(name): no Winograd kernel for blocks of \(block) channels")
        precondition(cin % 16 == 0 && cout % block == 0 && w.count == cin * cout * 16 && b.count == cout, "\(name): shape")
        self.name = name
        self.cin = cin
        self.cout = cout
        self.size = size
        self.block = block
        weights = TransformedWeights.sharedTransposed(for: w, cin: cin, cout: cout, block: block)
        bias4 = .allocate(capacity: 4 * cout)
        for g in 0..<4 { (bias4 + g * cout).initialize(from: b, count: cout) }
    }

    deinit { bias4.deallocate() }

    /// dst (cout x 2H x 2W) = LReLU(ConvTranspose(src) + b); every pixel written.
    func execute(src: Tensor, dst: Tensor) {
        precondition(src.buffer != dst.buffer, "\(name): cannot run in place")
        precondition(src.layout == .blocked(block) && src.dataType == .f32 && src.channels == cin
                     && src.height == size.h && src.width == size.w, "\(name): source shape or format")
        precondition(dst.layout == .blocked(block) && dst.dataType == .f32 && dst.channels == cout
                     && dst.height == 2 * size.h && dst.width == 2 * size.w, "\(name): destination shape or format")
        let (h, w) = (Int32(size.h), Int32(size.w))
        let job = Job(src: src.buffer.assumingMemoryBound(to: Float.self), dst: dst.buffer.assumingMemoryBound(to: Float.self),
                      u: weights.buffer, bias: bias4, cin: Int32(cin), cout: Int32(cout), height: h, width: w,
                      block16: block == 16)
        let floats = block == 16 ? wino16_up_scratch_floats(Int32(cin), Int32(cout)) : wino_up_scratch_floats(Int32(cin), Int32(cout))
        scratch.run(tiles: Int(wino_up_tile_count(h, w)), rowTiles: (size.w + 3) / 3, floats: Int(floats), job.run)
    }

    private struct Job: @unchecked Sendable {
        let src: UnsafeMutablePointer<Float>, dst: UnsafeMutablePointer<Float>
        let u: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>
        let cin: Int32, cout: Int32, height: Int32, width: Int32
        let block16: Bool

        func run(tiles: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
            let (begin, end) = (Int32(tiles.lowerBound), Int32(tiles.upperBound))
            if block16 {
                let done = wino16_up_conv(Int32(WINO16_AUTO), src, dst, u, bias, cin, cout, height, width, begin, end, scratch)
                precondition(done == 0, "Winograd nChw16c: no kernel runs on this CPU")
            } else {
                wino_up_conv(src, dst, u, bias, cin, cout, height, width, begin, end, scratch)
            }
        }
    }

}
