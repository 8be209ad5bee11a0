import Deblur
import Foundation
@preconcurrency import Glibc
import WatchService

/// MTRNN_WATCH_TEST_PROCESSOR=spin:SECONDS: SECONDS of CPU time per photo
/// (the thread's own clock: on a shared core it takes longer, as deblurring
/// would), in ten "tiles" of arithmetic with progress after each, then
/// returns the photo's own bytes. The cluster benchmark's stand-in for the
/// network: work that scales with cores, as deblurring does, without weights.
struct SpinTestProcessor: PhotoProcessor {
    var seconds: Double

    var modelDescription: String { "spin \(seconds) s per photo on one core (test processor, no deblurring)" }

    func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        let bytes = try [UInt8](Data(contentsOf: input))
        let steps = 10
        progress(DeblurProgress(stage: .decoding, tilesTotal: steps, elapsed: 0))
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for step in 1...steps {
            let until = Self.threadCPUSeconds() + seconds / Double(steps)
            // About a millisecond of arithmetic between reads of the thread's
            // clock: that read is a system call (no vDSO for thread clocks),
            // and read every few microseconds it made most of the "work"
            // kernel time, with the kernel's own overheads in it (83 % sys on
            // the development VM; 2 workers on 2 cores got 88 % of a core each).
            while Self.threadCPUSeconds() < until {
                for _ in 0..<400_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
            }
            try Task.checkCancellation()
            let elapsed = (ContinuousClock.now - start).inSeconds
            progress(DeblurProgress(deblurring: TileProgress(tilesDone: step, tilesTotal: steps, elapsed: elapsed), elapsed: elapsed))
        }
        withExtendedLifetime(x) {}
        return ProcessedPhoto(bytes: bytes, report: ProcessingReport(megapixels: 0, tiles: steps, seconds: (ContinuousClock.now - start).inSeconds))
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
