import Testing
@testable import Deblur

/// `fitToImage` (issue 6): same tile count, smaller extent, overlap kept.
struct TileFitTests {
    @Test(arguments: [0, 16, 32, 64])
    func fittedTilesKeepCountAndOverlapWithLessWork(overlap: Int) throws {
        for (w, h) in [(4000, 3000), (6000, 4000), (1000, 700), (513, 511), (257, 256), (2000, 1500), (700, 90)] {
            let plain = try TilePlan(imageWidth: w, imageHeight: h, tile: 256, overlap: overlap)
            let fit = try TilePlan(imageWidth: w, imageHeight: h, tile: 256, overlap: overlap, fitToImage: true)
            #expect(fit.columnStarts.count == plain.columnStarts.count && fit.rowStarts.count == plain.rowStarts.count)
            for (starts, length, extent) in [(fit.columnStarts, w, fit.tileWidth), (fit.rowStarts, h, fit.tileHeight)] {
                #expect(extent % 4 == 0 && extent <= 256)
                #expect(starts.first == 0)
                if starts.count > 1 { #expect(starts.last! + extent == length, "\(w)x\(h)") }
                for (a, b) in zip(starts, starts.dropFirst()) {
                    #expect(a + extent - b >= overlap, "\(w)x\(h): overlap \(a + extent - b) < \(overlap)")
                }
            }
            #expect(fit.tileWidth * fit.tileHeight <= plain.tileWidth * plain.tileHeight)
            let (_, sumX) = fit.columnWeights()
            #expect(sumX.allSatisfy { $0 > 0 })
        }
        // The case the fit is for: a 12 MP photo's rows need 244, not 256.
        let photo = try TilePlan(imageWidth: 4000, imageHeight: 3000, tile: 256, overlap: 32, fitToImage: true)
        #expect(photo.tileWidth == 256 && photo.tileHeight == 244)
    }
}
