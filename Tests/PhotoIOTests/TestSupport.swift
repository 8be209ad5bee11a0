import Testing
import Foundation
import MTRNN   // SplitMix64, the package's one seeded generator
@testable import PhotoIO
import TestSupport

/// A deterministic test picture: smooth gradients plus a little texture, so
/// JPEG quality is measurable and every channel differs.
func syntheticImage(width: Int = 37, height: Int = 23, channels: Int, bitDepth: Int,
                    format: ImageFormat) -> Image {
    var samples = [UInt16](repeating: 0, count: width * height * channels)
    let maximum = bitDepth == 16 ? 65535.0 : 255.0
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<channels {
                let u = Double(x) / Double(width - 1), v = Double(y) / Double(height - 1)
                let phase = Double(c)
                let wave: Double = 0.35 * sin(3 * u + 2 * v + phase)
                let ripple: Double = 0.1 * cos(7 * u * v + phase)
                var value = 0.5 + wave + ripple
                let texture: Int = (x * 31 + y * 17 + c * 7) % 13
                if bitDepth == 16 { value += Double(texture) / 65535 }
                samples[(y * width + x) * channels + c] = UInt16((min(max(value, 0), 1) * maximum).rounded())
            }
        }
    }
    return Image(width: width, height: height, channels: channels, bitDepth: bitDepth,
                 samples: samples, format: format, name: "synthetic.\(format.rawValue)")
}

func psnr(_ a: Image, _ b: Image) -> Double {
    var sum = 0.0
    for (x, y) in zip(a.samples, b.samples) { let d = Double(x) - Double(y); sum += d * d }
    let mse = sum / Double(a.samples.count)
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}

/// A fresh directory under the system temporary directory, removed by the caller.
func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("photoio-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

enum ExifTool {
    static let path = "/usr/bin/exiftool"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    @discardableResult
    static func run(_ arguments: [String]) throws -> Data {
        runProcess([path] + arguments).output
    }

    /// Every tag exiftool reads, duplicates included (-a), grouped by
    /// location (-G1), binary values in full (-b, base64 in JSON).
    static func tags(of files: [URL]) throws -> [[String: String]] {
        let data = try run(["-j", "-a", "-G1", "-b", "-n"] + files.map(\.path))
        let list = try JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        return list.map { object in object.mapValues { "\($0)" } }
    }
}

/// The chunk types of a PNG in order, for checking placement.
func pngChunkTypes(_ bytes: [UInt8]) throws -> [String] {
    try PNGChunks(bytes, name: "test").chunks.map(\.type)
}

/// A PNG chunk as bytes (length, type, data, CRC).
func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let n = UInt32(data.count)
    let body = Array(type.utf8) + data
    let crc = CRC32.checksum(body)
    return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
        + [UInt8(crc >> 24), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]
}

/// Inserts `chunk` before the first chunk of type `before`.
func inserting(_ chunk: [UInt8], before: String, in png: [UInt8]) -> [UInt8] {
    var i = 8
    while i + 8 <= png.count {
        let length = Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3])
        if String(decoding: png[i + 4..<i + 8], as: UTF8.self) == before {
            return Array(png[..<i]) + chunk + Array(png[i...])
        }
        i += 12 + length
    }
    return png
}

/// Decoding bad input: a PhotoIOError naming the file, never a crash or a
/// foreign error.
protocol DecodeErrorChecks {}

extension DecodeErrorChecks {
    /// The PhotoIOError `body` throws, nil if it returns; records any other error.
    func error(_ body: () throws -> Image) -> PhotoIOError? {
        do {
            _ = try body()
            return nil
        } catch let error as PhotoIOError {
            return error
        } catch {
            Issue.record("not a PhotoIOError: \(error)")
            return nil
        }
    }

    /// Every prefix of `bytes` cut at `cuts` must fail to decode: a photo still
    /// being copied is never processed.
    func expectEveryCutThrows(_ bytes: [UInt8], name: String, cuts: [Int]) {
        var survivors: [Int] = []
        for cut in cuts where error({ try PhotoIO.decode(data: Array(bytes[..<cut]), name: name) }) == nil {
            survivors.append(cut)
        }
        #expect(survivors.isEmpty, "\(name) (\(bytes.count) bytes) decoded when cut at \(survivors)")
    }

    /// `copies` copies of `bytes`, each with 3 random bytes changed, decoded:
    /// either outcome is fine; only a crash or a foreign error is not.
    func decodeDamaged(_ bytes: [UInt8], name: String, copies: Int, seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        for _ in 0..<copies {
            var damaged = bytes
            for _ in 0..<3 {
                damaged[Int(generator.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: generator.next())
            }
            _ = error { try PhotoIO.decode(data: damaged, name: name, maxPixels: 1_000_000) }
        }
    }
}
