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
    /// One photo in the network at a time, in the whole process, whichever
    /// pipeline runs it: each takes all the cores (the engine's threads),
    /// and a daemon reloaded with new settings may have two pipelines.
    static let networkLock = NSLock()
    var oneAtATime: NSLock { Self.networkLock }

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
    /// set the photo stops with `CancellationError`. The three stages
    /// (`prepare`, `runNetwork`, `encode`) one after the other, on this thread.
    public func deblur(input: URL,
                       progress: @Sendable (DeblurProgress) -> Void = { _ in },
                       cancel: CancelFlag = CancelFlag()) throws -> DeblurredPhoto {
        oneAtATime.lock(); defer { oneAtATime.unlock() }
        let start = DispatchTime.now()
        let elapsed: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

        try cancel.check()
        progress(DeblurProgress(stage: .decoding, elapsed: elapsed()))
        // The planes stay with the photo: it goes to the network at once.
        let prepared = try prepare(input: input, keepPlanes: true)
        if var finished = prepared.finished {
            finished.report.seconds = elapsed()
            progress(DeblurProgress(stage: .done, elapsed: finished.report.seconds))
            return finished
        }
        let networked = try networkStage(consume prepared, elapsed: elapsed, progress: progress, cancel: cancel)
        try cancel.check()
        let tiles = networked.report?.tiles ?? 0
        progress(DeblurProgress(stage: .encoding, tilesDone: tiles, tilesTotal: tiles, elapsed: elapsed()))
        var photo = try encode(consume networked)
        photo.report.seconds = elapsed()
        progress(DeblurProgress(stage: .done, tilesDone: photo.report.tiles,
                                tilesTotal: photo.report.tiles, elapsed: photo.report.seconds))
        return photo
    }

    /// The first stage of `deblur`: `input` decoded into float planes in
    /// sRGB, its sharpness scored and its blur estimated (as the settings
    /// want them), and the scale chosen. A photo left alone as sharp comes
    /// out finished (its own bytes, or none). Any thread, while another photo
    /// is in `runNetwork`: a batch decodes the next photo during this one's
    /// network (`mtrnnctl deblur`). The photo waiting for the network keeps
    /// its decoded samples, and its float planes only where they cannot be
    /// remade exactly and cheaply from them (a colour conversion).
    public func prepare(input: URL, cancel: CancelFlag = CancelFlag()) throws -> PreparedPhoto {
        try cancel.check()
        return try prepare(input: input, keepPlanes: false)
    }

    func prepare(input: URL, keepPlanes: Bool) throws -> PreparedPhoto {
        var lap = Lap(), stages = StageSeconds()
        let image = try decodeInput(input)
        // A photo in another colour space than sRGB (the network's) is seen
        // in sRGB and put back into its own profile at the end.
        let (colour, colourNote) = Self.colourConversion(image, options.colourProfile)
        // The float planes, where they are kept: for the network at once
        // (`deblur`), or because a conversion made them. Otherwise the photo
        // is scored from its samples (the same values) and the planes are
        // made when its network starts, so a photo waiting in a batch never
        // holds them. Taken as the only reference, so the runner blends into
        // this buffer in place and a photo costs one float image, not two (at
        // scale 1).
        var planar: [Float]?
        if keepPlanes || colour != nil {
            var planes = image.planarRGB().data
            colour?.toSRGB(&planes)
            planar = consume planes
        }
        stages.decode = lap.next()
        // Sharp already: left alone, the photo's own bytes as the result
        // (copy) or none (skip); the blur estimate comes with the score.
        let assessment = options.sharpPhotos == .process ? nil
            : planar.map { PhotoAssessment.assess(planarRGB: $0, width: image.width, height: image.height) }
                ?? PhotoAssessment.assess(image: image)
        if let assessment, assessment.isSharp(threshold: options.sharpThreshold) {
            stages.score = lap.next()
            var report = DeblurReport(input: input, width: image.width, height: image.height, tiles: 0, seconds: 0)
            report.sharpness = assessment.score
            report.leftAlone = true
            let bytes: [UInt8]
            do {
                bytes = options.sharpPhotos == .copy ? Array(try Data(contentsOf: input)) : []
            } catch {
                throw DeblurError.read(input, underlying: DeblurError.detail(error, about: input))
            }
            stages.encode = lap.next()
            report.stageSeconds = stages
            report.seconds = stages.pipelineTotal
            return PreparedPhoto(input: input, image: nil, planar: nil, colour: nil, colourNote: nil, assessment: assessment,
                                 estimate: nil, scale: 1, finished: DeblurredPhoto(bytes: bytes, report: report), stages: stages)
        }
        // Auto: the scale that brings the estimated blur within the network's
        // reach, from the photo at full size before any downscaling.
        let estimate = options.scale == DeblurOptions.autoScale
            ? assessment?.blur ?? planar.map { BlurExtent.estimate(planarRGB: $0, width: image.width, height: image.height) }
                ?? BlurExtent.estimate(image: image) : nil
        let scale = estimate?.suggestedScale ?? options.scale
        if assessment != nil || estimate != nil { stages.score = lap.next() }
        return PreparedPhoto(input: input, image: image, planar: planar,
                             colour: colour, colourNote: colourNote, assessment: assessment, estimate: estimate,
                             scale: scale, finished: nil, stages: stages)
    }

    /// The second stage of `deblur`: the network over a prepared photo (a
    /// finished one passes through). One photo at a time in the process, as
    /// `deblur`: a second caller waits. `quantising`: `quantise` too, still
    /// holding the network, for a caller that overlaps photos (a batch, the
    /// daemon): no photo's float planes then wait beside the next photo's
    /// network.
    public func runNetwork(_ photo: consuming PreparedPhoto,
                           progress: @Sendable (DeblurProgress) -> Void = { _ in },
                           cancel: CancelFlag = CancelFlag(), quantising: Bool = false) throws -> NetworkedPhoto {
        oneAtATime.lock(); defer { oneAtATime.unlock() }
        let start = DispatchTime.now()
        let elapsed: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }
        let networked = try networkStage(consume photo, elapsed: elapsed, progress: progress, cancel: cancel)
        guard quantising else { return networked }
        try cancel.check()
        return quantise(consume networked)
    }

    func networkStage(_ photo: consuming PreparedPhoto, elapsed: @Sendable () -> Double,
                      progress: @Sendable (DeblurProgress) -> Void, cancel: CancelFlag) throws -> NetworkedPhoto {
        guard let image = photo.image, photo.finished == nil else {
            return NetworkedPhoto(input: photo.input, image: nil, deblurred: [], colour: nil, report: nil,
                                  finished: photo.finished)
        }
        try cancel.check()
        var lap = Lap()
        // Moved out of the photo, so the runner holds the only reference (in place at scale 1).
        var planar: [Float] = []
        if photo.planar != nil {
            swap(&planar, &photo.planar!)
            photo.planar = nil
        } else {
            planar = image.planarRGB().data
        }
        let pass = try networkPass(consume planar, width: image.width, height: image.height, scale: photo.scale,
                                   input: photo.input, elapsed: elapsed, progress: progress, cancel: cancel)
        var stages = photo.stages
        stages.network = lap.next()
        var report = DeblurReport(input: photo.input, width: image.width, height: image.height,
                                  tiles: pass.plan.tiles.count, seconds: 0)
        (report.flatTiles, report.iterationsRun) = (pass.flatTiles, pass.iterationsRun)
        report.scaleUsed = photo.scale
        report.blurExtent = photo.estimate?.extentPixels
        report.blurConfidence = photo.estimate?.confidence
        report.sharpness = photo.assessment?.score
        report.colour = photo.colourNote
        report.stageSeconds = stages
        return NetworkedPhoto(input: photo.input, image: image, deblurred: pass.data, colour: photo.colour,
                              report: report, finished: nil)
    }

    /// The float half of `encode`: `strength`, the colour profile back, and
    /// the result quantised into the photo's own samples; its float planes
    /// are freed here. A batch does this on the network's thread before it
    /// hands the photo to its encoder thread, so that no photo's float planes
    /// (12 bytes a pixel) wait beside the next photo's network, where memory
    /// is at its peak. `encode` does it itself where it was not done; a
    /// finished photo, or one done already, passes through.
    public func quantise(_ photo: consuming NetworkedPhoto) -> NetworkedPhoto {
        guard photo.finished == nil, !photo.quantised, var report = photo.report, photo.image != nil else {
            return photo
        }
        var lap = Lap()
        // Moved out of the photo: the only reference, so the result takes its samples in place.
        var image = Image(width: 0, height: 0, channels: 3, bitDepth: 8, samples: [], format: .png)
        swap(&image, &photo.image!)
        photo.image = nil
        var deblurred: [Float] = []
        swap(&deblurred, &photo.deblurred)
        // `strength` below 1 keeps part of the photo (a second float image, only then).
        if options.strength < 1 {
            var original = image.planarRGB().data
            photo.colour?.toSRGB(&original)
            DeblurOptions.blend(&deblurred, toward: original, strength: options.strength)
        }
        photo.colour?.fromSRGB(&deblurred)
        let result = (consume image).replacingColour(withPlanarRGB: consume deblurred)
        report.stageSeconds.encode = lap.next()
        return NetworkedPhoto(input: photo.input, image: result, deblurred: [], colour: photo.colour, report: report,
                              finished: nil, quantised: true)
    }

    /// The last stage of `deblur`: `quantise` (where not done yet), and the
    /// result encoded in the input's format with its metadata (a finished
    /// photo passes through). Any thread, while another photo is in
    /// `runNetwork`. Its `encode` seconds include `quantise`'s.
    public func encode(_ photo: consuming NetworkedPhoto) throws -> DeblurredPhoto {
        if let finished = photo.finished { return finished }
        var done = quantise(consume photo)
        guard var report = done.report, done.image != nil else {
            preconditionFailure("a networked photo has its image and report, or is finished")
        }
        var image = Image(width: 0, height: 0, channels: 3, bitDepth: 8, samples: [], format: .png)
        swap(&image, &done.image!)
        done.image = nil
        let input = done.input
        var lap = Lap()
        let bytes: [UInt8]
        do {
            bytes = try PhotoIO.encode(image, options: EncodeOptions(
                jpegQuality: options.jpegQuality,
                softwareNote: options.softwareNote ?? options.defaultSoftwareNote(scaleUsed: report.scaleUsed,
                                                                                  weightsSHA256: weightsIdentity?.sha256)))
        } catch {
            throw DeblurError.write(input, underlying: "encoding failed: " + DeblurError.detail(error, about: input))
        }
        report.stageSeconds.encode = (report.stageSeconds.encode ?? 0) + lap.next()
        report.seconds = report.stageSeconds.pipelineTotal
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

/// A photo between `prepare` and `runNetwork`: decoded, in sRGB, assessed,
/// its scale chosen; or finished already (left alone as sharp).
public struct PreparedPhoto: Sendable {
    public let input: URL
    let image: Image?
    /// The float planes in sRGB; nil where `image.planarRGB()` remakes them.
    var planar: [Float]?
    let colour: ColourConversion?
    let colourNote: String?
    let assessment: PhotoAssessment?
    let estimate: BlurExtent.Estimate?
    let scale: Int
    /// Left alone as sharp: the result; the later stages pass it on.
    public let finished: DeblurredPhoto?
    /// The decode and score times so far.
    public let stages: StageSeconds
}

/// A photo between `runNetwork` and `encode`: the network's result in float
/// planes (sRGB) and the decoded photo it came from; after `quantise`, the
/// result in the photo's own samples; or finished already.
public struct NetworkedPhoto: Sendable {
    public let input: URL
    var image: Image?
    var deblurred: [Float]
    let colour: ColourConversion?
    let report: DeblurReport?
    public let finished: DeblurredPhoto?
    /// `image` is the result and `deblurred` empty (`quantise` was done).
    var quantised = false
    /// The tiles the network ran (0 for a finished photo).
    public var tiles: Int { report?.tiles ?? 0 }
}

/// Seconds between calls of `next`, from when the lap was made.
struct Lap {
    private var last = DispatchTime.now()
    mutating func next() -> Double {
        let now = DispatchTime.now()
        defer { last = now }
        return Double(now.uptimeNanoseconds - last.uptimeNanoseconds) / 1e9
    }
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
