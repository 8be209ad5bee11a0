/// Progress of one tiled run, reported after every finished tile.
public struct TileProgress: Sendable, Equatable {
    public var tilesDone: Int
    public var tilesTotal: Int
    /// Seconds since the run started.
    public var elapsed: Double

    public init(tilesDone: Int, tilesTotal: Int, elapsed: Double) {
        self.tilesDone = tilesDone; self.tilesTotal = tilesTotal; self.elapsed = elapsed
    }

    public var fraction: Double { tilesTotal == 0 ? 1 : Double(tilesDone) / Double(tilesTotal) }

    /// Seconds left, extrapolated from the mean time per tile so far; nil
    /// before the first tile is done.
    public var estimatedRemaining: Double? {
        guard tilesDone > 0 else { return nil }
        return elapsed / Double(tilesDone) * Double(tilesTotal - tilesDone)
    }
}
