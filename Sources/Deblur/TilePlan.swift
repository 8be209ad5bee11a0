import Foundation

/// One tile of a ``TilePlan``: where it sits in the image and how big the
/// buffer handed to the tile function is.
///
/// `width` x `height` is the tile's extent. It equals the plan's tile size
/// unless the image is smaller than a tile in that dimension; then the tile
/// spans the whole dimension, rounded up to the plan's alignment, and the
/// part past the image is filled by reflection.
public struct TileRect: Sendable, Hashable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int
    /// Column and row of the tile in the plan's grid.
    public var column: Int
    public var row: Int

    public init(x: Int, y: Int, width: Int, height: Int, column: Int, row: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
        self.column = column; self.row = row
    }
}

/// How an image is cut into overlapping tiles and how the tiles are weighted
/// when they are blended back.
///
/// Tiles form a grid (a set of column starts times a set of row starts), so
/// blending weights are separable and the sum of weights at a pixel is the
/// product of two 1-D sums; no weight plane is ever needed.
///
/// Along each axis the first tile starts at 0 and the last ends at the image
/// edge; the tiles between are spread evenly, so every overlap is at least
/// `overlap` and no tile hangs past the image (a larger image is never padded,
/// the last tile is shifted inward instead). Only a dimension smaller than a
/// tile is reflect-padded, up to the next multiple of `alignment` (MT-RNN
/// needs sizes divisible by 4).
///
/// With `fitToImage`, `tile` is the largest extent rather than the extent:
/// the tile count along an axis stays the same (as few as `tile` and
/// `overlap` allow) but the extent shrinks to the smallest multiple of
/// `alignment` that still covers the axis with at least `overlap` between
/// neighbours. A 4000x3000 photo at 256/32 then needs 256x244 tiles instead
/// of 256x256: 4.7 % fewer pixels through the network, for the same seams.
public struct TilePlan: Sendable {
    public let imageWidth: Int
    public let imageHeight: Int
    public let tile: Int
    public let overlap: Int
    public let alignment: Int
    /// Row-major: all tiles of row 0, then row 1, ...
    public let tiles: [TileRect]
    public let columnStarts: [Int]
    public let rowStarts: [Int]
    public let tileWidth: Int
    public let tileHeight: Int

    public static let defaultTile = 256
    /// The default overlap: the seam measurement (Tests/DeblurTests/
    /// SeamMeasurement.swift, tiled against whole-image inference, 6
    /// iterations) must stay >= 45 dB here. On the seeded random fixture
    /// weights, which change the image far more than trained ones: 0 px
    /// 41.6 dB, 16 px 73.8, 32 px 85.4, 48 px 92.8, 64 px 98.3. 16 px keeps a
    /// 28 dB margin and sends ~12 % fewer pixels of a 12 MP photo through the
    /// network than 32 px; every overlap pixel is paid for in compute.
    public static let defaultOverlap = 16

    public init(imageWidth: Int, imageHeight: Int, tile: Int = TilePlan.defaultTile,
                overlap: Int = TilePlan.defaultOverlap, alignment: Int = 4,
                fitToImage: Bool = false) throws(TilingError) {
        guard imageWidth > 0, imageHeight > 0 else {
            throw .invalidPlan("image size \(imageWidth)x\(imageHeight) is empty")
        }
        guard alignment > 0, tile > 0, tile % alignment == 0 else {
            throw .invalidPlan("tile size \(tile) must be a positive multiple of \(alignment)")
        }
        guard overlap >= 0, overlap < tile else {
            throw .invalidPlan("overlap \(overlap) must be at least 0 and less than the tile size \(tile)")
        }
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.tile = tile
        self.overlap = overlap
        self.alignment = alignment
        let tw = Self.extent(length: imageWidth, tile: tile, overlap: overlap, alignment: alignment, fit: fitToImage)
        let th = Self.extent(length: imageHeight, tile: tile, overlap: overlap, alignment: alignment, fit: fitToImage)
        let columns = Self.starts(length: imageWidth, tile: tw, count: Self.count(length: imageWidth, tile: tile, overlap: overlap))
        let rows = Self.starts(length: imageHeight, tile: th, count: Self.count(length: imageHeight, tile: tile, overlap: overlap))
        columnStarts = columns
        rowStarts = rows
        tileWidth = tw
        tileHeight = th
        var tiles: [TileRect] = []
        tiles.reserveCapacity(columns.count * rows.count)
        for (r, y) in rows.enumerated() {
            for (c, x) in columns.enumerated() {
                tiles.append(TileRect(x: x, y: y, width: tileWidth, height: tileHeight, column: c, row: r))
            }
        }
        self.tiles = tiles
    }

