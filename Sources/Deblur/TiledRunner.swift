import Dispatch
import Foundation
import MTRNN

/// Runs a tile function over every tile of a ``TilePlan`` on a fixed number
/// of workers and blends the results back into one image.
///
/// Memory stays bounded by a few row bands whatever the image size: tiles
/// are handed out in row-major order, each finished tile is accumulated
/// (already weighted) into the band of its tile row, and as soon as every
/// tile row covering an image row is done that row is normalised and written
/// back over the input, whose rows no pending tile reads any more. So a run
/// needs the image itself, one band per tile row in flight, and one input and
/// one output tile per worker.
public final class TiledRunner: Sendable {
    /// Called concurrently from the workers; `workerIndex` is in
    /// 0..<workers and no two calls with the same index overlap, so the
    /// caller can keep per-worker state (one network per worker) in an array.
    /// `tile` holds 3 planes of `height` x `width`; the result must too.
    public typealias TileFunction = @Sendable (_ workerIndex: Int, _ tile: [Float], _ width: Int, _ height: Int) throws -> [Float]

    public let plan: TilePlan
    public let workers: Int

    public init(plan: TilePlan, workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.plan = plan
        self.workers = max(1, min(workers, plan.tiles.count))
    }

    /// Blends `tileFunction` applied to every tile into a 3 x H x W planar
    /// image. The result reuses the storage of `image` when the caller hands
    /// it over (no other reference to it), which is what keeps peak memory
    /// at one image. The first error thrown by a tile stops the hand-out of
    /// new tiles and is rethrown once the tiles in flight have finished.
    /// `cancel` is read before every tile: once it is set, no new tile starts
    /// and the run throws `CancellationError`. `progress` is called after
    /// every finished tile from the worker that finished it, outside the
    /// run's lock (so two reports may arrive out of order).
    public func run(image: consuming [Float],
                    tileFunction: TileFunction,
                    cancel: CancelFlag = CancelFlag(),
                    progress: @Sendable (TileProgress) -> Void = { _ in }) throws -> [Float] {
        let width = plan.imageWidth, height = plan.imageHeight
        guard image.count == 3 * width * height else {
            throw TilingError.imageSize(expected: 3 * width * height, got: image.count)
        }
        var pixels = image
        let state = RunState(plan: plan)
        pixels.withUnsafeMutableBufferPointer { buffer in
            let shared = SharedPixels(base: buffer.baseAddress!)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                work(worker: worker, pixels: shared, state: state,
                     tileFunction: tileFunction, cancel: cancel, progress: progress)
            }
        }
        if let error = state.firstError { throw error }
        return pixels
    }

    private func work(worker: Int, pixels: SharedPixels, state: RunState,
                      tileFunction: TileFunction, cancel: CancelFlag, progress: (TileProgress) -> Void) {
        let plan = self.plan
        let tw = plan.tileWidth, th = plan.tileHeight
        while let index = state.nextTile() {
            let rect = plan.tiles[index]
            let output: [Float]
            do {
                try cancel.check()
                let input = extractTile(rect, from: pixels)
                output = try tileFunction(worker, input, tw, th)
                guard output.count == 3 * tw * th else {
                    throw TilingError.tileOutputSize(tile: rect, expected: 3 * tw * th, got: output.count)
                }
            } catch {
                state.fail(error)
                return
            }
            state.band(forRow: rect.row).accumulate(output, tile: rect, plan: plan,
                                                     columnWeights: state.columnWeights[rect.column],
                                                     rowWeights: state.rowWeights[rect.row])
            let (done, flush) = state.finish(tile: rect)
            if let flush { flushRows(flush, into: pixels, state: state) }
            progress(done)
        }
    }

    /// Copies a tile out of the image, mirroring past the image edge (which
    /// only happens in a dimension smaller than one tile).
    private func extractTile(_ rect: TileRect, from pixels: SharedPixels) -> [Float] {
        let width = plan.imageWidth, height = plan.imageHeight
        let tw = rect.width, th = rect.height
        return [Float](unsafeUninitializedCapacity: 3 * tw * th) { out, count in
            for c in 0..<3 {
                let plane = pixels.base + c * width * height
                for ty in 0..<th {
                    let row = plane + Reflection.index(rect.y + ty, height) * width
                    let dst = out.baseAddress! + (c * th + ty) * tw
                    let inside = max(0, min(tw, width - rect.x))
                    (dst).update(from: row + rect.x, count: inside)
                    for tx in inside..<tw { dst[tx] = row[Reflection.index(rect.x + tx, width)] }
                }
            }
            count = 3 * tw * th
        }
    }

    /// Normalises finished image rows and writes them over the input rows,
    /// which no pending tile reads any more.
    private func flushRows(_ flush: RunState.Flush, into pixels: SharedPixels, state: RunState) {
        let width = plan.imageWidth, height = plan.imageHeight
        let sumX = state.columnWeightSum, sumY = state.rowWeightSum
        var row = [Float](repeating: 0, count: width)
        for c in 0..<3 {
            for y in flush.rows {
                for i in 0..<width { row[i] = 0 }
                for band in flush.bands where band.rows.contains(y) {
                    band.add(plane: c, imageRow: y, into: &row)
                }
                let dst = pixels.base + (c * height + y) * width
                let sy = sumY[y]
                for x in 0..<width { dst[x] = row[x] / (sumX[x] * sy) }
            }
        }
    }
}

