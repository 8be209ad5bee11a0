import Foundation
import Testing
import MTRNN
import PhotoIO
@testable import Deblur

/// The pipeline end to end on the seeded random weights of the engine's
/// fixtures: small photos, one iteration, small tiles, so it stays fast.
struct DeblurPipelineTests {
    static let weights = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../MTRNNTests/Fixtures/weights.safetensors").standardizedFileURL

    func options(tile: Int = 64, overlap: Int = 16) -> DeblurOptions {
        DeblurOptions(weights: Self.weights, iterations: 1, precision: .f32, tile: tile, overlap: overlap, workers: 2, threadsPerWorker: 1)
    }

    func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("deblur-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A 16-bit RGBA PNG: the hardest of the pass-through cases (depth and alpha).
    func writePNG(to url: URL, width: Int = 150, height: Int = 90) throws {
        var samples = [UInt16](repeating: 0, count: width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 4
                samples[i] = UInt16((x * 65535) / width)
                samples[i + 1] = UInt16((y * 65535) / height)
                samples[i + 2] = UInt16(((x ^ y) & 15) * 4000)
                samples[i + 3] = UInt16(1000 + x * 100)
            }
        }
        let image = Image(width: width, height: height, channels: 4, bitDepth: 16, samples: samples, format: .png)
        try Data(PhotoIO.encode(image)).write(to: url)
    }

