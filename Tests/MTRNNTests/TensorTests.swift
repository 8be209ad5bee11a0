import CDNNL
import Testing
@testable import MTRNN

/// The tensor type's own reading and writing, in every layout and type the
/// engine may meet (bf16 included, which this CPU cannot convolve but can store).
@Suite struct TensorTests {
    let engine = try! Engine()

    @Test(arguments: [Layout.nchw, .nhwc, .blocked(8), .blocked(16)], [DataType.f32, .bf16])
    func planesRoundTrip(layout: Layout, type: DataType) throws {
        let (c, h, w) = (5, 3, 7)  // 5 channels: blocked layouts carry padding
        let t = try Tensor(engine: engine, channels: c, height: h, width: w, dataType: type, layout: layout, name: "t")
        #expect(t.layout == layout)
        let values = (0..<(c * h * w)).map { Float($0) * 0.5 - 20 }  // exact in bf16
        t.fill(fromNCHW: values)
        #expect(t.toNCHW() == values)
    }

    @Test func bf16RoundingMatchesOneDNN() throws {
        // Values at and around rounding ties, big and small, both signs.
        var values: [Float] = [1, -1, 0, 3.14159, 1e-20, -7e30, 65504, Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                               Float(bitPattern: 0x3F80_8001), Float(bitPattern: 0x3F80_7FFF)]
        var rng = SplitMix64(seed: 5)
        for _ in 0..<500 { values.append(rng.uniform(-300, 300)) }
        let n = values.count
        var md = dnnl_memory_desc_t()
        let dims: [dnnl_dim_t] = [1, dnnl_dim_t(n), 1, 1]
        try DNNL.check(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_bf16, dnnl_nchw), "init", "test")
        var user = dnnl_memory_desc_t()
        try DNNL.check(dnnl_memory_desc_init_by_tag(&user, 4, dims, dnnl_f32, dnnl_nchw), "init", "test")
        let holder = try Tensorless(engine: engine, md: md, name: "bf16 via reorder")
        try values.withUnsafeBufferPointer { try holder.reorder(fromUser: user, data: $0.baseAddress!, engine: engine, context: "test") }
        let theirs = holder.buffer.assumingMemoryBound(to: UInt16.self)
        for (i, v) in values.enumerated() {
            #expect(BF16.fromFloat(v) == theirs[i], "value \(v)")
        }
    }

    @Test func layoutIsReadBackFromOneDNNDescriptors() throws {
        for layout in [Layout.nchw, .nhwc, .blocked(8), .blocked(16)] {
            var md = dnnl_memory_desc_t()
            let dims: [dnnl_dim_t] = [1, 32, 4, 6]
            try DNNL.check(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, layout.tag), "init", "test")
            #expect(Layout(md) == layout)
        }
    }
}
