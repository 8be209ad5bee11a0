import Foundation
import Identity
import MTRNN

/// The arithmetic a pipeline is asked for; `auto` leaves it to the CPU.
public enum PrecisionSetting: String, Sendable, CaseIterable, Equatable {
    /// bf16 where the CPU has native bf16 kernels, f32 elsewhere.
    case auto
    case f32
    case bf16

    /// What runs: `auto` is decided here, once per pipeline.
    public func resolved(bf16Supported: Bool = MTRNNNetwork.bf16Supported()) -> Precision {
        switch self {
        case .f32: return .f32
        case .bf16: return .bf16
        case .auto: return bf16Supported ? .bf16 : .f32
        }
    }
}

/// How ``DeblurPipeline`` deblurs a photo: the one settings value behind the
/// daemon's configuration (`mtrnn-watch.conf`), `mtrnnctl deblur` and
/// `mtrnnctl bench`. Its defaults are the defaults everywhere, and
/// ``settings`` parses and checks every value the user can write, so no
/// caller keeps its own copy of a range.
public struct DeblurOptions: Sendable, Equatable {
    /// The MT-RNN weights (safetensors with the authors' parameter names).
    public var weights: URL
    /// Recurrent iterations per tile; the paper's optimum is 6.
    public var iterations: Int
    /// auto by default: bf16 where the CPU has native bf16 (about half the
    /// time of f32 on a Zen 5, the same PSNR to 0.01 dB), f32 elsewhere,
    /// where our Winograd path (2.5x on the ResBlocks) runs.
    public var precision: PrecisionSetting
    public var tile: Int
    /// Pixels shared by neighbouring tiles; the default holds the tiled
    /// result within 45 dB PSNR of whole-image inference.
    public var overlap: Int
    public var jpegQuality: Int
    /// Images whose header claims more pixels are refused before decoding.
    public var maxPixels: Int
    /// Tiles in flight at once, each on its own network; 0 picks one from
    /// the core count with memory bounded (each network holds about 150 MB
    /// of activations for a 256x256 tile).
    public var workers: Int
    /// oneDNN threads per worker; 0 shares the cores among the workers.
    public var threadsPerWorker: Int
    /// Written into the output's Software / processing note; nil writes the
    /// default naming the model, weights file and iterations.
    public var softwareNote: String?
    /// Deblur at 1/`scale` of the size and add the upsampled correction
    /// (`ScaleCorrection`): for blur longer than the network's reach, at a
    /// fraction of the work (1/scale^2). 1: at full size. 0: auto, chosen
    /// per photo from its estimated blur extent (`BlurExtent`: the smallest
    /// scale that brings it to 32 px or less, 1 when the estimate is unsure).
    public var scale: Int = 1
    /// `scale` for "auto".
    public static let autoScale = 0
    /// What to do with a photo that is sharp already (``PhotoAssessment``
    /// score above ``sharpThreshold``): the network would only cost minutes
    /// and change it a little (BENCHMARKS.md, "Sharp photos").
    public enum SharpPhotos: String, Sendable, CaseIterable, Equatable {
        /// Deblur every photo; none is assessed.
        case process
        /// The result is the photo itself, byte for byte.
        case copy
        /// No result: the photo is left where it is.
        case skip
    }
    public var sharpPhotos = SharpPhotos.copy
    /// The sharpness score above which a photo counts as sharp.
    public var sharpThreshold = PhotoAssessment.defaultThreshold
    /// Tiles whose mean luminance gradient (|dx| + |dy|, 0...255 units) is
    /// below this are left as they are: sky, walls, smooth backgrounds have
    /// nothing to deblur. 0: every tile goes through the network. Off by
    /// default: blur lowers the gradient too (BENCHMARKS.md).
    public var flatTileGradient: Float = 0
    /// A tile stops iterating once an iteration changes it by less than this
    /// (mean absolute change per sample, 0...255), after at least 2. 0: always
    /// `iterations`. 0.5 measured: 0.48 of the network work for +0.004 dB on
    /// the cross-scene pairs (BENCHMARKS.md).
    public var stopBelow: Float = 0.5
    /// How much of the network's change is kept: output = input +
    /// strength x (deblurred - input), per sample in the values the network
    /// sees (the photo's encoded values, gamma included, on a 0...255 scale;
    /// sRGB's when the photo's profile is converted), before quantizing.
    /// 1: the network's result; 0: the photo back, re-encoded.
    public var strength: Float = 1
    /// What to do with a photo's embedded ICC profile that is not sRGB
    /// (Adobe RGB, ProPhoto, a linear profile): the network was trained on
    /// sRGB photos.
    public enum ColourProfile: String, Sendable, CaseIterable, Equatable {
        /// To sRGB for the network and back to the photo's profile (Little CMS).
        case convert
        /// The photo's values go through as if they were sRGB (before issue 19).
        case ignore
    }
    public var colourProfile = ColourProfile.convert