    @Test func deblursAPhotoKeepingItsFormat() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.png")
        try writePNG(to: input)
        let before = try Data(contentsOf: input)
        let stages = Locked<[DeblurProgress]>([])
        let photo = try DeblurPipeline(options: options()).deblur(input: input) { p in
            stages.withValue { $0.append(p) }
        }
        let report = photo.report
        let original = try PhotoIO.decode(contentsOf: input)
        let result = try PhotoIO.decode(data: photo.bytes, name: "out.png")
        #expect(try Data(contentsOf: input) == before, "the input is untouched")
        #expect(result.width == 150 && result.height == 90 && result.channels == 4 && result.bitDepth == 16)
        #expect(result.format == .png)
        // Alpha passes through; the colour changed (the network ran).
        #expect(stride(from: 3, to: result.samples.count, by: 4).allSatisfy { result.samples[$0] == original.samples[$0] })
        #expect(result.samples != original.samples)
        let plan = try TilePlan(imageWidth: 150, imageHeight: 90, tile: 64, overlap: 16)
        #expect(report.tiles == plan.tiles.count && report.width == 150 && report.height == 90)
        let seen = stages.withValue { $0 }
        #expect(seen.first?.stage == .decoding && seen.last?.stage == .done)
        // Two workers report outside the runner's lock: in either order.
        #expect(seen.filter { $0.stage == .deblurring }.map(\.tilesDone).sorted() == Array(1...plan.tiles.count))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["in.png"], "the caller writes the result")
    }

    @Test func tiledPipelineMatchesTheNetworkOnOneTile() throws {
        // An image that fits one tile goes through the network unchanged.
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.png")
        try writePNG(to: input, width: 60, height: 44)
        let photo = try DeblurPipeline(options: options()).deblur(input: input)
        let original = try PhotoIO.decode(contentsOf: input)
        let network = try MTRNNNetwork(weights: MTRNNWeights.load(contentsOf: Self.weights), threads: 1)
        let rgb = original.planarRGB()
        let expected = original.replacingColour(withPlanarRGB:
            try network.run(PlanarImage(width: rgb.width, height: rgb.height, data: rgb.data), iterations: 1).data)
        #expect(try PhotoIO.decode(data: photo.bytes, name: "out.png").samples == expected.samples)
    }

    /// `strength`: 0 gives the photo back, 0.5 lies halfway between the photo
    /// and the network's result, sample by sample (16-bit: one step of rounding).
    @Test func strengthBlendsTheResultWithThePhoto() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.png")
        try writePNG(to: input, width: 96, height: 64)
        func run(_ strength: Float) throws -> [UInt16] {
            var o = options()
            o.sharpPhotos = .process
            o.strength = strength
            return try PhotoIO.decode(data: DeblurPipeline(options: o).deblur(input: input).bytes, name: "out.png").samples.values
        }
        let original = try PhotoIO.decode(contentsOf: input).samples
        let full = try run(1), none = try run(0), half = try run(0.5)
        #expect(none == original)
        #expect(full != original)
        var worst = 0, changed = 0
        // Where the full result was clamped to the sample range, halfway lies between the photo and the unclamped value.
        for i in 0..<original.count where i % 4 != 3 && full[i] > 0 && full[i] < 65535 {
            let expected = (Double(original[i]) + Double(full[i])) / 2
            worst = max(worst, Int((Double(half[i]) - expected).magnitude.rounded(.up)))
            if full[i] != original[i] { changed += 1 }
        }
        #expect(worst <= 1, "the half-strength result is \(worst) steps from halfway")
        #expect(changed > original.count / 4, "\(changed) of \(original.count)")
    }

    @Test func badFilesAreNamedInTheError() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("broken.jpg")
        try Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 16]).write(to: input)
        do {
            _ = try DeblurPipeline(options: options()).deblur(input: input)
            Issue.record("a broken JPEG was accepted")
        } catch let error as DeblurError {
            let text = error.description
            #expect(text.hasPrefix(input.path + ": cannot read the photo: "))
            #expect(!text.contains(": broken.jpg:"), "the file is named once: \(text)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["broken.jpg"])
    }

    @Test func missingWeightsNameTheFile() {
        let missing = URL(fileURLWithPath: "/nonexistent/mtrnn.safetensors")
        do {
            _ = try DeblurPipeline(options: DeblurOptions(weights: missing))
            Issue.record("missing weights were accepted")
        } catch {
            #expect("\(error)".hasPrefix("/nonexistent/mtrnn.safetensors: cannot load the MT-RNN weights"))
            // Which flag or key names the weights is the caller's to say.
            #expect(!"\(error)".contains("--weights"), "\(error)")
        }
        #expect(throws: DeblurError.self) {
            try DeblurPipeline(options: DeblurOptions(weights: Self.weights, tile: 64, overlap: 64))
        }
    }

    @Test func bf16WithoutKernelsStopsBeforeTheFirstPhoto() throws {
        let options = DeblurOptions(weights: Self.weights, precision: .bf16)
        if MTRNNNetwork.bf16Supported() {
            _ = try DeblurPipeline(options: options)
        } else {
            #expect(throws: DeblurError.self) { try DeblurPipeline(options: options) }
        }
    }

    /// A cancelled photo stops before its next stage or tile.
    @Test(arguments: [DeblurProgress.Stage.decoding, .deblurring])
    func aCancelledPhotoStopsBeforeItsNextTile(at stage: DeblurProgress.Stage) throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in.png")
        try writePNG(to: input, width: 300, height: 200)
        let cancel = CancelFlag()
        let tilesSeen = Locked(0)
        #expect(throws: CancellationError.self) {
            try DeblurPipeline(options: options()).deblur(input: input, progress: { p in
                if p.stage == .deblurring { tilesSeen.withValue { $0 = max($0, p.tilesDone) } }
                if p.stage == stage { cancel.cancel() }
            }, cancel: cancel)
        }
        let plan = try TilePlan(imageWidth: 300, imageHeight: 200, tile: 64, overlap: 16)
        #expect(tilesSeen.withValue { $0 } < plan.tiles.count, "every tile ran after the flag was set")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["in.png"])
    }

    /// `auto` is decided once, by the pipeline, from what this CPU runs.
    @Test func autoPrecisionIsResolvedOnceByThePipeline() throws {
        var o = options()
        o.precision = .auto
        let pipeline = try DeblurPipeline(options: o)
        #expect(pipeline.precision == (MTRNNNetwork.bf16Supported() ? .bf16 : .f32))
        #expect(pipeline.description.contains(", \(pipeline.precision.rawValue), tile 64/16"), "\(pipeline.description)")
        #expect(PrecisionSetting.auto.resolved(bf16Supported: true) == .bf16)
        #expect(PrecisionSetting.auto.resolved(bf16Supported: false) == .f32)
        #expect(PrecisionSetting.f32.resolved(bf16Supported: true) == .f32)
    }

    @Test func concurrencyDefaultsBoundTheNetworks() {
        let o = DeblurOptions(weights: Self.weights)
        #expect(o.resolvedConcurrency(cores: 2) == (2, 1))
        #expect(o.resolvedConcurrency(cores: 16) == (4, 4))
        #expect(o.resolvedConcurrency(cores: 1) == (1, 1))
        var fixed = o
        fixed.workers = 3
        #expect(fixed.resolvedConcurrency(cores: 12) == (3, 4))
    }
}
