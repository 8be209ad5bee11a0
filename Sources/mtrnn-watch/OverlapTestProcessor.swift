import Deblur
import Foundation
@preconcurrency import Glibc
import WatchService

/// MTRNN_WATCH_TEST_PROCESSOR=overlap:SECONDS: a copy in the deblur
/// pipeline's three stages, for the tests of overlapping photos without
/// weights: "decode" (a quarter of SECONDS), "network" (half of it, one
/// photo at a time, process-wide, with progress), "encode" (a quarter).
/// Like `DeblurProcessor` it takes two photos at once (`overlapsPhotos`).
/// With MTRNN_WATCH_TEST_OVERLAP_LOG set, each stage's start and end are
/// appended to that file as "EVENT NAME" lines, in the order they happened
/// (one write each, O_APPEND), for the test to read what overlapped.
struct OverlapTestProcessor: PhotoProcessor {
    var seconds: Double
    var logPath: String?

    var modelDescription: String { "overlap \(seconds) s per photo (test processor, no deblurring)" }
    var overlapsPhotos: Bool { true }

    static let network = NetworkGate()

    func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
        let start = ContinuousClock.now
        let name = input.lastPathComponent
        note("decode-begin", name)
        let bytes: [UInt8]
        do { bytes = try [UInt8](Data(contentsOf: input)) } catch {
            throw CopyProcessor.Failure.unreadable(name, "\(error.localizedDescription)")
        }
        progress(DeblurProgress(stage: .decoding, elapsed: 0))
        try await Task.sleep(for: .milliseconds(Int64(seconds * 250)))
        note("decode-end", name)
        await Self.network.acquire()
        do {
            note("network-begin", name)
            let steps = 4
            for step in 1...steps {
                try await Task.sleep(for: .milliseconds(Int64(seconds * 500) / Int64(steps)))
                let elapsed = (ContinuousClock.now - start).inSeconds
                progress(DeblurProgress(deblurring: TileProgress(tilesDone: step, tilesTotal: steps, elapsed: elapsed),
                                        elapsed: elapsed))
            }
            note("network-end", name)
        } catch {
            note("network-end", name)
            await Self.network.release()
            throw error
        }
        await Self.network.release()
        note("encode-begin", name)
        try await Task.sleep(for: .milliseconds(Int64(seconds * 250)))
        note("encode-end", name)
        return ProcessedPhoto(bytes: bytes, report: ProcessingReport(megapixels: 0, tiles: 4,
                                                                     seconds: (ContinuousClock.now - start).inSeconds))
    }

    private func note(_ event: String, _ name: String) {
        guard let logPath else { return }
        let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let line = Array("\(event) \(name)\n".utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// One holder at a time, the others wait in turn.
    actor NetworkGate {
        private var busy = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func acquire() async {
            guard busy else { busy = true; return }
            await withCheckedContinuation { waiting.append($0) }
        }

        func release() {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
    }
}
