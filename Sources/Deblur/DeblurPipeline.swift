import Foundation
import Identity
import MTRNN
import PhotoIO

/// Deblurs photo files: decode, tile, MT-RNN on every tile on a pool of
/// workers, blend, encode in the input's format with its metadata. It writes
/// no file: the caller (the daemon, `mtrnnctl deblur`) writes the encoded
/// bytes where they belong, durably (DurableFiles).
///
/// The weights are loaded once; each worker builds its own network the
/// first time it gets a tile and keeps it for later photos (networks are
/// not shared across threads, and building one creates its oneDNN
/// primitives). Photos go through one at a time: concurrent calls wait.
public final class DeblurPipeline: Sendable {
    public let options: DeblurOptions
    /// `options.precision` as this CPU runs it (`auto` decided once, here).
    public let precision: Precision
    public let workers: Int
    public let threadsPerWorker: Int
    private let weights: MTRNNWeights
    /// The weights file by content: hashed once here, at load (streamed), for
    /// the processing note, the status, the journal and the metrics; nil
    /// when the file could not be read a second time (the note then names it).
    public let weightsIdentity: WeightsIdentity?
    private let networks: NetworkPool
    let oneAtATime = NSLock()

    public init(options: DeblurOptions) throws {
        // Networks are built on the first tile; a CPU without bf16 kernels
        // stops the run here (validate), not at every photo.
        do { try options.validate() } catch { throw DeblurError.invalidOptions(error) }
        self.options = options
        precision = options.precision.resolved()
        (workers, threadsPerWorker) = options.resolvedConcurrency()
        do {
            weights = try MTRNNWeights.load(contentsOf: options.weights)
        } catch {
            throw DeblurError.weights(options.weights, underlying: DeblurError.detail(error, about: options.weights))
        }
        weightsIdentity = try? WeightsIdentity(hashing: options.weights.path)
        networks = NetworkPool(count: workers)
    }

    /// A line for people: "MT-RNN mtrnn.safetensors, 6 iterations, f32, tile 256/16".
    public var description: String {
        let o = options
        return "MT-RNN \(o.weights.lastPathComponent), \(o.iterations) iterations"
            + (o.stopBelow > 0 ? " (a tile stops once an update is below \(o.stopBelow))" : "")
            + ", \(precision.rawValue), tile \(o.tile)/\(o.overlap)"
            + (o.scale == DeblurOptions.autoScale ? ", scale auto (per photo, from its blur extent)"
                : o.scale > 1 ? ", at 1/\(o.scale) scale" : "")
            + (o.flatTileGradient > 0 ? ", flat tiles (< \(o.flatTileGradient)) skipped" : "")
    }

    /// `input` decoded within the pixel limit, or the read error that names it
    /// (the full run and the preview decode the same way).
    func decodeInput(_ input: URL) throws -> Image {
        do {
            return try PhotoIO.decode(contentsOf: input, maxPixels: options.maxPixels)
        } catch {
            throw DeblurError.read(input, underlying: DeblurError.detail(error, about: input))
        }
    }

