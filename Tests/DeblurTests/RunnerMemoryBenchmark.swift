import Foundation
import Testing
@testable import Deblur

/// Peak memory and overhead of the runner alone on a 24 MP image with an
/// identity tile function. Opt-in (it allocates ~300 MB and is a figure, not
/// a check of correctness): `DEBLUR_BENCH=1 swift test -c release --filter RunnerMemoryBenchmark`.
@Test(.enabled(if: ProcessInfo.processInfo.environment["DEBLUR_BENCH"] == "1"))
func runnerMemoryBenchmark() throws {
    let (w, h) = (6000, 4000)
    var image = [Float](repeating: 0, count: 3 * w * h)
    image.withUnsafeMutableBufferPointer { p in for i in 0..<p.count { p[i] = Float(i % 251) } }
    let before = peakResidentMB()
    let plan = try TilePlan(imageWidth: w, imageHeight: h, tile: 256, overlap: TilePlan.defaultOverlap)
    let start = Date()
    let out = try TiledRunner(plan: plan, workers: 4).run(image: consume image) { _, tile, _, _ in tile }
    let seconds = Date().timeIntervalSince(start)
    let after = peakResidentMB()
    print("runner 24 MP: \(plan.tiles.count) tiles, \(String(format: "%.2f", seconds)) s, peak RSS \(before) MB before, \(after) MB after (image alone is \((3 * w * h * 4) >> 20) MB)")
    #expect(out[12345] == Float(12345 % 251))
    // Blending in place: the run adds row bands, not a second image.
    #expect(after - before < 150)
}

func peakResidentMB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }) else { return -1 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1) / 1024
}
