import Deblur
import Dispatch
import Foundation
import Identity

/// The daemon's real pipeline: `DeblurPipeline` (decode, tile, MT-RNN, blend,
/// encode with the metadata) behind the daemon's `PhotoProcessor` contract.
///
/// The pipeline is synchronous and keeps the cores busy through its own
/// tile workers, so each photo runs on a thread of its own, never on the
/// cooperative pool the daemon's actors use, nor on Dispatch's pool, which
/// the tiles' `concurrentPerform` needs. Two photos may be in `process` at
/// once (`overlapsPhotos`): each decodes and scores, then waits for the
/// network (one photo in it at a time, process-wide), then encodes, so one
/// photo's network hides the other's decode or encode. Cancellation
/// (SIGTERM) reaches the tiles through a `CancelFlag` that the task's
/// cancellation handler sets.
public struct DeblurProcessor: PhotoProcessor {
    let pipeline: DeblurPipeline

    /// Loads the weights; throws `DeblurError` (the weights named) when it cannot.
    public init(options: DeblurOptions) throws {
        pipeline = try DeblurPipeline(options: options)
    }

    public var modelDescription: String { pipeline.description }

    public var weights: WeightsIdentity? { pipeline.weightsIdentity }

    public var overlapsPhotos: Bool { true }

    /// What the pipeline chose for this photo, in the words of the journal.
    static func detail(_ r: DeblurReport) -> String {
        if r.leftAlone, let s = r.sharpness { return String(format: "sharp already: sharpness %.2f", s) }
        var parts: [String] = []
        if let e = r.blurExtent, let c = r.blurConfidence {
            parts.append(String(format: "scale %d (blur about %.0f px, confidence %.2f)", r.scaleUsed, e, c))
        } else if r.scaleUsed > 1 {
            parts.append("scale \(r.scaleUsed)")
        }
        if r.flatTiles > 0 { parts.append("\(r.flatTiles) flat tiles left as they were") }
        parts.append(String(format: "%.1f iterations per tile", r.iterationsPerTile))
        if let colour = r.colour { parts.append(colour) }
        return parts.joined(separator: ", ")
    }

    public func process(input: URL, progress: @Sendable (DeblurProgress) -> Void) async throws -> ProcessedPhoto {
        // `progress` may not escape this call, so the Dispatch thread never
        // holds it: it posts to a stream that this task drains and forwards.
        // (withoutActuallyEscaping trapped here: the Dispatch block could
        // still be alive when the continuation resumed.)
        let (events, sink) = AsyncStream<DeblurProgress>.makeStream(bufferingPolicy: .bufferingNewest(8))
        async let result = run(input: input, sink: sink)
        for await p in events { progress(p) }
        return try await result
    }

    private func run(input: URL, sink: AsyncStream<DeblurProgress>.Continuation) async throws -> ProcessedPhoto {
        let cancel = CancelFlag()
        let pipeline = self.pipeline
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ProcessedPhoto, any Error>) in
                let thread = Thread {
                    defer { sink.finish() }
                    do {
                        let photo = try Self.stages(pipeline, input: input, sink: sink, cancel: cancel)
                        let r = photo.report
                        var report = ProcessingReport(megapixels: r.megapixels, tiles: r.tiles, seconds: r.seconds)
                        report.detail = Self.detail(r)
                        if r.leftAlone { report.leftAloneAsSharp = r.sharpness }
                        cont.resume(returning: ProcessedPhoto(bytes: photo.bytes, report: report))
                    } catch {
                        cont.resume(throwing: error)
                    }
                }
                thread.name = "mtrnn-watch photo"
                // As the main thread's: the codecs run on it.
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onCancel: {
            cancel.cancel()
        }
    }

    /// `DeblurPipeline.deblur`'s stages, with the network taken only for
    /// the network and the quantising: decoding and encoding run beside
    /// another photo's network. The same bytes as `deblur`. The report's
    /// seconds are the stages' own, without the wait for the network.
    static func stages(_ pipeline: DeblurPipeline, input: URL, sink: AsyncStream<DeblurProgress>.Continuation,
                       cancel: CancelFlag) throws -> DeblurredPhoto {
        let clock = ContinuousClock(), start = clock.now
        try cancel.check()
        sink.yield(DeblurProgress(stage: .decoding, elapsed: 0))
        let prepared = try pipeline.prepare(input: input, cancel: cancel)
        if let finished = prepared.finished {
            sink.yield(DeblurProgress(stage: .done, elapsed: (clock.now - start).inSeconds))
            return finished
        }
        let networked = try pipeline.runNetwork(consume prepared, progress: { sink.yield($0) }, cancel: cancel,
                                              quantising: true)
        try cancel.check()
        let tiles = networked.tiles
        sink.yield(DeblurProgress(stage: .encoding, tilesDone: tiles, tilesTotal: tiles, elapsed: (clock.now - start).inSeconds))
        let photo = try pipeline.encode(consume networked)
        sink.yield(DeblurProgress(stage: .done, tilesDone: photo.report.tiles, tilesTotal: photo.report.tiles,
                                  elapsed: (clock.now - start).inSeconds))
        return photo
    }
}