    public init(weights: URL, iterations: Int = 6, precision: PrecisionSetting = .auto,
                tile: Int = TilePlan.defaultTile, overlap: Int = TilePlan.defaultOverlap,
                jpegQuality: Int = 95, maxPixels: Int = 100_000_000,
                workers: Int = 0, threadsPerWorker: Int = 0, softwareNote: String? = nil) {
        self.weights = weights
        self.iterations = iterations
        self.precision = precision
        self.tile = tile
        self.overlap = overlap
        self.jpegQuality = jpegQuality
        self.maxPixels = maxPixels
        self.workers = workers
        self.threadsPerWorker = threadsPerWorker
        self.softwareNote = softwareNote
    }

    /// Workers and threads per worker actually used on `cores` cores.
    func resolvedConcurrency(cores: Int = ProcessInfo.processInfo.activeProcessorCount) -> (workers: Int, threads: Int) {
        // More than four networks would pass the 1.5 GB memory budget on a
        // 24 MP photo; past that, more oneDNN threads per tile use the cores.
        let workers = self.workers > 0 ? self.workers : max(1, min(cores, 4))
        let threads = threadsPerWorker > 0 ? threadsPerWorker : max(1, cores / workers)
        return (workers, threads)
    }

    /// The processing note, kept short: the release, the model, the weights
    /// by the first 12 hex digits of their SHA-256 (by file name when they
    /// were not hashed), the iterations and the scale.
    func defaultSoftwareNote(weightsSHA256: String? = nil) -> String {
        let weightsName = weightsSHA256.map { "sha256:" + $0.prefix(12) } ?? weights.lastPathComponent
        // "mtrnn-watch: " first: readers (and scripts/conformance_check.py) find our note by it.
        return "mtrnn-watch: version \(MtrnnWatchVersion.string), deblurred with MT-RNN (Park et al., ECCV 2020), weights \(weightsName), \(iterations) iteration\(iterations == 1 ? "" : "s")"
            + (scale > 1 ? ", at 1/\(scale) scale" : "")
            + (strength < 1 ? ", strength \(Self.number(strength))" : "")
    }

    /// `strength` applied: `deblurred` moved back toward `original` (same
    /// layout), in place. Nothing changes at strength 1.
    public static func blend(_ deblurred: inout [Float], toward original: [Float], strength: Float) {
        precondition(deblurred.count == original.count, "blend: \(deblurred.count) values against \(original.count)")
        guard strength < 1 else { return }
        deblurred.withUnsafeMutableBufferPointer { d in
            original.withUnsafeBufferPointer { o in
                for i in 0..<d.count { d[i] = o[i] + strength * (d[i] - o[i]) }
            }
        }
    }

    /// The note for a photo deblurred at `scaleUsed` (auto resolves per photo).
    func defaultSoftwareNote(scaleUsed: Int, weightsSHA256: String? = nil) -> String {
        var copy = self
        copy.scale = scaleUsed
        return copy.defaultSoftwareNote(weightsSHA256: weightsSHA256)
    }
}

// MARK: the settings a user writes

