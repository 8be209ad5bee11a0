import Foundation
import MTRNN
@testable import Deblur

/// A value shared by concurrent tile functions in the tests.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withValue<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// Deterministic pseudo-random 0..255 planar image (SplitMix64), so a failure
/// reproduces.
func randomImage(width: Int, height: Int, seed: UInt64 = 42) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return [Float](unsafeUninitializedCapacity: 3 * width * height) { out, count in
        for i in 0..<out.count { out[i] = Float(rng.next() % 25600) / 100 }
        count = out.count
    }
}

/// A smooth image (gradients plus a few sine waves), closer to a photo than
/// noise, for filters whose tiled error depends on the content.
func smoothImage(width: Int, height: Int) -> [Float] {
    var out = [Float](repeating: 0, count: 3 * width * height)
    for c in 0..<3 {
        for y in 0..<height {
            for x in 0..<width {
                let v = 128 + 60 * sin(Double(x) * 0.05 + Double(c)) * cos(Double(y) * 0.031)
                    + 40 * sin(Double(x + 2 * y) * 0.013)
                out[(c * height + y) * width + x] = Float(v)
            }
        }
    }
    return out
}

/// 3x3 box blur of a 3-plane image, mirroring at its edges.
func boxBlur(_ image: [Float], width: Int, height: Int) -> [Float] {
    var out = [Float](repeating: 0, count: image.count)
    for c in 0..<3 {
        let plane = c * width * height
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                for dy in -1...1 {
                    for dx in -1...1 {
                        sum += image[plane + Reflection.index(y + dy, height) * width + Reflection.index(x + dx, width)]
                    }
                }
                out[plane + y * width + x] = sum / 9
            }
        }
    }
    return out
}

func psnr(_ a: [Float], _ b: [Float], peak: Double = 255) -> Double {
    precondition(a.count == b.count)
    let sse = a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            var sse = 0.0
            for i in 0..<a.count { let d = Double(a[i] - b[i]); sse += d * d }
            return sse
        }
    }
    let mse = sse / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(peak * peak / mse)
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    return a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            var m: Float = 0
            for i in 0..<a.count { m = max(m, abs(a[i] - b[i])) }
            return m
        }
    }
}

/// Whether two images agree once both are rounded to `step`.
func equalAfterRounding(_ a: [Float], _ b: [Float], step: Float) -> Bool {
    precondition(a.count == b.count)
    return a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
            for i in 0..<a.count where lroundf(a[i] / step) != lroundf(b[i] / step) { return false }
            return true
        }
    }
}

struct TileFailure: Error, Equatable { let x: Int; let y: Int }
