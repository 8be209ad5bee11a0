import Foundation
import Testing
import MTRNN
@testable import Deblur

/// The seam cost of tiling: PSNR of tiled inference against whole-image
/// inference on the same weights, per overlap (issue 4: >= 45 dB at the
/// default overlap, the smallest overlap that holds it).
///
/// For each overlap o the image is (2T - o) x (2T - o), so it is cut into
/// exactly 2 x 2 tiles that share exactly o pixels: one vertical seam, one
/// horizontal, and the corner where four tiles meet. (On a fixed image size
/// the evenly spread tiles often overlap by more than asked, which would
/// flatter small overlaps.)
///
/// Opt-in, minutes of CPU: `MTRNN_SEAM_WEIGHTS=Models/mtrnn.safetensors swift test
/// --filter seamMeasurement`. Optional: MTRNN_SEAM_OVERLAPS (default
/// "0,16,32,48,64"), MTRNN_SEAM_ITERATIONS (6).
@Test(.enabled(if: ProcessInfo.processInfo.environment["MTRNN_SEAM_WEIGHTS"] != nil))
func seamMeasurement() throws {
    let env = ProcessInfo.processInfo.environment
    let weightsURL = URL(fileURLWithPath: env["MTRNN_SEAM_WEIGHTS"]!)
    let overlaps = (env["MTRNN_SEAM_OVERLAPS"] ?? "0,16,32,48,64").split(separator: ",").compactMap { Int($0) }
    let iterations = Int(env["MTRNN_SEAM_ITERATIONS"] ?? "6") ?? 6
    let tile = 256
    let weights = try MTRNNWeights.load(contentsOf: weightsURL)
    let network = try MTRNNNetwork(weights: weights)
    let shared = NetworkBox(network)
    let scene = blurredScene(width: 2 * tile, height: 2 * tile)
    print("seam: \(weightsURL.lastPathComponent), tile \(tile), \(iterations) iterations, 2x2 tiles per overlap")
    var figures: [Int: Double] = [:]
    for overlap in overlaps {
        let side = 2 * tile - overlap
        let image = crop(scene, width: 2 * tile, height: 2 * tile, to: side)
        let start = Date()
        let whole = try network.run(PlanarImage(width: side, height: side, data: image), iterations: iterations).data.map(clamp)
        let plan = try TilePlan(imageWidth: side, imageHeight: side, tile: tile, overlap: overlap)
        #expect(plan.columnStarts == [0, tile - overlap])
        // One worker with all cores: the same network (and so the same
        // kernels) as the whole-image run, so only tiling differs.
        let tiled = try TiledRunner(plan: plan, workers: 1).run(image: image) { _, tile, tw, th in
            try shared.network.run(PlanarImage(width: tw, height: th, data: tile), iterations: iterations).data
        }.map(clamp)
        let p = psnr(tiled, whole)
        figures[overlap] = p
        print("seam: overlap \(overlap): \(side)x\(side), PSNR \(String(format: "%.2f", p)) dB, "
            + "max |diff| \(String(format: "%.3f", maxAbsDifference(tiled, whole))), "
            + "output vs input \(String(format: "%.2f", psnr(whole, image))) dB, "
            + "\(String(format: "%.1f", Date().timeIntervalSince(start))) s")
    }
    if let atDefault = figures[TilePlan.defaultOverlap] {
        #expect(atDefault >= 45, "seam PSNR at the default overlap \(TilePlan.defaultOverlap): \(atDefault) dB")
    }
}

private func crop(_ image: [Float], width: Int, height: Int, to side: Int) -> [Float] {
    var out: [Float] = []
    out.reserveCapacity(3 * side * side)
    for c in 0..<3 {
        for y in 0..<side {
            let row = (c * height + y) * width
            out.append(contentsOf: image[row..<(row + side)])
        }
    }
    return out
}

private func clamp(_ v: Float) -> Float { min(max(v, 0), 255) }

/// The tiled runs use one worker, so the network is only ever used by one
/// thread at a time.
private final class NetworkBox: @unchecked Sendable {
    let network: MTRNNNetwork
    init(_ network: MTRNNNetwork) { self.network = network }
}

/// A photo-like blurred test scene: smooth shading, hard-edged discs,
/// sensor noise, then a 9-pixel horizontal motion blur.
func blurredScene(width w: Int, height h: Int, seed: UInt64 = 5) -> [Float] {
    var rng = SplitMix64(seed: seed)
    func next() -> Double { Double(rng.next() >> 11) / Double(1 << 53) }
    var sharp = [Float](repeating: 0, count: 3 * w * h)
    for c in 0..<3 {
        for y in 0..<h {
            for x in 0..<w {
                sharp[(c * h + y) * w + x] = Float(90 + 60 * sin(Double(x) / 37 + Double(c)) * cos(Double(y) / 23) + 0.1 * Double(x))
            }
        }
    }
    for _ in 0..<40 {
        let cx = next() * Double(w), cy = next() * Double(h), r = 5 + next() * 55
        let colour = (0..<3).map { _ in Float(next() * 255) }
        for y in max(0, Int(cy - r))..<min(h, Int(cy + r) + 1) {
            for x in max(0, Int(cx - r))..<min(w, Int(cx + r) + 1)
            where (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy) < r * r {
                for c in 0..<3 { sharp[(c * h + y) * w + x] = colour[c] }
            }
        }
    }
    for i in sharp.indices {
        // Box-Muller would be nicer; a sum of uniforms is noise enough here.
        let noise = (next() + next() + next() - 1.5) * 8
        sharp[i] = min(max(sharp[i] + Float(noise), 0), 255)
    }
    var blurred = sharp
    for c in 0..<3 {
        for y in 0..<h {
            for x in 0..<w {
                var sum: Float = 0
                for d in -4...4 { sum += sharp[(c * h + y) * w + Reflection.index(x + d, w)] }
                blurred[(c * h + y) * w + x] = sum / 9
            }
        }
    }
    return blurred
}