extension DeblurOptions {
    /// One setting as a user writes it: its name (the configuration key;
    /// `mtrnnctl` spells it as a flag), what it accepts, how to read and
    /// show it. The ranges live here and nowhere else.
    public struct Setting: Sendable {
        /// The configuration key: `tile`, `jpeg_quality`, ...
        public let key: String
        /// What the setting accepts, in words: "a multiple of 4 from 16 to 2048".
        public let expected: String
        /// The value as it would be written back.
        public let show: @Sendable (DeblurOptions) -> String
        /// Reads `text` into the options; false when it is not a value at all.
        let read: @Sendable (inout DeblurOptions, String) -> Bool
        /// Whether the options' value is in range.
        let accepts: @Sendable (DeblurOptions) -> Bool
    }

    /// Every setting, in the configuration file's order.
    public static let settings: [Setting] = [
        Setting(key: "weights", expected: "a path to a .safetensors file",
                show: { $0.weights.relativePath },
                read: { o, v in
                    guard !v.isEmpty, !v.contains("\0") else { return false }
                    o.weights = URL(fileURLWithPath: v)
                    return true
                },
                accepts: { !$0.weights.relativePath.isEmpty }),
        integer("iterations", \.iterations, 1...20),
        Setting(key: "precision", expected: "auto, f32 or bf16",
                show: { $0.precision.rawValue },
                read: { o, v in
                    guard let p = PrecisionSetting(rawValue: v) else { return false }
                    o.precision = p
                    return true
                },
                accepts: { _ in true }),
        integer("tile", \.tile, 16...2048, multipleOf: 4),
        // Less than `tile` too: checked by `validate()`, which sees both.
        integer("overlap", \.overlap, 0...2044),
        integer("jpeg_quality", \.jpegQuality, 1...100),
        Setting(key: "max_megapixels", expected: "a number from 0.01 to 10000",
                show: { number(Double($0.maxPixels) / 1_000_000) },
                read: { o, v in
                    guard let mp = Double(v), mp.isFinite, (0.01...10000).contains(mp) else { return false }
                    o.maxPixels = Int((mp * 1_000_000).rounded())
                    return true
                },
                accepts: { (10_000...10_000_000_000).contains($0.maxPixels) }),
        Setting(key: "scale", expected: "auto, 1, 2, 3 or 4",
                show: { $0.scale == autoScale ? "auto" : String($0.scale) },
                read: { o, v in
                    if v == "auto" { o.scale = autoScale; return true }
                    guard let n = wholeNumber(v), (1...4).contains(n) else { return false }
                    o.scale = n
                    return true
                },
                accepts: { (0...4).contains($0.scale) }),
        fraction("stop_below", \.stopBelow),
        fraction("skip_flat", \.flatTileGradient),
        choice("sharp_photos", "process, copy or skip", \.sharpPhotos),
        choice("colour_profile", "convert or ignore", \.colourProfile),
        Setting(key: "strength", expected: "a number from 0 to 1",
                show: { number($0.strength) },
                read: { o, v in
                    guard let f = Float(v), f.isFinite else { return false }
                    o.strength = f
                    return true
                },
                accepts: { (0...1).contains($0.strength) }),
        Setting(key: "sharp_threshold", expected: "a number from -100 to 100",
                show: { number($0.sharpThreshold) },
                read: { o, v in
                    guard let t = Double(v), t.isFinite else { return false }
                    o.sharpThreshold = t
                    return true
                },
                accepts: { (-100...100).contains($0.sharpThreshold) }),
    ]

    public static func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    /// Sets one setting from its text, checked against its range.
    public mutating func set(_ key: String, _ text: String) throws(SettingProblem) {
        guard let setting = Self.setting(key) else { throw .unknown(key: key) }
        var changed = self
        guard setting.read(&changed, text), setting.accepts(changed) else {
            throw .value(key: key, value: text, expected: setting.expected)
        }
        self = changed
    }

