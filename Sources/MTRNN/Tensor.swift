import CDNNL
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Element type of a tensor held by the engine.
enum DataType: Sendable {
    case f32, bf16

    var dnnl: dnnl_data_type_t { self == .f32 ? dnnl_f32 : dnnl_bf16 }
    var size: Int { self == .f32 ? 4 : 2 }
}

/// How an N=1 activation tensor [C, H, W] is laid out in memory.
/// `blocked(b)` is oneDNN's nChw{b}c: channel blocks of `b`, each block an
/// H x W x b array, C padded up to a multiple of b (padding kept zero).
enum Layout: Equatable, Sendable, CustomStringConvertible {
    case nchw
    case nhwc
    case blocked(Int)

    var tag: dnnl_format_tag_t {
        switch self {
        case .nchw: return dnnl_nchw
        case .nhwc: return dnnl_nhwc
        case .blocked(8): return dnnl_nChw8c
        case .blocked(16): return dnnl_nChw16c
        case .blocked(4): return dnnl_nChw4c
        case .blocked: return dnnl_format_tag_undef
        }
    }

    var description: String {
        switch self {
        case .nchw: return "nchw"
        case .nhwc: return "nhwc"
        case .blocked(let b): return "nChw\(b)c"
        }
    }

    /// The layout a oneDNN memory descriptor describes, or nil for formats
    /// this engine does not read or write itself.
    init?(_ md: dnnl_memory_desc_t) {
        guard md.ndims == 4, md.format_kind == dnnl_blocked else { return nil }
        let blk = md.format_desc.blocking
        let strides = [blk.strides.0, blk.strides.1, blk.strides.2, blk.strides.3]
        let c = md.padded_dims.1, w = md.padded_dims.3
        if blk.inner_nblks == 0 {
            if strides[3] == 1 && strides[1] == md.padded_dims.2 * w { self = .nchw; return }
            if strides[1] == 1 && strides[3] == c { self = .nhwc; return }
            return nil
        }
        if blk.inner_nblks == 1 && blk.inner_idxs.0 == 1 && strides[3] == blk.inner_blks.0 {
            self = .blocked(Int(blk.inner_blks.0))
            return
        }
        return nil
    }

    /// Element offset of (c, h, w) in a tensor of `channels` x `height` x `width`.
    @inline(__always)
    func offset(_ c: Int, _ h: Int, _ w: Int, channels: Int, height: Int, width: Int) -> Int {
        switch self {
        case .nchw: return (c * height + h) * width + w
        case .nhwc: return (h * width + w) * channels + c
        case .blocked(let b): return ((c / b) * height * width + h * width + w) * b + c % b
        }
    }
}

/// An N=1 activation tensor [C, H, W] in oneDNN memory that this engine owns:
/// the buffer (64-byte aligned, zeroed so blocked padding stays zero) and the
/// `dnnl_memory_t` over it live and die together.
final class Tensor {
    let channels: Int
    let height: Int
    let width: Int
    let dataType: DataType
    let layout: Layout
    var md: dnnl_memory_desc_t
    let byteCount: Int
    let buffer: UnsafeMutableRawPointer
    let memory: dnnl_memory_t
    private let engine: Engine  // keeps the engine alive as long as its memory

    init(engine: Engine, md: dnnl_memory_desc_t, name: String) throws {
        var md = md
        guard md.ndims == 4, let layout = Layout(md) else {
            throw MTRNNError.invalidInput("tensor \(name): oneDNN chose a memory format this engine does not handle")
        }
        self.engine = engine
        self.md = md
        self.layout = layout
        channels = Int(md.dims.1)
        height = Int(md.dims.2)
        width = Int(md.dims.3)
        dataType = md.data_type == dnnl_bf16 ? .bf16 : .f32
        (buffer, memory, byteCount) = try DNNL.ownedMemory(engine: engine, md: md, name: "tensor \(name)")
    }

    convenience init(engine: Engine, channels: Int, height: Int, width: Int,
                     dataType: DataType, layout: Layout, name: String) throws {
        var md = dnnl_memory_desc_t()
        let dims: [dnnl_dim_t] = [1, dnnl_dim_t(channels), dnnl_dim_t(height), dnnl_dim_t(width)]
        try DNNL.check(dnnl_memory_desc_init_by_tag(&md, 4, dims, dataType.dnnl, layout.tag),
                       "dnnl_memory_desc_init_by_tag", "describing tensor \(name) (\(layout))")
        try self.init(engine: engine, md: md, name: name)
    }

    deinit {
        dnnl_memory_destroy(memory)
        free(buffer)
    }

    @inline(__always)
    func offset(_ c: Int, _ h: Int, _ w: Int) -> Int {
        layout.offset(c, h, w, channels: Int(md.padded_dims.1), height: height, width: width)
    }

    /// Writes channel `c` from a row-major H x W plane, converting to the tensor's type.
    func writePlane(_ c: Int, from plane: UnsafePointer<Float>) {
        switch dataType {
        case .f32:
            let p = buffer.assumingMemoryBound(to: Float.self)
            for h in 0..<height {
                var o = offset(c, h, 0)
                let step = offset(c, h, min(1, width - 1)) - o
                for w in 0..<width { p[o] = plane[h * width + w]; o += step }
            }
        case .bf16:
            let p = buffer.assumingMemoryBound(to: UInt16.self)
            for h in 0..<height {
                for w in 0..<width { p[offset(c, h, w)] = BF16.fromFloat(plane[h * width + w]) }
            }
        }
    }

    /// Reads channel `c` into a row-major H x W plane as f32.
    func readPlane(_ c: Int, into plane: UnsafeMutablePointer<Float>) {
        switch dataType {
        case .f32:
            let p = buffer.assumingMemoryBound(to: Float.self)
            for h in 0..<height {
                var o = offset(c, h, 0)
                let step = offset(c, h, min(1, width - 1)) - o
                for w in 0..<width { plane[h * width + w] = p[o]; o += step }
            }
        case .bf16:
            let p = buffer.assumingMemoryBound(to: UInt16.self)
            for h in 0..<height {
                for w in 0..<width { plane[h * width + w] = BF16.toFloat(p[offset(c, h, w)]) }
            }
        }
    }

    /// The whole tensor as plain NCHW f32 (tests and debugging).
    func toNCHW() -> [Float] {
        var out = [Float](repeating: 0, count: channels * height * width)
        out.withUnsafeMutableBufferPointer { o in
            for c in 0..<channels { readPlane(c, into: o.baseAddress! + c * height * width) }
        }
        return out
    }

    func fill(fromNCHW values: [Float]) {
        precondition(values.count == channels * height * width)
        values.withUnsafeBufferPointer { v in
            for c in 0..<channels { writePlane(c, from: v.baseAddress! + c * height * width) }
        }
    }

    /// Copies the contents of a tensor of the same shape, type and layout.
    func copy(from other: Tensor) {
        precondition(other.byteCount == byteCount && other.layout == layout)
        memcpy(buffer, other.buffer, byteCount)
    }
}

/// bfloat16 as the top 16 bits of an IEEE f32; rounding to nearest even as
/// oneDNN's own conversions do.
enum BF16 {
    @inline(__always)
    static func fromFloat(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }

    @inline(__always)
    static func toFloat(_ x: UInt16) -> Float { Float(bitPattern: UInt32(x) << 16) }
}
