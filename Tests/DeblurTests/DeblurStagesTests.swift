import Foundation
import Testing
import PhotoIO
@testable import Deblur

/// `deblur` as three stages (issue 21): `prepare`, `runNetwork` and `encode`,
/// which `mtrnnctl deblur` runs on three threads for neighbouring photos, give
/// the bytes and the report of `deblur` itself, on every path: planes remade
/// from the samples or kept (a colour conversion), strength, a scale, a photo
/// left alone as sharp.
struct DeblurStagesTests {
    func options(scale: Int = 1, strength: Float = 1, sharp: DeblurOptions.SharpPhotos = .process,
                 threshold: Double = PhotoAssessment.defaultThreshold) -> DeblurOptions {
        var o = DeblurOptions(weights: DeblurPipelineTests.weights, iterations: 2, precision: .f32, tile: 32, overlap: 8,
                              workers: 2, threadsPerWorker: 1)
        o.scale = scale
        o.strength = strength
        o.sharpPhotos = sharp
        o.sharpThreshold = threshold
        return o
    }

    /// The stages of two photos interleaved as the batch runs them: photo B
    /// prepared on another thread while A is in the network, A encoded on
    /// another thread while B is in the network.
    static func staged(_ pipeline: DeblurPipeline, _ a: URL, _ b: URL) throws -> (DeblurredPhoto, DeblurredPhoto) {
        let preparedA = try pipeline.prepare(input: a)
        let preparedB = OnAnotherThread { try pipeline.prepare(input: b) }
        let networkedA = try pipeline.runNetwork(preparedA)
        let encodedA = OnAnotherThread { try pipeline.encode(networkedA) }
        let networkedB = try pipeline.runNetwork(try preparedB.value())
        return (try encodedA.value(), try pipeline.encode(networkedB))
    }

    static func same(_ staged: DeblurredPhoto, _ whole: DeblurredPhoto) {
        #expect(staged.bytes == whole.bytes, "\(whole.report.input.lastPathComponent): the stages wrote other bytes")
        var (s, w) = (staged.report, whole.report)
        // The times are the run's own.
        (s.seconds, w.seconds, s.stageSeconds, w.stageSeconds) = (0, 0, StageSeconds(), StageSeconds())
        #expect(s == w)
    }

    @Test("the stages give deblur's bytes", arguments: [
        (1, Float(1)), (1, Float(0.5)), (2, Float(1)),
    ])
    func sameBytes(scale: Int, strength: Float) throws {
        let dir = try ColourPipelineTests().folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let colour = ColourPipelineTests()
        let plain = try colour.photo(dir, "plain.png", icc: nil)
        let adobe = try colour.photo(dir, "adobe.png", icc: ColourPipelineTests.adobeRGB)
        let pipeline = try DeblurPipeline(options: options(scale: scale, strength: strength))
        let (stagedPlain, stagedAdobe) = try Self.staged(pipeline, plain, adobe)
        Self.same(stagedPlain, try pipeline.deblur(input: plain))
        Self.same(stagedAdobe, try pipeline.deblur(input: adobe))
        #expect(stagedAdobe.report.colour?.hasPrefix("converted from") == true)
    }

    /// A photo waiting for the network holds its samples, not its float
    /// planes too, unless a colour conversion made them (they would cost
    /// the conversion again); at 12 MP the planes are 144 MB.
    @Test func aWaitingPhotoHoldsItsPlanesOnlyWhenConverted() throws {
        let dir = try ColourPipelineTests().folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let colour = ColourPipelineTests()
        let pipeline = try DeblurPipeline(options: options())
        let plain = try pipeline.prepare(input: try colour.photo(dir, "plain.png", icc: nil))
        let adobe = try pipeline.prepare(input: try colour.photo(dir, "adobe.png", icc: ColourPipelineTests.adobeRGB))
        #expect(plain.planar == nil)
        #expect(adobe.planar?.count == 3 * 96 * 64)
        // deblur keeps them: its photo goes to the network at once.
        #expect(try pipeline.prepare(input: plain.input, keepPlanes: true).planar?.count == 3 * 96 * 64)
    }

