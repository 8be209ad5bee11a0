import Deblur
import Dispatch
import Foundation
import MTRNN
import Synchronization
import WatchService

/// The daemon's real pipeline: `DeblurPipeline` (decode, tile, MT-RNN, blend,
/// encode with the metadata) behind the daemon's `PhotoProcessor` contract.
///
/// The pipeline is synchronous and keeps both cores busy through its own
/// tile workers, so it runs on a Dispatch thread, never on the cooperative
/// pool the daemon's actors use. Cancellation (SIGTERM) reaches the tile loop
/// through a flag that the task's cancellation handler sets.
struct DeblurProcessor: PhotoProcessor {
    let pipeline: DeblurPipeline
    let modelDescription: String

    init(config: WatchConfig, weights: URL) throws {
        let precision: Precision
        switch config.precision {
        case "auto": precision = MTRNNNetwork.bf16Supported() ? .bf16 : .f32
        default:
            guard let p = Precision(rawValue: config.precision) else {
                throw DeblurError.invalidOptions("precision must be auto, f32 or bf16 (got \(config.precision))")
            }
            precision = p
        }
        var options = DeblurOptions(
            weights: weights, iterations: config.iterations, precision: precision,
            tile: config.tile, overlap: config.overlap, jpegQuality: config.jpegQuality,
            maxPixels: Int(config.maxMegapixels * 1_000_000))
        options.scale = config.scale
        options.stopBelow = Float(config.stopBelow)
        options.flatTileGradient = Float(config.skipFlat)
        pipeline = try DeblurPipeline(options: options)
        modelDescription = "MT-RNN \(weights.lastPathComponent), \(config.iterations) iterations"
            + (config.stopBelow > 0 ? " (a tile stops once an update is below \(config.stopBelow))" : "")
            + ", \(precision.rawValue), tile \(config.tile)/\(config.overlap)"
            + (config.scale == 0 ? ", scale auto (per photo, from its blur extent)"
                : config.scale > 1 ? ", at 1/\(config.scale) scale" : "")
            + (config.skipFlat > 0 ? ", flat tiles (< \(config.skipFlat)) skipped" : "")
    }

    /// What the pipeline chose for this photo, in the words of the journal.
    static func detail(_ r: DeblurReport) -> String {
        var parts: [String] = []
        if let e = r.blurExtent, let c = r.blurConfidence {
            parts.append(String(format: "scale %d (blur about %.0f px, confidence %.2f)", r.scaleUsed, e, c))
        } else if r.scaleUsed > 1 {
            parts.append("scale \(r.scaleUsed)")
        }
        if r.flatTiles > 0 { parts.append("\(r.flatTiles) flat tiles left as they were") }
        parts.append(String(format: "%.1f iterations per tile", Double(r.iterationsRun) / Double(max(r.tiles, 1))))
        return parts.joined(separator: ", ")
    }

    func process(input: URL, progress: @Sendable (ProcessingProgress) -> Void) async throws -> ProcessedPhoto {
        // `progress` may not escape this call, so the Dispatch thread never
        // holds it: it posts to a stream that this task drains and forwards.
        // (withoutActuallyEscaping trapped here: the Dispatch block could
        // still be alive when the continuation resumed.)
        let (events, sink) = AsyncStream<ProcessingProgress>.makeStream(bufferingPolicy: .bufferingNewest(8))
        async let result = run(input: input, sink: sink)
        for await p in events { progress(p) }
        return try await result
    }

    private func run(input: URL, sink: AsyncStream<ProcessingProgress>.Continuation) async throws -> ProcessedPhoto {
        let cancelled = CancelFlag()
        let pipeline = self.pipeline
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ProcessedPhoto, any Error>) in
                DispatchQueue.global(qos: .utility).async {
                    defer { sink.finish() }
                    do {
                        let photo = try pipeline.deblur(input: input, progress: { p in
                            let fraction: Double
                            switch p.stage {
                            case .decoding: fraction = 0
                            case .deblurring: fraction = p.tilesTotal > 0 ? 0.02 + 0.95 * Double(p.tilesDone) / Double(p.tilesTotal) : 0.02
                            case .encoding, .writing: fraction = 0.98
                            case .done: fraction = 1
                            }
                            sink.yield(ProcessingProgress(fractionDone: fraction, tilesDone: p.tilesDone, tilesTotal: p.tilesTotal))
                        }, isCancelled: { cancelled.isSet })
                        let r = photo.report
                        var report = ProcessingReport(megapixels: r.megapixels, tiles: r.tiles, seconds: r.seconds)
                        report.detail = Self.detail(r)
                        cont.resume(returning: ProcessedPhoto(bytes: photo.bytes, report: report))
                    } catch {
                        cont.resume(throwing: error)
                    }
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }
}

/// A one-way flag shared between the cancellation handler and the tile loop.
final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    func set() { flag.store(true, ordering: .relaxed) }
    var isSet: Bool { flag.load(ordering: .relaxed) }
}
