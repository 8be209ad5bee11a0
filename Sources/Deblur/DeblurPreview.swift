import Foundation
import PhotoIO

/// A rectangle of a photo, in its pixels.
public struct PixelRect: Sendable, Equatable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
    /// ImageMagick's geometry: "512x512+100+40".
    public var description: String { "\(width)x\(height)+\(x)+\(y)" }
}

/// A preview of what deblurring does to one region of a photo: the region
/// before and after, each as an RGB image at the photo's bit depth (grey
/// replicated, alpha left out), and what it cost.
public struct DeblurPreview: Sendable {
    /// The region shown, in the photo's pixels.
    public var region: PixelRect
    /// What went through the network: the region and the context around it
    /// that tiles would share (`overlap` pixels at the scale used, each side,
    /// where the photo has them).
    public var processed: PixelRect
    public var before: Image
    public var after: Image
    /// The photo's size, the scale used (with auto: chosen from the whole
    /// photo's blur estimate, as `deblur` chooses it), its sharpness where
    /// assessed, the tiles and seconds of the preview.
    public var report: DeblurReport
    /// The whole photo is sharp already: a full run would leave it alone
    /// (`sharp_photos` copy or skip). The preview shows the network anyway.
    public var wouldBeLeftAlone: Bool
}

extension DeblurPipeline {
    /// Deblurs only `region` of `input` (plus its context) with the
    /// pipeline's settings, for a quick look: seconds instead of minutes on
    /// a large photo. The photo is decoded whole; its sharpness and (with
    /// `scale = auto`) its blur are assessed on the whole photo, as
    /// `deblur` does, so the scale is the one a full run would use.
    /// `region` must lie inside the photo (`PhotoIO.probe` gives its size).
    public func preview(input: URL, region: PixelRect,
                        progress: @Sendable (DeblurProgress) -> Void = { _ in },
                        cancel: CancelFlag = CancelFlag()) throws -> DeblurPreview {
        oneAtATime.lock(); defer { oneAtATime.unlock() }
        let start = DispatchTime.now()
        let elapsed: @Sendable () -> Double = { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

        try cancel.check()
        progress(DeblurProgress(stage: .decoding, elapsed: elapsed()))
        let image = try decodeInput(input)
        let (width, height) = (image.width, image.height)
        guard region.width > 0, region.height > 0, region.x >= 0, region.y >= 0,
              region.x + region.width <= width, region.y + region.height <= height else {
            throw DeblurError.read(input, underlying: "the preview region \(region) is not inside the \(width)x\(height) photo")
        }
        var planar = image.planarRGB().data
        // The preview carries no profile (it shows sRGB): a photo in another
        // colour space is converted as the full run converts it, and stays so.
        let (colour, colourNote) = Self.colourConversion(image, options.colourProfile)
        colour?.toSRGB(&planar)
        let assessment = options.sharpPhotos == .process ? nil
            : PhotoAssessment.assess(planarRGB: planar, width: width, height: height)
        let estimate = options.scale == DeblurOptions.autoScale
            ? assessment?.blur ?? BlurExtent.estimate(planarRGB: planar, width: width, height: height) : nil
        let scale = estimate?.suggestedScale ?? options.scale

        // The context: what neighbouring tiles share, at the scale used; its
        // origin on the scale's grid, so the downscaled blocks are the full
        // run's blocks.
        let margin = max(options.overlap, 16) * scale
        let x0 = max(0, region.x - margin) / scale * scale, y0 = max(0, region.y - margin) / scale * scale
        let x1 = min(width, region.x + region.width + margin), y1 = min(height, region.y + region.height + margin)
        let processed = PixelRect(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
        let context = Self.crop(planar, width: width, height: height, processed)
        let pass = try networkPass(context, width: processed.width, height: processed.height, scale: scale,
                                   input: input, elapsed: elapsed, progress: progress, cancel: cancel)
        let inContext = PixelRect(x: region.x - x0, y: region.y - y0, width: region.width, height: region.height)
        var after = Self.crop(pass.data, width: processed.width, height: processed.height, inContext)
        let before = Self.crop(planar, width: width, height: height, region)
        DeblurOptions.blend(&after, toward: before, strength: options.strength)

        // RGB at the photo's depth; replacingColour rounds and clamps as the full run does.
        let blank = Image(width: region.width, height: region.height, channels: 3, bitDepth: image.bitDepth,
                          samples: Samples(zeros: 3 * region.width * region.height, bitDepth: image.bitDepth),
                          format: .png)
        var report = DeblurReport(input: input, width: width, height: height,
                                  tiles: pass.plan.tiles.count, seconds: 0)
        (report.flatTiles, report.iterationsRun) = (pass.flatTiles, pass.iterationsRun)
        report.scaleUsed = scale
        report.blurExtent = estimate?.extentPixels
        report.blurConfidence = estimate?.confidence
        report.sharpness = assessment?.score
        report.colour = colourNote
        report.seconds = elapsed()
        progress(DeblurProgress(stage: .done, tilesDone: report.tiles, tilesTotal: report.tiles, elapsed: report.seconds))
        return DeblurPreview(region: region, processed: processed,
                             before: blank.replacingColour(withPlanarRGB: before),
                             after: blank.replacingColour(withPlanarRGB: after), report: report,
                             wouldBeLeftAlone: assessment?.isSharp(threshold: options.sharpThreshold) ?? false)
    }

    /// `rect` of planar RGB (`width` x `height` per plane), as planar RGB.
    static func crop(_ planar: [Float], width: Int, height: Int, _ rect: PixelRect) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(3 * rect.width * rect.height)
        for c in 0..<3 {
            for y in rect.y..<(rect.y + rect.height) {
                let row = c * width * height + y * width
                out.append(contentsOf: planar[(row + rect.x)..<(row + rect.x + rect.width)])
            }
        }
        return out
    }
}
