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

    /// The output tile's side of a Winograd algorithm (nil for direct).
    var winogradTile: Int? {
        switch self {
        case .direct: nil
        case .winograd: 4
        case .winograd63: 6
        }
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
                + "set it to direct, winograd (or f43: Winograd F(4,3)) or f63 (Winograd F(6,3)), "
                + "or unset it for the default (\(standard.rawValue))")
        }
        return a
    }
}

/// A 3x3, stride-1, padding-1 convolution (C -> C, bias, LeakyReLU 0.1 or a
/// residual add) by Winograd F(4x4, 3x3) or F(6x6, 3x3) on AVX2 + FMA, for f32 nChw8c
/// tensors: the one shape of every ResBlock convolution. oneDNN 2.6.3 has
/// Winograd only for AVX-512; on AVX2 it runs 3x3 layers directly.
///
/// Runs on the calling thread, or splits the tiles over as many threads as
/// OpenMP would give oneDNN here (the network's `threads`), so that a
/// network with 1 thread per layer stays on 1 thread.
final class WinogradConvolution {
    let name: String
    let channels: Int
    let size: (h: Int, w: Int)
    let postOp: Convolution.PostOp
    /// The output tile's side: 4 for F(4,3), 6 for F(6,3).
    let outputTile: Int
    private let weights: TransformedWeights
    private let bias: UnsafeMutablePointer<Float>

    /// Whether this CPU, type, layout and channel count can take the Winograd path.
    static func applies(channels: Int, dataType: DataType, layout: Layout) -> Bool {
        cpuSupported && dataType == .f32 && layout == .blocked(8) && channels % 16 == 0 && channels > 0
    }

    static let cpuSupported = wino_cpu_supported() != 0

    /// - weights: [channels, channels, 3, 3] f32 (PyTorch order); bias: [channels].
    /// - postOp: `.leakyReLU` (dst = LReLU(conv + b)) or `.sum` (dst += conv + b).
    /// - outputTile: 4 (F(4,3)) or 6 (F(6,3)).
    init(name: String, channels: Int, size: (h: Int, w: Int), weights w: [Float], bias b: [Float],
         postOp: Convolution.PostOp, outputTile: Int = 4) {
        precondition(channels % 16 == 0 && w.count == channels * channels * 9 && b.count == channels, "\(name): shape")
        precondition(outputTile == 4 || outputTile == 6, "\(name): Winograd F(\(outputTile),3) is not built")
        precondition(postOp != .none, "\(name): the Winograd path fuses LeakyReLU or the residual sum")
        self.name = name
        self.channels = channels
        self.size = size
        self.postOp = postOp
        self.outputTile = outputTile
        weights = TransformedWeights.shared(for: w, channels: channels, outputTile: outputTile)
        bias = .allocate(capacity: channels)
        bias.initialize(from: b, count: channels)
    }

    deinit { bias.deallocate() }

    /// dst = LReLU(conv(src) + b), or dst += conv(src) + b. src and dst are
    /// distinct f32 nChw8c tensors of this layer's shape.
    func execute(src: Tensor, dst: Tensor, scratch: Scratch) {
        precondition(src.buffer != dst.buffer, "\(name): Winograd cannot run in place")
        for t in [src, dst] {
            precondition(t.layout == .blocked(8) && t.dataType == .f32 && t.channels == channels
                         && t.height == size.h && t.width == size.w, "\(name): tensor shape or format")
        }
        let m = Int32(outputTile)
        let tiles = Int(wino_tile_count(m, Int32(size.h), Int32(size.w)))
        // A thread gets whole rows of tiles' worth of work at least, else
        // the split costs more than it saves.
        let rowTiles = (size.w + outputTile - 1) / outputTile
        let threads = max(1, min(Self.openMPThreads(), tiles / max(rowTiles, 1)))
        let buffers = scratch.buffers(threads, floats: Int(wino_scratch_floats(m, Int32(channels), Int32(channels))))
        let job = Job(m: m, src: src.buffer.assumingMemoryBound(to: Float.self), dst: dst.buffer.assumingMemoryBound(to: Float.self),
                      u: weights.buffer, bias: bias, channels: Int32(channels), height: Int32(size.h), width: Int32(size.w),
                      mode: Int32(postOp == .leakyReLU ? WINO_LEAKY_RELU : WINO_ACCUMULATE))
        if threads == 1 {
            job.run(tiles: 0..<tiles, scratch: buffers[0])
            return
        }
        let shared = SendableBuffers(pointers: buffers)
        DispatchQueue.concurrentPerform(iterations: threads) { i in
            job.run(tiles: tiles * i / threads..<tiles * (i + 1) / threads, scratch: shared.pointers[i])
        }
    }

    /// One call's arguments. Sendable because each thread's tiles write only
    /// their own output pixels and their own scratch.
    private struct Job: @unchecked Sendable {
        let m: Int32
        let src: UnsafeMutablePointer<Float>, dst: UnsafeMutablePointer<Float>
        let u: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>
        let channels: Int32, height: Int32, width: Int32, mode: Int32

        func run(tiles: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
            wino_conv3x3(m, src, dst, u, bias, channels, channels, height, width, mode,
                         Int32(tiles.lowerBound), Int32(tiles.upperBound), scratch)
        }
    }

    private struct SendableBuffers: @unchecked Sendable { let pointers: [UnsafeMutablePointer<Float>] }

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

        deinit { allocated.forEach { free($0) } }
    }
}

/// Weights after the Winograd transform (36 x C x C floats for F(4,3), 4x
/// the original; 64 x C x C for F(6,3)), shared by every plan and network that uses the same weights
/// array: a network keeps a plan per tile size, and the pipeline one network
/// per worker, which would otherwise hold up to 6 copies of 37 MB.
final class TransformedWeights: @unchecked Sendable {  // immutable after init
    let buffer: UnsafeMutablePointer<Float>
    /// Keeps the source storage alive, so its address identifies it.
    private let source: [Float]

    private init(_ w: [Float], channels: Int, outputTile: Int) {
        source = w
        let count = Int(wino_weights_floats(Int32(outputTile), Int32(channels), Int32(channels)))
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, count * 4) == 0, let raw else {
            fatalError("out of memory allocating \(count * 4) bytes of Winograd weights")
        }
        buffer = raw.bindMemory(to: Float.self, capacity: count)
        w.withUnsafeBufferPointer { wino_transform_weights(Int32(outputTile), $0.baseAddress!, Int32(channels), Int32(channels), buffer) }
    }

    deinit { free(buffer) }

    private struct Key: Hashable { let address: UInt, count: Int, outputTile: Int }
    private final class WeakEntry { weak var value: TransformedWeights? }
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: [Key: WeakEntry] = [:]  // guarded by lock

    /// The transform of `w`, made once for as long as some layer uses it.
    /// An array's storage is immutable while we hold it (copy on write), so
    /// the same address means the same values; a live entry holds its
    /// storage, so the address cannot be reused for other values meanwhile.
    static func shared(for w: [Float], channels: Int, outputTile: Int = 4) -> TransformedWeights {
        let key = w.withUnsafeBufferPointer {
            Key(address: UInt(bitPattern: $0.baseAddress), count: $0.count, outputTile: outputTile)
        }
        lock.lock()
        defer { lock.unlock() }
        if let hit = cache[key]?.value { return hit }
        cache = cache.filter { $0.value.value != nil }
        let made = TransformedWeights(w, channels: channels, outputTile: outputTile)
        let entry = WeakEntry()
        entry.value = made
        cache[key] = entry
        return made
    }
}
