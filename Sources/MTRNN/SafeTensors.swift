import Foundation

/// A strict reader of the safetensors format: an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets}, "__metadata__": {...}}`,
/// then the raw little-endian data. Every tensor is converted to f32 on load
/// (F32 as is, F16 and BF16 widened exactly); anything malformed is an error
/// naming the file.
public struct SafeTensorsFile: Sendable {
    public struct Entry: Sendable {
        public let shape: [Int]
        public let values: [Float]
    }

    public let path: String
    public let tensors: [String: Entry]
    public let metadata: [String: String]

    /// Largest header accepted; the format's own reference uses 100 MB.
    static let maxHeaderBytes = 100_000_000

    public init(contentsOf url: URL) throws {
        let path = url.path
        self.path = path
        func fail(_ reason: String) -> MTRNNError { .weightsFile(path: path, reason: reason) }

        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("no such file; check the path (or the `weights` setting)")
        }
        guard !isDirectory.boolValue else { throw fail("is a directory, not a .safetensors file") }
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw fail("cannot be read (\(error.localizedDescription)); check its permissions")
        }
        guard data.count >= 8 else {
            throw fail("is \(data.count) bytes long, too short for a safetensors header; the file is truncated or not safetensors")
        }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= data.count - 8 else {
            throw fail("header length \(headerLength) does not fit in the file's \(data.count) bytes; the file is truncated or not safetensors")
        }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))
        } catch {
            throw fail("header is not valid JSON; the file is damaged or not safetensors")
        }
        guard let header = json as? [String: Any] else { throw fail("header is not a JSON object") }

        var metadata: [String: String] = [:]
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: Any] else { throw fail("__metadata__ is not an object") }
            for (k, v) in m { metadata[k] = (v as? String) ?? "\(v)" }
        }
        let dataStart = headerEnd
        let dataLength = data.count - dataStart
        var tensors: [String: Entry] = [:]
        var ranges: [(Int, Int, String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any],
                  let dtype = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any],
                  let offsetsAny = info["data_offsets"] as? [Any], offsetsAny.count == 2
            else { throw fail("tensor \(name): entry lacks dtype, shape or data_offsets") }
            let shape = try shapeAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else { throw fail("tensor \(name): bad shape \(shapeAny)") }
                return n
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let n = (v as? NSNumber)?.intValue, n >= 0 else { throw fail("tensor \(name): bad data_offsets") }
                return n
            }
            let elementSize: Int
            switch dtype {
            case "F32": elementSize = 4
            case "F16", "BF16": elementSize = 2
            default:
                throw fail("tensor \(name) has dtype \(dtype); only F32, F16 and BF16 are accepted (convert with training/export.py)")
            }
            let count = shape.reduce(1, *)
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end, end - begin == count * elementSize else {
                throw fail("tensor \(name): data_offsets \(offsets) hold \(end - begin) bytes, its shape \(shape) of \(dtype) needs \(count * elementSize)")
            }
            guard end <= dataLength else {
                throw fail("tensor \(name) ends at byte \(end) of the data but the file holds only \(dataLength) data bytes; the file is truncated")
            }
            ranges.append((begin, end, name))
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let base = raw.baseAddress! + dataStart + begin
                values.withUnsafeMutableBufferPointer { out in
                    switch dtype {
                    case "F32":
                        for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                    case "F16":
                        for i in 0..<count { out[i] = Float(Float16(bitPattern: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))) }
                    default:
                        for i in 0..<count { out[i] = BF16.toFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                    }
                }
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw fail("tensor \(name) holds a non-finite value (\(values[bad]) at index \(bad)); the weights are damaged (a diverged training run?)")
            }
            tensors[name] = Entry(shape: shape, values: values)
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw fail("tensors \(a.2) and \(b.2) overlap in the data section; the file is damaged")
        }
        self.tensors = tensors
        self.metadata = metadata
    }
}
