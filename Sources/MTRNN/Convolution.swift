import CDNNL
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// One oneDNN forward convolution (N=1), created for one input shape and
/// reused: the primitive, its weights reordered once into the format the
/// kernel wants, the bias, and the fused post-op (LeakyReLU 0.1, or a sum
/// that adds the convolution into what `dst` already holds).
final class Convolution {
    enum PostOp { case none, leakyReLU, sum }

    struct Shape {
        var cin: Int, cout: Int
        var kernel: (h: Int, w: Int)
        var stride: Int = 1
        var padLow: (h: Int, w: Int)
        var padHigh: (h: Int, w: Int)
    }

    let name: String
    let shape: Shape
    let postOp: PostOp
    let inputSize: (h: Int, w: Int)
    let outputSize: (h: Int, w: Int)
    let srcMD: dnnl_memory_desc_t
    let dstMD: dnnl_memory_desc_t
    let scratchpadMD: dnnl_memory_desc_t
    let implementation: String
    private let engine: Engine
    private let pd: dnnl_primitive_desc_t
    private let primitive: dnnl_primitive_t
    private let weights: Tensorless
    private let bias: Tensorless?
    /// oneDNN memory over the scratchpad: the owner's shared buffer
    /// (`useScratchpad`), or, for a layer used on its own, `ownScratchpad`.
    private var scratchpad: dnnl_memory_t?
    /// This layer's own scratchpad, allocated at the first `execute` of a
    /// layer whose owner never shared one. The primitives are made with a
    /// user-managed scratchpad, so running one that needs a scratchpad
    /// without it makes oneDNN write through a null pointer (the SIGSEGV of
    /// issue 14: nhwc's brgconv kernels on AVX-512 and nchw's gemm kernels
    /// on AVX2 need one; the blocked jit kernels mostly do not).
    private var ownScratchpad: UnsafeMutableRawPointer?

