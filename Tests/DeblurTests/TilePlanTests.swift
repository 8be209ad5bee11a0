import Testing
@testable import Deblur

struct TilePlanTests {
    static let sizes: [(Int, Int)] = [(1, 1), (3, 3), (255, 257), (256, 256), (257, 256), (1000, 700),
                                      (513, 511), (4000, 3), (2, 900), (6000, 4000)]

    @Test(arguments: [0, 8, 32, 64, 128, 224])
    func tilesCoverEveryPixelWithAtLeastTheOverlap(overlap: Int) throws {
        for (w, h) in Self.sizes {
            let plan = try TilePlan(imageWidth: w, imageHeight: h, tile: 256, overlap: overlap)
            #expect(plan.tiles.count == plan.columnStarts.count * plan.rowStarts.count)
            for (starts, length, extent) in [(plan.columnStarts, w, plan.tileWidth), (plan.rowStarts, h, plan.tileHeight)] {
                #expect(extent % 4 == 0 && extent <= 256 && extent >= min(length, 256))
                #expect(starts.first == 0)
                if length >= 256 {
                    // No tile hangs past the image: the last one is shifted inward.
                    #expect(starts.last! + extent == length, "\(w)x\(h) overlap \(overlap)")
                } else {
                    #expect(starts == [0])
                }
                for (a, b) in zip(starts, starts.dropFirst()) {
                    #expect(b > a)
                    #expect(a + extent - b >= overlap, "\(w)x\(h): overlap \(a + extent - b) < \(overlap)")
                }
                // As few tiles as the overlap allows.
                if starts.count > 1 {
                    #expect(extent + (starts.count - 2) * (extent - overlap) < length)
                }
            }
        }
    }

    @Test func smallImagesArePaddedToTheAlignmentOnly() throws {
        let plan = try TilePlan(imageWidth: 3, imageHeight: 1, tile: 256, overlap: 32)
        #expect(plan.tiles == [TileRect(x: 0, y: 0, width: 4, height: 4, column: 0, row: 0)])
        let wide = try TilePlan(imageWidth: 1000, imageHeight: 70, tile: 256, overlap: 32)
        #expect(wide.tileWidth == 256 && wide.tileHeight == 72)
        #expect(wide.rowStarts == [0] && wide.columnStarts.count == 5)
    }

    @Test func exactMultipleNeedsNoExtraTile() throws {
        let plan = try TilePlan(imageWidth: 256 * 3 - 2 * 32, imageHeight: 256, tile: 256, overlap: 32)
        #expect(plan.columnStarts == [0, 224, 448])
        #expect(plan.rowStarts == [0])
    }

    @Test func weightsArePositiveAndBandsSumToOne() throws {
        let plan = try TilePlan(imageWidth: 1000, imageHeight: 700, tile: 256, overlap: 48)
        let (weights, sum) = plan.columnWeights()
        #expect(weights.allSatisfy { $0.allSatisfy { $0 > 0 && $0 <= 1 } })
        #expect(sum.allSatisfy { abs($0 - 1) < 1e-6 }, "complementary ramps should sum to one")
        // The image border keeps full weight.
        #expect(weights.first!.first == 1 && weights.last!.last == 1)
        // Ramps are monotonic across a band.
        let second = weights[1]
        let band = plan.columnStarts[0] + 256 - plan.columnStarts[1]
        for i in 1..<band { #expect(second[i] > second[i - 1]) }
    }

    @Test func rejectsImpossiblePlans() {
        #expect(throws: TilingError.self) { try TilePlan(imageWidth: 0, imageHeight: 10) }
        #expect(throws: TilingError.self) { try TilePlan(imageWidth: 10, imageHeight: 10, tile: 256, overlap: 256) }
        #expect(throws: TilingError.self) { try TilePlan(imageWidth: 10, imageHeight: 10, tile: 254, overlap: 8) }
        #expect(throws: TilingError.self) { try TilePlan(imageWidth: 10, imageHeight: 10, tile: 256, overlap: -1) }
    }
}
