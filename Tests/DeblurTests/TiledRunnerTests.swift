import Foundation
import Testing
@testable import Deblur

struct TiledRunnerTests {
    static let sizes: [(Int, Int)] = [(1, 1), (3, 3), (255, 257), (256, 256), (1000, 700), (301, 517)]

    @Test(arguments: [0, 1, 8, 32, 100, 200])
    func identityReproducesTheImage(overlap: Int) throws {
        for (w, h) in Self.sizes {
            let image = randomImage(width: w, height: h)
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tile: 256, overlap: overlap)
            let out = try TiledRunner(plan: plan, workers: 3).run(image: image) { _, tile, _, _ in tile }
            // Overlaps are a weighted mean of equal values: equal up to float
            // rounding (1 ulp of 255 is 3e-5), and exactly equal after rounding
            // to integers.
            #expect(maxAbsDifference(out, image) < 1e-4, "\(w)x\(h) overlap \(overlap)")
            #expect(equalAfterRounding(out, image, step: 0.01))
        }
    }

    @Test(arguments: [0, 16, 64])
    func pointwiseFunctionMatchesTheWholeImage(overlap: Int) throws {
        for (w, h) in Self.sizes {
            let image = randomImage(width: w, height: h, seed: 7)
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tile: 128, overlap: overlap)
            let out = try TiledRunner(plan: plan, workers: 2).run(image: image) { _, tile, _, _ in
                var out = tile
                out.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] = o[i] * 0.5 + 3 } }
                return out
            }
            var expected = image
            expected.withUnsafeMutableBufferPointer { e in for i in 0..<e.count { e[i] = e[i] * 0.5 + 3 } }
            #expect(maxAbsDifference(out, expected) < 1e-4, "\(w)x\(h) overlap \(overlap)")
        }
    }

    @Test func localFilterBlendsWithoutSeams() throws {
        // Multiples of the tile, so that overlap 0 really has no overlap.
        let (w, h) = (320, 192)
        let image = randomImage(width: w, height: h, seed: 3)
        let whole = boxBlur(image, width: w, height: h)
        var figures: [Int: Double] = [:]
        for overlap in [0, 4, 16] {
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tile: 64, overlap: overlap)
            let out = try TiledRunner(plan: plan, workers: 2).run(image: image) { _, tile, tw, th in
                boxBlur(tile, width: tw, height: th)
            }
            figures[overlap] = psnr(out, whole)
        }
        // Without overlap the tile edges show; a small blended overlap hides
        // a 1-pixel filter's edge error almost entirely.
        #expect(figures[0]! < 40)
        #expect(figures[4]! > figures[0]! + 10)
        #expect(figures[16]! > 60, "PSNR per overlap: \(figures)")
    }

    @Test func everyTileReportsProgress() throws {
        let plan = try TilePlan(imageWidth: 1000, imageHeight: 700, tile: 128, overlap: 16)
        let seen = Locked<[TileProgress]>([])
        _ = try TiledRunner(plan: plan, workers: 4).run(image: randomImage(width: 1000, height: 700)) { _, tile, _, _ in
            tile
        } progress: { p in seen.withValue { $0.append(p) } }
        // Reported outside the run's lock: two workers may report out of order.
        let reports = seen.withValue { $0 }.sorted { $0.tilesDone < $1.tilesDone }
        #expect(reports.count == plan.tiles.count)
        #expect(reports.map(\.tilesDone) == Array(1...plan.tiles.count))
        #expect(reports.allSatisfy { $0.tilesTotal == plan.tiles.count })
        #expect(reports.last!.fraction == 1 && reports.last!.estimatedRemaining == 0)
        #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.elapsed <= $1.elapsed })
    }

    /// A slow progress callback must not hold up the other workers: it runs
    /// outside the run's lock. The first report waits for another tile to
    /// be reported; under the lock that tile could never finish.
    @Test func progressRunsOutsideTheRunsLock() throws {
        let plan = try TilePlan(imageWidth: 400, imageHeight: 400, tile: 64, overlap: 8)
        let another = DispatchSemaphore(value: 0)
        let waited = Locked<DispatchTimeoutResult?>(nil)
        _ = try TiledRunner(plan: plan, workers: 2).run(image: randomImage(width: 400, height: 400)) { _, tile, _, _ in
            tile
        } progress: { p in
            if p.tilesDone == 1 {
                let result = another.wait(timeout: .now() + 20)
                waited.withValue { $0 = result }
            } else if p.tilesDone == 2 {
                another.signal()
            }
        }
        #expect(waited.withValue { $0 } == .success, "the second tile could not be reported while the first report ran")
    }

    @Test func aSetCancelFlagStopsTheRunBeforeTheNextTile() throws {
        let plan = try TilePlan(imageWidth: 600, imageHeight: 600, tile: 64, overlap: 8)
        let cancel = CancelFlag()
        let calls = Locked(0)
        #expect(throws: CancellationError.self) {
            _ = try TiledRunner(plan: plan, workers: 1).run(image: randomImage(width: 600, height: 600),
                                                            tileFunction: { _, tile, _, _ in
                if calls.withValue({ $0 += 1; return $0 }) == 3 { cancel.cancel() }
                return tile
            }, cancel: cancel)
        }
        #expect(calls.withValue { $0 } == 3, "no tile starts once the flag is set")
    }

    @Test func estimateExtrapolatesTheMeanTileTime() {
        #expect(TileProgress(tilesDone: 0, tilesTotal: 10, elapsed: 0).estimatedRemaining == nil)
        #expect(TileProgress(tilesDone: 2, tilesTotal: 10, elapsed: 4).estimatedRemaining == 16)
    }

    @Test func workersOwnTheirIndex() throws {
        let plan = try TilePlan(imageWidth: 900, imageHeight: 900, tile: 64, overlap: 8)
        let busy = Locked<Set<Int>>([])
        let violations = Locked(0)
        let sizes = Locked<Set<[Int]>>([])
        _ = try TiledRunner(plan: plan, workers: 3).run(image: randomImage(width: 900, height: 900)) { worker, tile, w, h in
            let fresh = busy.withValue { $0.insert(worker).inserted }
            if !fresh || !(0..<3).contains(worker) { violations.withValue { $0 += 1 } }
            sizes.withValue { _ = $0.insert([w, h, tile.count]) }
            defer { busy.withValue { _ = $0.remove(worker) } }
            return tile
        }
        #expect(violations.withValue { $0 } == 0)
        #expect(sizes.withValue { $0 } == [[64, 64, 3 * 64 * 64]], "every tile has the plan's size")
    }

    @Test func firstTileErrorStopsTheRun() throws {
        let plan = try TilePlan(imageWidth: 1000, imageHeight: 1000, tile: 64, overlap: 8)
        let calls = Locked(0)
        #expect(throws: TileFailure(x: plan.tiles[3].x, y: 0)) {
            _ = try TiledRunner(plan: plan, workers: 2).run(image: randomImage(width: 1000, height: 1000)) { _, tile, _, _ in
                let n = calls.withValue { $0 += 1; return $0 }
                if n == 4 { throw TileFailure(x: plan.tiles[3].x, y: 0) }
                return tile
            }
        }
        #expect(calls.withValue { $0 } < plan.tiles.count, "tiles after the failure are not started")
    }

    @Test func wrongTileOutputIsAnError() throws {
        let plan = try TilePlan(imageWidth: 100, imageHeight: 100, tile: 64, overlap: 8)
        #expect(throws: TilingError.self) {
            _ = try TiledRunner(plan: plan, workers: 1).run(image: randomImage(width: 100, height: 100)) { _, tile, _, _ in
                Array(tile.dropLast())
            }
        }
        #expect(throws: TilingError.imageSize(expected: 30000, got: 5)) {
            _ = try TiledRunner(plan: plan).run(image: [1, 2, 3, 4, 5]) { _, t, _, _ in t }
        }
    }
}