    /// Deblurs `input`: the result encoded in the same format, depth,
    /// channels and metadata, for the caller to write, and what it cost.
    /// `cancel` is read before each stage and before every tile; once it is
    /// set the photo stops with `CancellationError`.
    public func deblur(input: URL,
                       progress: @Sendable (DeblurProgress) -> Void = { _ in },
                       cancel: CancelFlag = CancelFlag()) throws -> DeblurredPhoto {
        oneAtATime.lock(); defer { oneAtATime.unlock() }
        let start = DispatchTime.now()
        let elapsed: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

        try cancel.check()
        progress(DeblurProgress(stage: .decoding, elapsed: elapsed()))
        let image = try decodeInput(input)

        // Taken as the only reference, so the runner blends into this buffer
        // in place and a photo costs one float image, not two (at scale 1).
        var planar = image.planarRGB().data
        // A photo in another colour space than sRGB (the network's) is seen
        // in sRGB and put back into its own profile at the end.
        let (colour, colourNote) = Self.colourConversion(image, options.colourProfile)
        colour?.toSRGB(&planar)
        // Sharp already: left alone, the photo's own bytes as the result
        // (copy) or none (skip); the blur estimate comes with the score.
        let assessment = options.sharpPhotos == .process ? nil
            : PhotoAssessment.assess(planarRGB: planar, width: image.width, height: image.height)
        if let assessment, assessment.isSharp(threshold: options.sharpThreshold) {
            var report = DeblurReport(input: input, width: image.width, height: image.height, tiles: 0, seconds: 0)
            report.sharpness = assessment.score
            report.leftAlone = true
            let bytes: [UInt8]
            do {
                bytes = options.sharpPhotos == .copy ? Array(try Data(contentsOf: input)) : []
            } catch {
                throw DeblurError.read(input, underlying: DeblurError.detail(error, about: input))
            }
            report.seconds = elapsed()
            progress(DeblurProgress(stage: .done, elapsed: report.seconds))
            return DeblurredPhoto(bytes: bytes, report: report)
        }
        // Auto: the scale that brings the estimated blur within the network's
        // reach, from the photo at full size before any downscaling.
        let estimate = options.scale == DeblurOptions.autoScale
            ? assessment?.blur ?? BlurExtent.estimate(planarRGB: planar, width: image.width, height: image.height) : nil
        let scale = estimate?.suggestedScale ?? options.scale
        let pass = try networkPass(consume planar, width: image.width, height: image.height, scale: scale,
                                   input: input, elapsed: elapsed, progress: progress, cancel: cancel)
        var deblurred = pass.data
        let plan = pass.plan

        try cancel.check()
        progress(DeblurProgress(stage: .encoding, tilesDone: plan.tiles.count,
                                tilesTotal: plan.tiles.count, elapsed: elapsed()))
        // `strength` below 1 keeps part of the photo (a second float image, only then).
        if options.strength < 1 {
            var original = image.planarRGB().data
            colour?.toSRGB(&original)
            DeblurOptions.blend(&deblurred, toward: original, strength: options.strength)
        }
        colour?.fromSRGB(&deblurred)
        let bytes: [UInt8]
        do {
            let result = image.replacingColour(withPlanarRGB: consume deblurred)
            bytes = try PhotoIO.encode(result, options: EncodeOptions(
                jpegQuality: options.jpegQuality,
                softwareNote: options.softwareNote ?? options.defaultSoftwareNote(scaleUsed: scale, weightsSHA256: weightsIdentity?.sha256)))
        } catch {
            throw DeblurError.write(input, underlying: "encoding failed: " + DeblurError.detail(error, about: input))
        }

        var report = DeblurReport(input: input, width: image.width, height: image.height,
                                  tiles: plan.tiles.count, seconds: elapsed())
        (report.flatTiles, report.iterationsRun) = (pass.flatTiles, pass.iterationsRun)
        report.scaleUsed = scale
        report.blurExtent = estimate?.extentPixels
        report.blurConfidence = estimate?.confidence
        report.sharpness = assessment?.score
        report.colour = colourNote
        progress(DeblurProgress(stage: .done, tilesDone: plan.tiles.count,
                                tilesTotal: plan.tiles.count, elapsed: report.seconds))
        return DeblurredPhoto(bytes: bytes, report: report)
    }

    /// What one pass of the network over planar RGB produced.
    struct NetworkPass {
        var data: [Float]
        var plan: TilePlan
        var flatTiles: Int
        var iterationsRun: Int
    }

