import Foundation
import Testing
@testable import MTRNN

/// Damaged and wrong weight files: each must fail with a message naming the
/// file and what is wrong.
@Suite final class SafeTensorsTests {
    let dir: URL = {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("mtrnn-st-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }()

    deinit { try? FileManager.default.removeItem(at: dir) }

    /// Writes a safetensors file: header JSON as given, then `data`.
    func write(_ name: String, header: String, data: [UInt8]) -> URL {
        var bytes = [UInt8]()
        let h = Array(header.utf8)
        var n = UInt64(h.count)
        for _ in 0..<8 { bytes.append(UInt8(n & 0xFF)); n >>= 8 }
        bytes += h + data
        let url = dir.appendingPathComponent(name)
        try! Data(bytes).write(to: url)
        return url
    }

    func f32Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) } }

    func expectError(_ url: URL, containing parts: [String]) {
        do {
            _ = try SafeTensorsFile(contentsOf: url)
            Issue.record("\(url.lastPathComponent) was accepted")
        } catch {
            let text = "\(error)"
            print(text)
            #expect(text.contains(url.path), "message names the file: \(text)")
            for p in parts { #expect(text.contains(p), "message mentions \(p): \(text)") }
        }
    }

    @Test func readsF32F16AndBF16() throws {
        // 1.5 as f16 is 0x3E00, as bf16 0x3FC0.
        let url = write("ok.safetensors", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"h":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[10,12]},"__metadata__":{"k":"v"}}"#,
                        data: f32Bytes([1, -2]) + [0x00, 0x3E, 0xC0, 0x3F])
        let f = try SafeTensorsFile(contentsOf: url)
        #expect(f.tensors["a"]?.values == [1, -2])
        #expect(f.tensors["h"]?.values == [1.5])
        #expect(f.tensors["b"]?.values == [1.5])
        #expect(f.metadata["k"] == "v")
    }

    @Test func missingFile() {
        expectError(dir.appendingPathComponent("nope.safetensors"), containing: ["no such file"])
    }

    @Test func tooShortAndBadHeader() {
        let short = dir.appendingPathComponent("short.safetensors")
        try! Data([1, 2, 3]).write(to: short)
        expectError(short, containing: ["truncated"])
        expectError(dir, containing: ["directory"])
    }

    @Test func headerLongerThanFile() {
        var bytes: [UInt8] = [0xFF, 0xFF, 0, 0, 0, 0, 0, 0]
        bytes += Array("{}".utf8)
        let url = dir.appendingPathComponent("longheader.safetensors")
        try! Data(bytes).write(to: url)
        expectError(url, containing: ["header length", "truncated"])
    }

    @Test func headerNotJSON() {
        expectError(write("notjson.safetensors", header: "{not json", data: []), containing: ["not valid JSON"])
    }

    @Test func wrongDtype() {
        expectError(write("i64.safetensors", header: #"{"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: Array(repeating: 0, count: 8)),
                    containing: ["tensor w", "I64", "F32"])
    }

    @Test func truncatedData() {
        expectError(write("trunc.safetensors", header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: f32Bytes([1, 2])),
                    containing: ["tensor w", "truncated"])
    }

    @Test func offsetsDisagreeWithShape() {
        expectError(write("shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
                    containing: ["tensor w", "needs 12"])
    }

    @Test func nonFiniteValues() {
        expectError(write("nan.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: f32Bytes([1, .nan])),
                    containing: ["tensor w", "non-finite"])
        expectError(write("inf.safetensors", header: #"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: f32Bytes([-.infinity])),
                    containing: ["tensor w", "non-finite"])
    }

    @Test func overlappingTensors() {
        expectError(write("overlap.safetensors", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                          data: f32Bytes([1, 2, 3])),
                    containing: ["overlap"])
    }

    @Test func wrongSetOfTensorsIsListedByName() throws {
        // The real fixture minus one tensor, plus one extra and one mis-shaped.
        var t = Fixtures.weights.tensors
        t["conv1_1.0.bias"] = nil
        t["conv9_9.weight"] = .init(shape: [1], values: [0])
        t["img_prd.0.bias"] = .init(shape: [4], values: [0, 0, 0, 0])
        do {
            _ = try MTRNNWeights(tensors: t, source: "/some/model.safetensors")
            Issue.record("accepted a bad set of tensors")
        } catch {
            let text = "\(error)"
            print(text)
            for part in ["/some/model.safetensors", "missing tensors: conv1_1.0.bias", "unexpected tensors: conv9_9.weight",
                         "img_prd.0.bias is [4], expected [3]"] {
                #expect(text.contains(part), "\(part) in \(text)")
            }
        }
    }

    @Test func loadsTheFixtureWeights() throws {
        let w = try MTRNNWeights.load(contentsOf: Fixtures.url("weights.safetensors"))
        #expect(w.tensors["conv5_1.0.weight"]?.shape == [128, 64, 4, 4])
        #expect(w.tensors.count == Architecture.expectedShapes.count)
    }

    @Test func randomWeightsPassValidation() {
        let w = MTRNNWeights.random(seed: 1)
        #expect(w.tensors.count == Architecture.expectedShapes.count)
        #expect(MTRNNWeights.random(seed: 1).tensors["conv1_1.0.weight"]?.values == w.tensors["conv1_1.0.weight"]?.values)
    }
}
