import Foundation

/// Where one photo is in the pipeline, for the CLI's bar and the daemon's status.
public struct DeblurProgress: Sendable, Equatable {
    public enum Stage: String, Sendable { case decoding, deblurring, encoding, writing, done }

    public var input: URL
    public var stage: Stage
    public var tilesDone: Int
    public var tilesTotal: Int
    /// Seconds since this photo started.
    public var elapsed: Double
    /// Seconds left for the tiles, from the mean tile time so far.
    public var estimatedRemaining: Double?

    public init(input: URL, stage: Stage, tilesDone: Int = 0, tilesTotal: Int = 0,
                elapsed: Double, estimatedRemaining: Double? = nil) {
        self.input = input; self.stage = stage
        self.tilesDone = tilesDone; self.tilesTotal = tilesTotal
        self.elapsed = elapsed; self.estimatedRemaining = estimatedRemaining
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
    public var megapixels: Double { Double(width * height) / 1e6 }
    public var secondsPerMegapixel: Double { seconds / max(megapixels, 1e-9) }
}
