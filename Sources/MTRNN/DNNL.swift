import CDNNL
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Small helpers over the oneDNN C API: status checking, argument ids (the
/// `DNNL_ARG_*` macros chain to each other, so they are spelled out here) and
/// the CPU feature query.
enum DNNL {
    /// A zeroed, 64-byte aligned buffer for `md` and the oneDNN memory over
    /// it; the caller frees both (`dnnl_memory_destroy`, then `free`).
    static func ownedMemory(engine: Engine, md: dnnl_memory_desc_t, name: String) throws
        -> (buffer: UnsafeMutableRawPointer, memory: dnnl_memory_t, byteCount: Int) {
        var md = md
        let byteCount = dnnl_memory_desc_get_size(&md)
        var raw: UnsafeMutableRawPointer?
        guard posix_memalign(&raw, 64, max(byteCount, 64)) == 0, let raw else {
            throw MTRNNError.outOfMemory("\(name): allocating \(byteCount) bytes")
        }
        memset(raw, 0, max(byteCount, 64))
        var m: dnnl_memory_t?
        let status = dnnl_memory_create(&m, &md, engine.engine, raw)
        if status != dnnl_success { free(raw) }
        try DNNL.check(status, "dnnl_memory_create", "creating \(name)")
        return (raw, m!, byteCount)
    }

    static let argSrc: Int32 = 1        // DNNL_ARG_SRC
    static let argDst: Int32 = 17       // DNNL_ARG_DST
    static let argWeights: Int32 = 33   // DNNL_ARG_WEIGHTS
    static let argBias: Int32 = 41      // DNNL_ARG_BIAS
    static let argScratchpad: Int32 = 80 // DNNL_ARG_SCRATCHPAD
    static let argFrom: Int32 = 1       // DNNL_ARG_FROM
    static let argTo: Int32 = 17        // DNNL_ARG_TO

    static func check(_ status: dnnl_status_t, _ call: String, _ context: @autoclosure () -> String) throws {
        if status != dnnl_success {
            throw MTRNNError.dnnl(call: call, status: Int(status.rawValue), context: context())
        }
    }

    static func statusName(_ status: Int) -> String {
        switch UInt32(truncatingIfNeeded: status) {
        case dnnl_success.rawValue: return "success"
        case dnnl_out_of_memory.rawValue: return "out_of_memory"
        case dnnl_invalid_arguments.rawValue: return "invalid_arguments"
        case dnnl_unimplemented.rawValue: return "unimplemented"
        case dnnl_iterator_ends.rawValue: return "iterator_ends"
        case dnnl_runtime_error.rawValue: return "runtime_error"
        case dnnl_not_required.rawValue: return "not_required"
        default: return "unknown"
        }
    }

    /// The instruction set oneDNN dispatches to (it honours ONEDNN_MAX_CPU_ISA).
    static var effectiveISA: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    static func isaName(_ isa: dnnl_cpu_isa_t) -> String {
        switch isa {
        case dnnl_cpu_isa_avx512_core_amx: return "AVX-512 with AMX"
        case dnnl_cpu_isa_avx512_core_bf16: return "AVX-512 with bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "AVX-512 with VNNI (no bf16)"
        case dnnl_cpu_isa_avx512_core: return "AVX-512 (no bf16)"
        case dnnl_cpu_isa_avx2_vnni: return "AVX2 with VNNI"
        case dnnl_cpu_isa_avx2: return "AVX2"
        case dnnl_cpu_isa_avx: return "AVX"
        case dnnl_cpu_isa_sse41: return "SSE4.1"
        default: return "ISA 0x" + String(isa.rawValue, radix: 16)
        }
    }

    /// bf16 convolutions are only fast (not the reference C++ loops) where
    /// oneDNN has its avx512_core_bf16 or AMX kernels; the ISA values are
    /// bit masks, each including the ones below it.
    static var hasBF16Kernels: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return effectiveISA.rawValue & bf16 == bf16
    }

    /// OpenMP's thread count is a per-thread setting; oneDNN reads it at each
    /// parallel region. The symbol comes with libgomp, which libdnnl loads, so
    /// it is looked up at run time rather than through a header we don't own.
    private static let ompSetNumThreads: (@convention(c) (Int32) -> Void)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let sym = dlsym(handle, "omp_set_num_threads") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32) -> Void).self)
    }()

    static func setThreadsForCurrentThread(_ n: Int) {
        guard n > 0, let f = ompSetNumThreads else { return }
        f(Int32(n))
    }
}