    /// Tile starts along one axis: evenly spread between 0 and `length - tile`,
    /// as few as keep every overlap at least `overlap`.
    static func starts(length: Int, tile: Int, overlap: Int) -> [Int] {
        starts(length: length, tile: tile, count: count(length: length, tile: tile, overlap: overlap))
    }

    /// `count` starts evenly spread between 0 and `length - extent`.
    static func starts(length: Int, tile extent: Int, count: Int) -> [Int] {
        guard length > extent, count > 1 else { return [0] }
        let last = length - extent
        return (0..<count).map { i in (i * last) / (count - 1) }
    }

    /// Tiles along one axis: ceil((L - o) / (T - o)), the fewest that keep
    /// every overlap at least `overlap`.
    static func count(length: Int, tile: Int, overlap: Int) -> Int {
        guard length > tile else { return 1 }
        let stride = tile - overlap
        return (length - overlap + stride - 1) / stride
    }

    static func extent(length: Int, tile: Int, alignment: Int) -> Int {
        length >= tile ? tile : (length + alignment - 1) / alignment * alignment
    }

    /// The tile extent along one axis. Fitted: the smallest multiple of
    /// `alignment` with n * e - (n - 1) * overlap >= length for the same
    /// tile count n, so every overlap stays at least `overlap` (consecutive
    /// starts differ by at most ceil((L - e) / (n - 1)) <= e - overlap); never
    /// more than `tile`, since n tiles of `tile` already cover the axis.
    static func extent(length: Int, tile: Int, overlap: Int, alignment: Int, fit: Bool) -> Int {
        let n = count(length: length, tile: tile, overlap: overlap)
        guard fit, n > 1 else { return extent(length: length, tile: tile, alignment: alignment) }
        let needed = (length + (n - 1) * overlap + n - 1) / n
        return min(tile, (needed + alignment - 1) / alignment * alignment)
    }

    /// Blending weights along one axis for the tile starting at `starts[index]`:
    /// a raised-cosine ramp across the whole band it shares with each
    /// neighbour (the two ramps of a band sum to one), full weight elsewhere,
    /// including at the image border. Every weight is positive.
    static func ramp(starts: [Int], index: Int, extent: Int) -> [Float] {
        var weights = [Float](repeating: 1, count: extent)
        if index > 0 {
            let band = starts[index - 1] + extent - starts[index]
            for i in 0..<min(band, extent) {
                weights[i] *= raisedCosine(i, band)
            }
        }
        if index + 1 < starts.count {
            let band = starts[index] + extent - starts[index + 1]
            for i in 0..<min(band, extent) {
                weights[extent - 1 - i] *= raisedCosine(i, band)
            }
        }
        return weights
    }

    /// Rises from near 0 to near 1 over `band` samples; sample i of a band
    /// plus sample band-1-i gives exactly the complementary pair.
    static func raisedCosine(_ i: Int, _ band: Int) -> Float {
        Float(0.5 - 0.5 * cos(Double.pi * (Double(i) + 0.5) / Double(band)))
    }

    /// Column weights of every tile column, and their sum at each image x.
    func columnWeights() -> (weights: [[Float]], sum: [Float]) {
        Self.axisWeights(starts: columnStarts, extent: tileWidth, length: imageWidth)
    }

    func rowWeights() -> (weights: [[Float]], sum: [Float]) {
        Self.axisWeights(starts: rowStarts, extent: tileHeight, length: imageHeight)
    }

    static func axisWeights(starts: [Int], extent: Int, length: Int) -> (weights: [[Float]], sum: [Float]) {
        let weights = starts.indices.map { ramp(starts: starts, index: $0, extent: extent) }
        var sum = [Float](repeating: 0, count: length)
        for (start, w) in zip(starts, weights) {
            for i in 0..<min(extent, length - start) { sum[start + i] += w[i] }
        }
        return (weights, sum)
    }
}