    /// The photo waiting in a batch is scored from its samples, not its
    /// float planes: the same luminance to the bit, so the same score, blur
    /// estimate and scale, whatever the depth and channels.
    @Test("scored from the samples as from the planes", arguments: [(3, 8), (3, 16), (1, 8), (2, 16), (4, 8)])
    func scoreFromSamples(channels: Int, bitDepth: Int) {
        let (w, h) = (300, 200)
        var samples = [UInt16](repeating: 0, count: w * h * channels)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let maximum = bitDepth == 16 ? 65535 : 255
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<channels {
                    // A blurred-looking ramp with noise, and every value's rounding edge somewhere.
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    let noise = Int(state >> 59)
                    let v = (x / 3 + y / 5 + c * 40) * maximum / 255 + noise * (maximum / 255 + 1) / 4
                    samples[(y * w + x) * channels + c] = UInt16(min(maximum, v))
                }
            }
        }
        let image = Image(width: w, height: h, channels: channels, bitDepth: bitDepth, samples: samples, format: .png)
        let planes = image.planarRGB().data
        #expect(BlurExtent.luminance(image: image) == BlurExtent.luminance(planarRGB: planes, width: w, height: h))
        #expect(PhotoAssessment.assess(image: image) == PhotoAssessment.assess(planarRGB: planes, width: w, height: h))
        #expect(BlurExtent.estimate(image: image) == BlurExtent.estimate(planarRGB: planes, width: w, height: h))
        // Averaged down (as a photo over 6 MP is), from the 8-bit luminance and from the planes.
        for megapixels in [0.013, 0.031] {
            let fromSamples = BlurExtent.reducedLuminance(image: image, megapixels: megapixels)
            let fromPlanes = BlurExtent.reducedLuminance(planarRGB: planes, width: w, height: h, megapixels: megapixels)
            #expect(fromSamples.width < w && fromSamples.width == fromPlanes.width && fromSamples.height == fromPlanes.height)
            #expect(fromSamples.lum == fromPlanes.lum)
        }
    }

    @Test("a photo left alone as sharp comes out of prepare finished, and the other stages pass it on")
    func sharpPhotoPassesThrough() throws {
        let dir = try ColourPipelineTests().folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try ColourPipelineTests().photo(dir, "p.png", icc: nil)
        // Every photo is sharp above the lowest threshold.
        let pipeline = try DeblurPipeline(options: options(sharp: .copy, threshold: -100))
        let prepared = try pipeline.prepare(input: input)
        #expect(prepared.finished?.report.leftAlone == true)
        #expect(prepared.stages.decode != nil && prepared.stages.score != nil)
        let photo = try pipeline.encode(try pipeline.runNetwork(prepared))
        #expect(photo.bytes == Array(try Data(contentsOf: input)))
        #expect(photo.report.stageSeconds.network == nil)
        Self.same(photo, try pipeline.deblur(input: input))
    }

    @Test("each stage's seconds are in the report; seconds is their sum")
    func stageSeconds() throws {
        let dir = try ColourPipelineTests().folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = try ColourPipelineTests().photo(dir, "p.png", icc: nil)
        let pipeline = try DeblurPipeline(options: options(scale: DeblurOptions.autoScale))
        let photo = try pipeline.encode(try pipeline.runNetwork(try pipeline.prepare(input: input)))
        let s = photo.report.stageSeconds
        for stage in [s.decode, s.score, s.network, s.encode] { #expect((stage ?? -1) >= 0, "\(s)") }
        #expect(s.write == nil, "the write is the caller's")
        #expect(abs(photo.report.seconds - s.pipelineTotal) < 1e-9)
        // Without the score (sharp photos processed, a fixed scale) there is none.
        let fixed = try DeblurPipeline(options: options()).deblur(input: input)
        #expect(fixed.report.stageSeconds.score == nil && fixed.report.stageSeconds.network != nil)
    }
}

/// A value made on a thread of its own, waited for.
final class OnAnotherThread<Value: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, any Error>?

    init(_ work: @escaping @Sendable () throws -> Value) {
        Thread { [self] in
            result = Result { try work() }
            done.signal()
        }.start()
    }

    func value() throws -> Value {
        done.wait()
        return try result!.get()
    }
}
