import Foundation
import Synchronization

/// Where one photo is: the one progress vocabulary from the tiled runner to
/// `mtrnnctl status`. The pipeline reports it, the daemon keeps the latest
/// for its status, and `mtrnnctl deblur` draws its bar from it.
public struct DeblurProgress: Sendable, Equatable {
    public enum Stage: String, Sendable { case decoding, deblurring, encoding, writing, done }

    public var stage: Stage
    public var tilesDone: Int
    public var tilesTotal: Int
    /// Seconds since this photo started.
    public var elapsed: Double
    /// Seconds left for the tiles (``TileProgress/estimatedRemaining``);
    /// nil outside the tiles and before the first tile is done.
    public var estimatedRemaining: Double?

    public init(stage: Stage, tilesDone: Int = 0, tilesTotal: Int = 0,
                elapsed: Double, estimatedRemaining: Double? = nil) {
        self.stage = stage
        self.tilesDone = tilesDone; self.tilesTotal = tilesTotal
        self.elapsed = elapsed; self.estimatedRemaining = estimatedRemaining
    }

    /// The tiles as the runner counts them, `elapsed` since the photo started.
    public init(deblurring tiles: TileProgress, elapsed: Double) {
        self.init(stage: .deblurring, tilesDone: tiles.tilesDone, tilesTotal: tiles.tilesTotal,
                  elapsed: elapsed, estimatedRemaining: tiles.estimatedRemaining)
    }

    /// Where the stages lie on the photo's 0...1 scale: decoding and
    /// encoding are short beside the network, so the tiles take 95 % of it.
    public static let tilesStart = 0.02, tilesEnd = 0.97, encodingStart = 0.98

    /// 0...1 over the whole photo (decode, tiles, encode).
    public var fractionDone: Double {
        switch stage {
        case .decoding: return 0
        case .deblurring:
            let tiles = tilesTotal > 0 ? Double(min(tilesDone, tilesTotal)) / Double(tilesTotal) : 0
            return Self.tilesStart + (Self.tilesEnd - Self.tilesStart) * tiles
        case .encoding, .writing: return Self.encodingStart
        case .done: return 1
        }
    }
}

extension Duration {
    /// The duration in seconds, as a Double (reports, progress, the status).
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// A one-way flag that stops a photo: set by whoever cancels (the daemon's
/// task cancellation handler), read by the pipeline before each stage and by
/// the tiled runner before each tile, which then throw `CancellationError`.
/// The tiles run on Dispatch threads, where `Task.isCancelled` cannot see
/// the caller's task; this flag is what crosses over.
public final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
    /// Throws `CancellationError` once the flag is set.
    public func check() throws(CancellationError) {
        if isCancelled { throw CancellationError() }
    }
}

/// What one deblurred photo cost.
public struct DeblurReport: Sendable, Equatable {
    public var input: URL
    public var width: Int
    public var height: Int
    public var tiles: Int
    public var seconds: Double
    /// Tiles left as they were because they are flat (`flatTileGradient`).
    public var flatTiles: Int = 0
    /// Network iterations run, summed over the tiles (fewer than tiles x
    /// iterations where tiles stopped early or were flat).
    public var iterationsRun: Int = 0
    /// The scale the photo was deblurred at (1...4; with auto, the one chosen).
    public var scaleUsed: Int = 1
    /// With auto scale: the estimated blur extent (px at the photo's size) and
    /// its confidence (0...1) that chose `scaleUsed`; nil otherwise.
    public var blurExtent: Double?
    public var blurConfidence: Double?
    /// The sharpness score, where the photo was assessed (`sharp_photos` is
    /// not `process`); higher is sharper.
    public var sharpness: Double?
    /// Sharp already: not deblurred (`sharp_photos`): the result is the
    /// photo itself (copy) or there is none (skip).
    public var leftAlone = false
    /// How the photo's colour profile was treated, when it was not sRGB:
    /// "converted from Adobe RGB (1998) to sRGB and back", or why not.
    public var colour: String?
    /// Where the time went, stage by stage (`seconds` is their sum, less the
    /// write, which the caller does and fills in).
    public var stageSeconds = StageSeconds()
    public var megapixels: Double { Double(width * height) / 1e6 }
    public var secondsPerMegapixel: Double { seconds / max(megapixels, 1e-9) }
    public var iterationsPerTile: Double { Double(iterationsRun) / Double(max(tiles, 1)) }
}

/// Seconds per stage of one photo (`mtrnnctl deblur --json`); nil for a
/// stage not run. In a batch that overlaps the stages (decoding the next
/// photo and writing the last one while the network runs), each is the
/// stage's own wall time, and they overlap other photos' stages.
public struct StageSeconds: Sendable, Equatable {
    /// Reading and decoding the file, into float planes in sRGB (a colour
    /// profile's conversion included).
    public var decode: Double?
    /// The sharpness score and the blur-extent estimate (`sharp_photos`,
    /// `scale = auto`); nil when neither is wanted.
    public var score: Double?
    /// The network: downscaling, the tiles, the upsampled correction.
    public var network: Double?
    /// `strength`, the colour profile back, encoding in the input's format;
    /// for a photo copied as sharp, reading its bytes.
    public var encode: Double?
    /// The durable write of the result (temporary file, fsync, rename, the
    /// folder's fsync): done by the caller, which fills it in.
    public var write: Double?

    public init(decode: Double? = nil, score: Double? = nil, network: Double? = nil,
                encode: Double? = nil, write: Double? = nil) {
        self.decode = decode; self.score = score; self.network = network
        self.encode = encode; self.write = write
    }

    /// The stages the pipeline ran, summed (the write is not the pipeline's).
    public var pipelineTotal: Double { (decode ?? 0) + (score ?? 0) + (network ?? 0) + (encode ?? 0) }
}
