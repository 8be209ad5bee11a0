import Foundation
import MTRNN

/// How ``DeblurPipeline`` deblurs one photo.
public struct DeblurOptions: Sendable {
    /// The MT-RNN weights (safetensors with the authors' parameter names).
    public var weights: URL
    /// Recurrent iterations per tile; the paper's optimum is 6.
    public var iterations: Int
    public var precision: Precision
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
    /// Tiles whose mean luminance gradient (|dx| + |dy|, 0...255 units) is
    /// below this are left as they are: sky, walls, smooth backgrounds have
    /// nothing to deblur. 0: every tile goes through the network.
    public var flatTileGradient: Float = 0
    /// A tile stops iterating once an iteration changes it by less than this
    /// (mean absolute change per sample, 0...255), after at least 2. 0: always
    /// `iterations`.
    public var stopBelow: Float = 0

    public init(weights: URL, iterations: Int = 6, precision: Precision = .f32,
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

    var defaultSoftwareNote: String {
        "mtrnn-watch: deblurred with MT-RNN (Park et al., ECCV 2020), weights \(weights.lastPathComponent), \(iterations) iteration\(iterations == 1 ? "" : "s")"
            + (scale > 1 ? ", at 1/\(scale) scale" : "")
    }

    /// The note for a photo deblurred at `scaleUsed` (auto resolves per photo).
    func defaultSoftwareNote(scaleUsed: Int) -> String {
        var copy = self
        copy.scale = scaleUsed
        return copy.defaultSoftwareNote
    }
}
