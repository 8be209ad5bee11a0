import CDNNL

/// A oneDNN CPU engine and its in-order stream. One per `MTRNNNetwork`, so
/// networks on different threads share no oneDNN state.
final class Engine {
    let engine: dnnl_engine_t
    let stream: dnnl_stream_t

    init() throws {
        var e: dnnl_engine_t?
        try DNNL.check(dnnl_engine_create(&e, dnnl_cpu, 0), "dnnl_engine_create", "creating the CPU engine")
        var s: dnnl_stream_t?
        let status = dnnl_stream_create(&s, e, dnnl_stream_default_flags.rawValue)
        if status != dnnl_success { dnnl_engine_destroy(e) }
        try DNNL.check(status, "dnnl_stream_create", "creating the CPU stream")
        engine = e!
        stream = s!
    }

    deinit {
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    func wait() throws {
        try DNNL.check(dnnl_stream_wait(stream), "dnnl_stream_wait", "waiting for the stream")
    }
}
