import ArgumentParser
import Deblur
import Foundation
import PhotoIO

/// `mtrnnctl assess`: what the daemon would make of a photo before running
/// the network: is it sharp (left alone), and how long is its blur (the
/// scale `auto` picks). Reads only; writes nothing.
struct Assess: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Say whether photos are sharp or blurred, and how long their blur is.",
        discussion: """
        For each PHOTO: its size, the estimated blur extent in its own pixels \
        (with the estimate's confidence, 0-1), the scale that `scale = auto` \
        would pick, and the sharpness score (higher is sharper). A photo that \
        scores above the threshold is "sharp": the daemon leaves it alone \
        unless `sharp_photos = process`. Nothing is written.

        Exit status: 0 every photo was assessed; 1 at least one could not be \
        read (one line each on standard error); 64 the command line is wrong.
        """)

    @Argument(help: "Photos to assess (JPEG, PNG or TIFF).")
    var photos: [String] = []

    @Option(parsing: .unconditional, help: "Sharpness threshold: above it a photo counts as sharp.")
    var threshold = PhotoAssessment.defaultThreshold

    @Option(name: .customLong("max-megapixels"), parsing: .unconditional,
            help: SettingFlags.help("max_megapixels", "Refuse images larger than this", valueName: "n"))
    var maxMegapixels: String?

    /// The pixel limit, read and checked as `mtrnnctl deblur` and the daemon read it.
    var maxPixels: Int {
        get throws {
            var options = SettingFlags.defaults
            try SettingFlags.apply(["max_megapixels": maxMegapixels], to: &options)
            return options.maxPixels
        }
    }

    @Flag(help: "One JSON object per photo, one per line.")
    var json = false

    func validate() throws {
        if photos.isEmpty { throw ValidationError("Name at least one photo.") }
        if !threshold.isFinite { throw ValidationError("--threshold must be a number.") }
        _ = try maxPixels
    }

    func run() throws {
        let maxPixels = try self.maxPixels
        var failed = false
        for path in photos {
            let url = URL(fileURLWithPath: path)
            let clock = ContinuousClock(), start = clock.now
            let image: Image
            do {
                image = try PhotoIO.decode(contentsOf: url, maxPixels: maxPixels)
            } catch {
                FileHandle.standardError.write(Data("mtrnnctl assess: \(path): \(error)\n".utf8))
                failed = true
                continue
            }
            let decoded = clock.now
            let planar = image.planarRGB()
            let a = PhotoAssessment.assess(planarRGB: planar.data, width: planar.width, height: planar.height)
            let done = clock.now
            let sharp = a.isSharp(threshold: threshold)
            if json {
                let row: [String: Any] = [
                    "path": path, "width": image.width, "height": image.height,
                    "extent_px": a.blur.extentPixels, "confidence": a.blur.confidence,
                    "angle_deg": a.blur.angleDegrees.map { $0 as Any } ?? NSNull(),
                    "suggested_scale": a.blur.suggestedScale,
                    "evidence_db": a.evidenceDB, "sharpness": a.score, "threshold": threshold,
                    "verdict": sharp ? "sharp" : "blurred",
                    "seconds": ["decode": ((decoded - start).inSeconds * 1000).rounded() / 1000,
                                "assess": ((done - decoded).inSeconds * 1000).rounded() / 1000],
                ]
                let data = try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes])
                print(String(decoding: data, as: UTF8.self))
            } else {
                let extent = a.blur.confidence > 0
                    ? String(format: "blur %.0f px (confidence %.2f, scale %d)", a.blur.extentPixels, a.blur.confidence,
                             a.blur.suggestedScale)
                    : "no blur found"
                print("\(path): \(image.width)x\(image.height), \(extent), sharpness "
                      + String(format: "%+.2f", a.score) + ": \(sharp ? "sharp" : "blurred")")
            }
        }
        if failed { throw ExitCode(1) }
    }
}