/// The image buffer shared by the workers. Workers only read rows that no
/// flush writes yet and flushes only write rows no pending tile reads (see
/// ``TiledRunner``), so access never overlaps.
private struct SharedPixels: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
}

/// Bookkeeping of one run, shared by the workers under one lock.
private final class RunState: @unchecked Sendable {
    struct Flush {
        var rows: Range<Int>
        var bands: [RowBand]
    }

    let plan: TilePlan
    let columnWeights: [[Float]], columnWeightSum: [Float]
    let rowWeights: [[Float]], rowWeightSum: [Float]
    private let lock = NSLock()
    private let start = DispatchTime.now()
    private var next = 0
    private var done = 0
    private var remainingInRow: [Int]
    private var firstIncompleteRow = 0
    private var flushedUpTo = 0
    private var bands: [Int: RowBand] = [:]
    private(set) var firstError: (any Error)?

    init(plan: TilePlan) {
        self.plan = plan
        (columnWeights, columnWeightSum) = plan.columnWeights()
        (rowWeights, rowWeightSum) = plan.rowWeights()
        remainingInRow = Array(repeating: plan.columnStarts.count, count: plan.rowStarts.count)
    }

    func nextTile() -> Int? {
        lock.lock(); defer { lock.unlock() }
        guard firstError == nil, next < plan.tiles.count else { return nil }
        next += 1
        return next - 1
    }

    func fail(_ error: any Error) {
        lock.lock(); defer { lock.unlock() }
        if firstError == nil { firstError = error }
    }

    func band(forRow row: Int) -> RowBand {
        lock.lock(); defer { lock.unlock() }
        if let band = bands[row] { return band }
        let y = plan.rowStarts[row]
        let band = RowBand(rows: y..<min(plan.imageHeight, y + plan.tileHeight), width: plan.imageWidth)
        bands[row] = band
        return band
    }

    /// Counts a finished tile; returns the progress to report (the caller
    /// reports it once the lock is released) and the image rows that became
    /// final (with the bands that cover them), if any.
    func finish(tile: TileRect) -> (TileProgress, Flush?) {
        lock.lock(); defer { lock.unlock() }
        done += 1
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        let progress = TileProgress(tilesDone: done, tilesTotal: plan.tiles.count, elapsed: elapsed)
        remainingInRow[tile.row] -= 1
        guard tile.row == firstIncompleteRow, remainingInRow[tile.row] == 0 else { return (progress, nil) }
        while firstIncompleteRow < remainingInRow.count, remainingInRow[firstIncompleteRow] == 0 {
            firstIncompleteRow += 1
        }
        let limit = firstIncompleteRow < plan.rowStarts.count ? plan.rowStarts[firstIncompleteRow] : plan.imageHeight
        let rows = flushedUpTo..<limit
        flushedUpTo = limit
        var covering: [RowBand] = []
        for (row, band) in bands where row < firstIncompleteRow && band.rows.overlaps(rows) {
            covering.append(band)
            if band.rows.upperBound <= limit { bands[row] = nil }
        }
        return (progress, rows.isEmpty ? nil : Flush(rows: rows, bands: covering))
    }
}

/// The weighted sum of the finished tiles of one tile row, 3 planes of
/// `rows.count` x `width`.
private final class RowBand: @unchecked Sendable {
    let rows: Range<Int>
    let width: Int
    private let lock = NSLock()
    private var data: [Float]

    init(rows: Range<Int>, width: Int) {
        self.rows = rows
        self.width = width
        data = [Float](repeating: 0, count: 3 * rows.count * width)
    }

    func accumulate(_ output: [Float], tile: TileRect, plan: TilePlan,
                    columnWeights wx: [Float], rowWeights wy: [Float]) {
        let cols = min(tile.width, width - tile.x)
        let height = rows.count
        lock.lock(); defer { lock.unlock() }
        data.withUnsafeMutableBufferPointer { band in
            output.withUnsafeBufferPointer { out in
                for c in 0..<3 {
                    for ty in 0..<height {
                        let src = out.baseAddress! + (c * tile.height + ty) * tile.width
                        let dst = band.baseAddress! + (c * height + ty) * width + tile.x
                        let w = wy[ty]
                        for tx in 0..<cols { dst[tx] += src[tx] * (wx[tx] * w) }
                    }
                }
            }
        }
    }

    /// Adds this band's plane `plane` at image row `imageRow` into `row`.
    /// Called only once the band is complete, so without the lock.
    func add(plane: Int, imageRow: Int, into row: inout [Float]) {
        let offset = (plane * rows.count + imageRow - rows.lowerBound) * width
        data.withUnsafeBufferPointer { band in
            for x in 0..<width { row[x] += band[offset + x] }
        }
    }
}
