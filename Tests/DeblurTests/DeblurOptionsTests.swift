import Foundation
import Testing
@testable import Deblur

/// The pipeline settings: one set of defaults and ranges for the daemon's
/// configuration, `mtrnnctl deblur` and `mtrnnctl bench` (issue 17).
struct DeblurOptionsTests {
    static let weights = URL(fileURLWithPath: "/w/mtrnn.safetensors")

    @Test func theDefaultsAreTheDocumentedOnes() throws {
        let o = DeblurOptions(weights: Self.weights)
        #expect(o.iterations == 6 && o.precision == .auto && o.tile == 256 && o.overlap == 16)
        #expect(o.jpegQuality == 95 && o.maxPixels == 100_000_000 && o.scale == 1)
        #expect(o.stopBelow == 0.5 && o.flatTileGradient == 0 && o.strength == 1)
        try o.validate(bf16UnsupportedReason: "no bf16 here")
    }

    @Test func strengthBlendsLinearlyAndShowsInTheNote() throws {
        var d: [Float] = [10, 20, 255, 0]
        DeblurOptions.blend(&d, toward: [0, 40, 255, 100], strength: 0.25)
        #expect(d == [2.5, 35, 255, 75])
        var same: [Float] = [1, 2]
        DeblurOptions.blend(&same, toward: [9, 9], strength: 1)
        #expect(same == [1, 2])
        var o = DeblurOptions(weights: Self.weights)
        try o.set("strength", "0.6")
        #expect(o.strength == 0.6)
        #expect(o.defaultSoftwareNote().hasSuffix(", strength 0.6"), "\(o.defaultSoftwareNote())")
        #expect(!DeblurOptions(weights: Self.weights).defaultSoftwareNote().contains("strength"))
    }

    /// What `show` writes, `set` reads back to the same options: the
    /// daemon's --check-config output is a configuration.
    @Test func everySettingReadsBackWhatItShows() throws {
        var o = DeblurOptions(weights: URL(fileURLWithPath: "./Models/x.safetensors"))
        o.scale = DeblurOptions.autoScale
        o.maxPixels = 500_000
        o.stopBelow = 0.3
        o.precision = .auto
        o.sharpPhotos = .skip
        o.colourProfile = .ignore
        for s in DeblurOptions.settings {
            var back = DeblurOptions(weights: Self.weights, iterations: 1, precision: .bf16, tile: 64, overlap: 0,
                                     jpegQuality: 1, maxPixels: 20_000)
            back.stopBelow = 9
            try back.set(s.key, s.show(o))
            #expect(s.show(back) == s.show(o), "\(s.key)")
        }
        #expect(DeblurOptions.setting("max_megapixels")!.show(o) == "0.5")
        #expect(DeblurOptions.setting("scale")!.show(o) == "auto")
        #expect(DeblurOptions.setting("weights")!.show(o) == "./Models/x.safetensors")
    }

    @Test(arguments: [
        ("tile", "30", "a multiple of 4 from 16 to 2048"),
        ("tile", "12", "a multiple of 4 from 16 to 2048"),
        ("tile", "2052", "a multiple of 4 from 16 to 2048"),
        ("tile", "abc", "a multiple of 4 from 16 to 2048"),
        ("overlap", "-1", "a whole number from 0 to 2044"),
        ("iterations", "0", "a whole number from 1 to 20"),
        ("iterations", "21", "a whole number from 1 to 20"),
        ("iterations", "2.5", "a whole number from 1 to 20"),
        ("precision", "f16", "auto, f32 or bf16"),
        ("jpeg_quality", "101", "a whole number from 1 to 100"),
        ("max_megapixels", "0", "a number from 0.01 to 10000"),
        ("scale", "0", "auto, 1, 2, 3 or 4"),
        ("scale", "5", "auto, 1, 2, 3 or 4"),
        ("scale", "Auto", "auto, 1, 2, 3 or 4"),
        ("stop_below", "-0.1", "a number from 0 (off) to 255"),
        ("skip_flat", "nan", "a number from 0 (off) to 255"),
        ("weights", "", "a path to a .safetensors file"),
        ("strength", "1.5", "a number from 0 to 1"),
        ("strength", "-0.1", "a number from 0 to 1"),
        ("strength", "nan", "a number from 0 to 1"),
        ("sharp_photos", "Copy", "process, copy or skip"),
        ("colour_profile", "", "convert or ignore"),
    ])
    func valuesOutOfRangeAreRefusedWithWhatIsExpected(key: String, value: String, expected: String) {
        var o = DeblurOptions(weights: Self.weights)
        let before = o
        #expect(throws: SettingProblem.value(key: key, value: value, expected: expected)) { try o.set(key, value) }
        #expect(o == before, "a refused value changed the options")
    }

    @Test func wholeNumbersMayBeWrittenWithAPoint() throws {
        var o = DeblurOptions(weights: Self.weights)
        try o.set("iterations", "3.0")
        try o.set("tile", "128")
        try o.set("scale", "auto")
        #expect(o.iterations == 3 && o.tile == 128 && o.scale == DeblurOptions.autoScale)
        #expect(throws: SettingProblem.unknown(key: "colour")) { try o.set("colour", "red") }
    }

    @Test func validateChecksWhatNoSingleSettingCan() throws {
        var o = DeblurOptions(weights: Self.weights, tile: 64, overlap: 64)
        #expect(throws: SettingProblem.overlapNotLessThanTile(overlap: 64, tile: 64)) { try o.validate() }
        o.overlap = 60
        try o.validate()
        // Ranges hold for options built in code too, not only for text.
        o.iterations = 0
        #expect(throws: SettingProblem.value(key: "iterations", value: "0", expected: "a whole number from 1 to 20")) {
            try o.validate()
        }
        o.iterations = 6
        o.precision = .bf16
        #expect(throws: SettingProblem.precisionUnsupported(reason: "no bf16 kernels")) {
            try o.validate(bf16UnsupportedReason: "no bf16 kernels")
        }
        try o.validate(bf16UnsupportedReason: nil)
        o.precision = .auto
        try o.validate(bf16UnsupportedReason: "no bf16 kernels")   // auto falls back to f32
    }

    /// The stage shares are the one mapping from the pipeline's stages to
    /// "37 %" in `mtrnnctl status`.
    @Test func fractionDoneFollowsTheStages() {
        func at(_ stage: DeblurProgress.Stage, _ done: Int = 0, of total: Int = 0) -> Double {
            DeblurProgress(stage: stage, tilesDone: done, tilesTotal: total, elapsed: 1).fractionDone
        }
        #expect(at(.decoding) == 0)
        #expect(at(.deblurring, 0, of: 10) == 0.02)
        #expect(abs(at(.deblurring, 5, of: 10) - 0.495) < 1e-12)
        #expect(abs(at(.deblurring, 10, of: 10) - 0.97) < 1e-12)
        #expect(at(.encoding, 10, of: 10) == 0.98 && at(.writing, 10, of: 10) == 0.98)
        #expect(at(.done, 10, of: 10) == 1)
        // The estimate is the runner's, carried as it is.
        let tiles = TileProgress(tilesDone: 2, tilesTotal: 10, elapsed: 4)
        let p = DeblurProgress(deblurring: tiles, elapsed: 5)
        #expect(p.estimatedRemaining == 16 && p.elapsed == 5 && p.tilesDone == 2)
    }
}
