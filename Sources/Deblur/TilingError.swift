/// What went wrong while tiling an image.
public enum TilingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The tile size, overlap or image size cannot form a plan.
    case invalidPlan(String)
    /// The image buffer does not hold 3 planes of the plan's size.
    case imageSize(expected: Int, got: Int)
    /// A tile function returned a buffer of the wrong size.
    case tileOutputSize(tile: TileRect, expected: Int, got: Int)

    public var description: String {
        switch self {
        case .invalidPlan(let why):
            return "cannot tile the image: \(why)"
        case .imageSize(let expected, let got):
            return "image buffer holds \(got) values, expected \(expected) (3 planes); this is a bug in the caller"
        case .tileOutputSize(let tile, let expected, let got):
            return "tile at (\(tile.x), \(tile.y)) came back with \(got) values, expected \(expected); this is a bug in the tile function"
        }
    }
}