    /// - weights: [cout, cin, kh, kw] f32 (PyTorch Conv2d order).
    /// - bias: [cout] f32, or nil for none.
    /// - srcLayout/dstLayout: nil lets oneDNN choose (`any`).
    init(engine: Engine, name: String, shape: Shape, input: (h: Int, w: Int),
         weights w: [Float], bias b: [Float]?, postOp: PostOp,
         srcType: DataType, srcLayout: Layout?, dstType: DataType, dstLayout: Layout?,
         weightsType: DataType) throws {
        self.engine = engine
        self.name = name
        self.shape = shape
        self.postOp = postOp
        inputSize = input
        let oh = (input.h + shape.padLow.h + shape.padHigh.h - shape.kernel.h) / shape.stride + 1
        let ow = (input.w + shape.padLow.w + shape.padHigh.w - shape.kernel.w) / shape.stride + 1
        outputSize = (oh, ow)
        precondition(w.count == shape.cout * shape.cin * shape.kernel.h * shape.kernel.w, "\(name): weight count")

        func md(_ dims: [Int], _ type: DataType, _ tag: dnnl_format_tag_t) throws -> dnnl_memory_desc_t {
            var m = dnnl_memory_desc_t()
            try DNNL.check(dnnl_memory_desc_init_by_tag(&m, Int32(dims.count), dims.map { dnnl_dim_t($0) }, type.dnnl, tag),
                           "dnnl_memory_desc_init_by_tag", "describing layer \(name)")
            return m
        }
        var src = try md([1, shape.cin, input.h, input.w], srcType, srcLayout?.tag ?? dnnl_format_tag_any)
        var dst = try md([1, shape.cout, oh, ow], dstType, dstLayout?.tag ?? dnnl_format_tag_any)
        var wAny = try md([shape.cout, shape.cin, shape.kernel.h, shape.kernel.w], weightsType, dnnl_format_tag_any)
        var bMD = try md([shape.cout], .f32, dnnl_x)

        var desc = dnnl_convolution_desc_t()
        let strides: [dnnl_dim_t] = [dnnl_dim_t(shape.stride), dnnl_dim_t(shape.stride)]
        let padL: [dnnl_dim_t] = [dnnl_dim_t(shape.padLow.h), dnnl_dim_t(shape.padLow.w)]
        let padR: [dnnl_dim_t] = [dnnl_dim_t(shape.padHigh.h), dnnl_dim_t(shape.padHigh.w)]
        try withUnsafePointer(to: &bMD) { bp in
            try DNNL.check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct,
                                                              &src, &wAny, b == nil ? nil : bp, &dst,
                                                              strides, padL, padR),
                           "dnnl_convolution_forward_desc_init", "describing layer \(name)")
        }

        var attr: dnnl_primitive_attr_t?
        try DNNL.check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create", "layer \(name)")
        defer { dnnl_primitive_attr_destroy(attr) }
        // A user scratchpad: each network owns its own, so networks on
        // different threads never share oneDNN's library-managed buffers.
        try DNNL.check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
                       "dnnl_primitive_attr_set_scratchpad_mode", "layer \(name)")
        if postOp != .none {
            var po: dnnl_post_ops_t?
            try DNNL.check(dnnl_post_ops_create(&po), "dnnl_post_ops_create", "layer \(name)")
            defer { dnnl_post_ops_destroy(po) }
            switch postOp {
            case .leakyReLU:
                try DNNL.check(dnnl_post_ops_append_eltwise(po, 1.0, dnnl_eltwise_relu, 0.1, 0),
                               "dnnl_post_ops_append_eltwise", "layer \(name)")
            case .sum:
                try DNNL.check(dnnl_post_ops_append_sum(po, 1.0), "dnnl_post_ops_append_sum", "layer \(name)")
            case .none: break
            }
            try DNNL.check(dnnl_primitive_attr_set_post_ops(attr, po), "dnnl_primitive_attr_set_post_ops", "layer \(name)")
        }

        var pd: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_primitive_desc_create(&pd, &desc, attr, engine.engine, nil),
                       "dnnl_primitive_desc_create", "creating layer \(name)")
        self.pd = pd!
        var prim: dnnl_primitive_t?
        let status = dnnl_primitive_create(&prim, pd)
        if status != dnnl_success { dnnl_primitive_desc_destroy(pd) }
        try DNNL.check(status, "dnnl_primitive_create", "creating layer \(name)")
        primitive = prim!

        srcMD = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)!.pointee
        dstMD = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)!.pointee
        scratchpadMD = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        var info: UnsafePointer<CChar>?
        _ = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &info)
        implementation = info.map { String(cString: $0) } ?? "?"

        // Weights: reorder once from PyTorch's oihw f32 to the kernel's format and type.
        let wMD = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        let user = try md([shape.cout, shape.cin, shape.kernel.h, shape.kernel.w], .f32, dnnl_oihw)
        let weights = try Tensorless(engine: engine, md: wMD, name: "\(name) weights")
        self.weights = weights
        try w.withUnsafeBufferPointer { wp in
            try weights.reorder(fromUser: user, data: UnsafeRawPointer(wp.baseAddress!), engine: engine, context: "\(name) weights")
        }
        if let b {
            precondition(b.count == shape.cout)
            let bias = try Tensorless(engine: engine, md: bMD, name: "\(name) bias")
            b.withUnsafeBytes { bytes in _ = memcpy(bias.buffer, bytes.baseAddress!, bytes.count) }
            self.bias = bias
        } else {
            bias = nil
        }
    }

    deinit {
        if let scratchpad { dnnl_memory_destroy(scratchpad) }
        free(ownScratchpad)
        dnnl_primitive_destroy(primitive)
        dnnl_primitive_desc_destroy(pd)
    }

    var scratchpadBytes: Int {
        var m = scratchpadMD
        return dnnl_memory_desc_get_size(&m)
    }

    /// Points this layer's scratchpad at a buffer of at least `scratchpadBytes`.
    func useScratchpad(_ buffer: UnsafeMutableRawPointer) throws {
        if let scratchpad { dnnl_memory_destroy(scratchpad); self.scratchpad = nil }
        free(ownScratchpad)
        ownScratchpad = nil
        guard scratchpadBytes > 0 else { return }
        var m: dnnl_memory_t?
        var md = scratchpadMD
        try DNNL.check(dnnl_memory_create(&m, &md, engine.engine, buffer), "dnnl_memory_create", "scratchpad of \(name)")
        scratchpad = m
    }

    /// Runs the convolution; with the sum post-op, `dst` must already hold
    /// the addend. The tensors must have the formats this layer was made for.
    func execute(src: Tensor, dst: Tensor) throws {
        if scratchpad == nil && scratchpadBytes > 0 {
            var raw: UnsafeMutableRawPointer?
            guard posix_memalign(&raw, 64, scratchpadBytes) == 0, let raw else {
                throw MTRNNError.outOfMemory("\(name): allocating a \(scratchpadBytes)-byte scratchpad")
            }
            do { try useScratchpad(raw) } catch { free(raw); throw error }
            ownScratchpad = raw
        }
        var args: [dnnl_exec_arg_t] = [
            dnnl_exec_arg_t(arg: DNNL.argSrc, memory: src.memory),
            dnnl_exec_arg_t(arg: DNNL.argWeights, memory: weights.memory),
            dnnl_exec_arg_t(arg: DNNL.argDst, memory: dst.memory),
        ]
        if let bias { args.append(dnnl_exec_arg_t(arg: DNNL.argBias, memory: bias.memory)) }
        if let scratchpad { args.append(dnnl_exec_arg_t(arg: DNNL.argScratchpad, memory: scratchpad)) }
        try DNNL.check(dnnl_primitive_execute(primitive, engine.stream, Int32(args.count), &args),
                       "dnnl_primitive_execute", "running layer \(name)")
    }

    /// FLOPs of one execution (2 per multiply-add, the shape it was made for).
    var flops: Double {
        2.0 * Double(shape.cin * shape.cout * shape.kernel.h * shape.kernel.w * outputSize.h * outputSize.w)
    }
}