    /// Every setting in its range, the overlap less than the tile, and the
    /// precision one this CPU runs: the check behind the daemon's
    /// configuration, `mtrnnctl` and the pipeline itself.
    public func validate(bf16UnsupportedReason: String? = MTRNNNetwork.bf16UnsupportedReason) throws(SettingProblem) {
        for s in Self.settings where !s.accepts(self) {
            throw .value(key: s.key, value: s.show(self), expected: s.expected)
        }
        guard overlap < tile else { throw .overlapNotLessThanTile(overlap: overlap, tile: tile) }
        if precision == .bf16, let reason = bf16UnsupportedReason {
            throw .precisionUnsupported(reason: reason)
        }
    }

    private static func integer(_ key: String, _ path: any WritableKeyPath<DeblurOptions, Int> & Sendable,
                                _ range: ClosedRange<Int>, multipleOf step: Int = 1) -> Setting {
        let words = step == 1 ? "a whole number from" : "a multiple of \(step) from"
        return Setting(key: key, expected: "\(words) \(range.lowerBound) to \(range.upperBound)",
                       show: { String($0[keyPath: path]) },
                       read: { o, v in
                           guard let n = wholeNumber(v) else { return false }
                           o[keyPath: path] = n
                           return true
                       },
                       accepts: { range.contains($0[keyPath: path]) && $0[keyPath: path] % step == 0 })
    }

    /// 0...255 sample units, 0 for off.
    private static func fraction(_ key: String, _ path: any WritableKeyPath<DeblurOptions, Float> & Sendable) -> Setting {
        Setting(key: key, expected: "a number from 0 (off) to 255",
                show: { number(Double($0[keyPath: path])) },
                read: { o, v in
                    guard let f = Float(v), f.isFinite else { return false }
                    o[keyPath: path] = f
                    return true
                },
                accepts: { (0...255).contains($0[keyPath: path]) })
    }

    /// A setting that is one of an enumeration's words.
    private static func choice<Choice: RawRepresentable<String>>(
        _ key: String, _ expected: String, _ path: any WritableKeyPath<DeblurOptions, Choice> & Sendable
    ) -> Setting {
        Setting(key: key, expected: expected,
                show: { $0[keyPath: path].rawValue },
                read: { o, v in
                    guard let choice = Choice(rawValue: v) else { return false }
                    o[keyPath: path] = choice
                    return true
                },
                accepts: { _ in true })
    }

    /// "6", and "6.0" as written by hand; nil for anything else.
    private static func wholeNumber(_ text: String) -> Int? {
        if let n = Int(text) { return n }
        guard let d = Double(text), d.isFinite, d.rounded() == d, abs(d) < 1e9 else { return nil }
        return Int(d)
    }

    /// A Float as written ("0.6", not 0.6's nearest Double "0.6000000238418579").
    private static func number(_ f: Float) -> String {
        f == f.rounded() && abs(f) < 1e9 ? String(Int(f)) : "\(f)"
    }

    private static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d)
    }
}

/// A setting the pipeline cannot take. It states the facts and names the
/// setting by its configuration key; each caller phrases the advice in its
/// own terms (a flag for `mtrnnctl`, a key and line for the daemon).
public enum SettingProblem: Error, Sendable, Equatable, CustomStringConvertible {
    case unknown(key: String)
    /// `value` is not something `key` takes; `expected` says what it takes.
    case value(key: String, value: String, expected: String)
    case overlapNotLessThanTile(overlap: Int, tile: Int)
    /// bf16 asked for on a CPU without bf16 kernels; `reason` names the CPU's.
    case precisionUnsupported(reason: String)

    /// The setting at fault.
    public var key: String {
        switch self {
        case .unknown(let key), .value(let key, _, _): return key
        case .overlapNotLessThanTile: return "overlap"
        case .precisionUnsupported: return "precision"
        }
    }

    public var description: String {
        switch self {
        case .unknown(let key): return "there is no setting \(key)"
        case .value(let key, let value, let expected): return "\(key) \(value): expected \(expected)"
        case .overlapNotLessThanTile(let overlap, let tile): return "overlap \(overlap) must be less than the tile size \(tile)"
        case .precisionUnsupported(let reason): return reason
        }
    }
}