    /// The network over planar RGB (0...255, `width` x `height`) at `scale`:
    /// downscaled first when `scale` > 1 and the upsampled correction added
    /// back, else tiled in place. The whole photo (`deblur`) or a crop of it
    /// (`preview`) goes through here. Errors name `input`.
    func networkPass(_ planar: consuming [Float], width: Int, height: Int, scale: Int, input: URL,
                     elapsed: @Sendable () -> Double, progress: @Sendable (DeblurProgress) -> Void,
                     cancel: CancelFlag) throws -> NetworkPass {
        // Only made at scale > 1: at scale 1 a second reference to `planar` would copy it.
        let small = scale > 1 ? ScaleCorrection.downscale(planar, width: width, height: height, factor: scale) : nil
        let plan: TilePlan
        do {
            // Fitted tiles: the same tile count, the smallest extent that keeps
            // the overlap (fewer overlap pixels through the network).
            plan = try TilePlan(imageWidth: small?.width ?? width, imageHeight: small?.height ?? height,
                                tile: options.tile, overlap: options.overlap, fitToImage: true)
        } catch {
            throw DeblurError.read(input, underlying: error.description)
        }
        let runner = TiledRunner(plan: plan, workers: workers)
        let counters = TileCounters()
        let (networks, weights, precision, threads, iterations) =
            (self.networks, self.weights, self.precision, threadsPerWorker, options.iterations)
        // replacingColour clamps to the sample range (and maps NaN to 0).
        let deblurred: [Float]
        do {
            let (flatBelow, stopBelow) = (options.flatTileGradient, options.stopBelow)
            let network: TiledRunner.TileFunction = { worker, tile, width, height in
                if flatBelow > 0, TileStatistics.meanGradient(tile, width: width, height: height) < flatBelow {
                    counters.add(flat: 1, iterations: 0)
                    return tile
                }
                let network = try networks.network(for: worker) {
                    try MTRNNNetwork(weights: weights, precision: precision, threads: threads)
                }
                let image = PlanarImage(width: width, height: height, data: tile)
                if stopBelow > 0 {
                    let (out, ran) = try network.run(image, iterations: iterations, stopBelow: stopBelow)
                    counters.add(flat: 0, iterations: ran)
                    return out.data
                }
                counters.add(flat: 0, iterations: iterations)
                return try network.run(image, iterations: iterations).data
            }
            let report: @Sendable (TileProgress) -> Void = { p in
                progress(DeblurProgress(deblurring: p, elapsed: elapsed()))
            }
            if let small {
                let smallOut = try runner.run(image: small.data, tileFunction: network, cancel: cancel, progress: report)
                var full = consume planar
                ScaleCorrection.addUpsampledCorrection(to: &full, width: width, height: height,
                                                       before: small.data, after: smallOut,
                                                       smallWidth: small.width, smallHeight: small.height, factor: scale)
                deblurred = consume full
            } else {
                deblurred = try runner.run(image: consume planar, tileFunction: network, cancel: cancel, progress: report)
            }
        } catch let error as CancellationError {
            throw error
        } catch {
            throw DeblurError.inference(input, underlying: DeblurError.detail(error, about: input))
        }
        let (flat, ran) = counters.totals
        return NetworkPass(data: deblurred, plan: plan, flatTiles: flat, iterationsRun: ran)
    }
}

/// One deblurred photo: the result, encoded in the input's format with its
/// metadata, for the caller to write, and what it cost. A photo left alone
/// as sharp (`report.leftAlone`) has the input's own bytes (`sharp_photos =
/// copy`) or none (`skip`: write nothing).
public struct DeblurredPhoto: Sendable {
    public var bytes: [UInt8]
    public var report: DeblurReport
}

/// What the tiles did, summed across workers.
private final class TileCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var flat = 0, iterations = 0
    func add(flat f: Int, iterations i: Int) { lock.lock(); flat += f; iterations += i; lock.unlock() }
    var totals: (Int, Int) { lock.lock(); defer { lock.unlock() }; return (flat, iterations) }
}

/// One network per worker, built on the worker's first tile and kept.
private final class NetworkPool: @unchecked Sendable {
    // MTRNNNetwork is not Sendable: slot i is only ever used by worker i,
    // and TiledRunner never runs two tiles with the same worker index at once.
    private let lock = NSLock()
    private var slots: [MTRNNNetwork?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func network(for worker: Int, make: () throws -> MTRNNNetwork) throws -> MTRNNNetwork {
        lock.lock()
        let existing = slots[worker]
        lock.unlock()
        if let existing { return existing }
        let made = try make()
        lock.lock(); slots[worker] = made; lock.unlock()
        return made
    }
}

extension DeblurPipeline {
    /// The conversion `image` needs under `setting` (nil: its values are
    /// taken as sRGB) and, for the report, what was done when the photo has
    /// a profile that is not sRGB.
    static func colourConversion(_ image: Image, _ setting: DeblurOptions.ColourProfile) -> (ColourConversion?, String?) {
        switch ColourConversion.make(for: image) {
        case .success(let c):
            if setting == .ignore { return (nil, "its colour profile \"\(c.profileName)\" was taken as sRGB (colour_profile = ignore)") }
            return (c, "converted from \"\(c.profileName)\" to sRGB and back")
        case .failure(.unusable(let why)):
            return (nil, "\(why): its values were taken as sRGB")
        case .failure:
            return (nil, nil)
        }
    }
}