/// A oneDNN memory of any format (weights, bias) with a buffer it owns.
final class Tensorless {
    let buffer: UnsafeMutableRawPointer
    let memory: dnnl_memory_t
    let byteCount: Int
    private let engine: Engine

    init(engine: Engine, md: dnnl_memory_desc_t, name: String) throws {
        self.engine = engine
        (buffer, memory, byteCount) = try DNNL.ownedMemory(engine: engine, md: md, name: name)
    }

    deinit {
        dnnl_memory_destroy(memory)
        free(buffer)
    }

    /// Fills this memory from user data described by `user` (format and type
    /// conversion done by a one-off oneDNN reorder).
    func reorder(fromUser user: dnnl_memory_desc_t, data: UnsafeRawPointer, engine: Engine, context: String) throws {
        var user = user
        var mine = dnnl_memory_desc_t()
        mine = dnnl_memory_desc_t()
        var userMem: dnnl_memory_t?
        try DNNL.check(dnnl_memory_create(&userMem, &user, engine.engine, UnsafeMutableRawPointer(mutating: data)),
                       "dnnl_memory_create", context)
        defer { dnnl_memory_destroy(userMem) }
        var dstMDPtr: UnsafePointer<dnnl_memory_desc_t>?
        try DNNL.check(dnnl_memory_get_memory_desc(memory, &dstMDPtr), "dnnl_memory_get_memory_desc", context)
        mine = dstMDPtr!.pointee
        var rpd: dnnl_primitive_desc_t?
        try DNNL.check(dnnl_reorder_primitive_desc_create(&rpd, &user, engine.engine, &mine, engine.engine, nil),
                       "dnnl_reorder_primitive_desc_create", context)
        defer { dnnl_primitive_desc_destroy(rpd) }
        var r: dnnl_primitive_t?
        try DNNL.check(dnnl_primitive_create(&r, rpd), "dnnl_primitive_create", context)
        defer { dnnl_primitive_destroy(r) }
        var args = [dnnl_exec_arg_t(arg: DNNL.argFrom, memory: userMem), dnnl_exec_arg_t(arg: DNNL.argTo, memory: memory)]
        try DNNL.check(dnnl_primitive_execute(r, engine.stream, 2, &args), "dnnl_primitive_execute", context)
        try engine.wait()
    }
}
