import ArgumentParser
import Deblur
import DurableFiles
import Foundation
import MTRNN
import PhotoIO
import WatchControl
#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `mtrnnctl deblur`: deblur photo files by hand, without the daemon.
struct DeblurCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deblur",
        abstract: "Deblur photos with MT-RNN, keeping their format and metadata.",
        discussion: """
        Each INPUT is written in its own format with its metadata: to OUTPUT with -o \
        (one input only), to DIR/NAME with --output-dir, or next to the input as \
        NAME-deblurred.EXT. The input is never overwritten, and an existing output \
        only with --overwrite. Outputs are written to a hidden temporary file and \
        renamed into place.

        8- and 16-bit samples keep their depth, grey stays grey and alpha is kept, \
        except for PNG: palette images come out as 8-bit RGB (RGBA when they have \
        transparency), 1/2/4-bit grey as 8-bit grey, and a transparency key (tRNS) \
        as an alpha channel with the same transparent pixels. A JPEG's MPF images \
        and other data after the image (except AFCP, FotoStation and Photo \
        Mechanic trailers) are not carried; the processing note says so.

        TIFF keeps its compression (JPEG-compressed TIFF as JPEG at --quality, \
        LZW if it has alpha; codecs other than none, LZW, Deflate, PackBits \
        and JPEG become LZW). Palette TIFFs become 8-bit RGB, 1-, 2- and 4-bit \
        grey TIFFs 8-bit grey. Our note is appended to the TIFF's Software tag. \
        Camera raws (DNG, NEF, CR2, ARW, ORF, RW2, IIQ, ...) are refused: export \
        a TIFF or JPEG from a raw converter and deblur that.

        Weights: --weights, else $MTRNN_WEIGHTS, else mtrnn.safetensors from \
        ../share/mtrnn-watch/ next to the executable, else Models/ of the checkout \
        the executable was built in.

        Exit status: 0 every photo was deblurred; 1 at least one photo failed \
        (one line per photo on standard error, the others are still done); \
        2 nothing was started (weights missing or unreadable, engine could not \
        start); 64 the command line is wrong.
        """)

    @Argument(help: "Photos to deblur (JPEG, PNG or TIFF).")
    var inputs: [String] = []

    @Option(name: [.short, .customLong("output")], help: "Output file (with a single INPUT).")
    var output: String?

    @Option(name: .customLong("output-dir"), help: "Folder for the outputs, named as the inputs.")
    var outputDirectory: String?

    @Option(help: "MT-RNN weights (safetensors).")
    var weights: String?

    // The pipeline settings are read as text and handed to DeblurOptions,
    // which parses and checks them (the daemon's configuration reads the
    // same settings). Numbers are parsed `.unconditional` so a negative
    // value reaches its range message, not "Missing value for --overlap".
    @Option(parsing: .unconditional, help: SettingFlags.help("iterations", "Recurrent iterations per tile", valueName: "n"))
    var iterations: String?

    @Option(help: SettingFlags.help("precision", "Arithmetic; bf16 needs a CPU with native bf16, auto takes it where there is",
                                    valueName: "auto|f32|bf16"))
    var precision: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("tile", "Tile size in pixels", valueName: "pixels"))
    var tile: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("overlap", "Pixels shared by neighbouring tiles, less than --tile",
                                                             valueName: "pixels"))
    var overlap: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("jpeg_quality", "JPEG quality of JPEG and JPEG-compressed TIFF outputs",
                                                             valueName: "q"))
    var quality: String?

    @Option(parsing: .unconditional, help: "Tiles processed at once (0: from the core count).")
    var workers = 0

    @Option(name: .customLong("max-megapixels"), parsing: .unconditional,
            help: SettingFlags.help("max_megapixels", "Refuse images larger than this", valueName: "n"))
    var maxMegapixels: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("scale",
        "Deblur at 1/N of the size and add the upsampled correction: for blur longer than the network reaches (large photos), at 1/N^2 of the work. auto: chosen per photo from its estimated blur extent (the smallest N that brings it to 32 px or less; 1 when the estimate is unsure)",
        valueName: "auto|N"))
    var scale: String?

    @Option(name: .customLong("skip-flat"), parsing: .unconditional, help: SettingFlags.help("skip_flat",
        "Leave tiles whose mean luminance gradient is below G (0-255 units) as they are: sky, walls", valueName: "G"))
    var skipFlat: String?

    @Option(name: .customLong("stop-below"), parsing: .unconditional, help: SettingFlags.help("stop_below",
        "Stop a tile's iterations once one changes it by less than D on average (0-255 units)", valueName: "D"))
    var stopBelow: String?

    @Option(name: .customLong("sharp-photos"), help: SettingFlags.help("sharp_photos",
        "What to do with a photo that is sharp already: deblur it anyway, copy it unchanged as the output, or write nothing",
        valueName: "process|copy|skip"))
    var sharpPhotos: String?

    @Option(name: .customLong("sharp-threshold"), parsing: .unconditional, help: SettingFlags.help("sharp_threshold",
        "The sharpness score above which a photo counts as sharp (see mtrnnctl assess)", valueName: "T"))
    var sharpThreshold: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("strength", "How much of the network's change to keep", valueName: "S"))
    var strength: String?

    @Option(name: .customLong("colour-profile"), help: SettingFlags.help("colour_profile",
        "A photo whose ICC profile is not sRGB: convert it to sRGB for the network and back, or ignore the profile", valueName: "convert|ignore"))
    var colourProfile: String?

    /// The pipeline settings of the command line over the defaults; the
    /// weights are placed by `run` (they may be looked for).
    func options(weights: URL) throws -> DeblurOptions {
        var options = DeblurOptions(weights: weights, workers: workers)
        try SettingFlags.apply(["iterations": iterations, "precision": precision, "tile": tile, "overlap": overlap,
                                "jpeg_quality": quality, "max_megapixels": maxMegapixels, "scale": scale,
                                "skip_flat": skipFlat, "stop_below": stopBelow,
                                "sharp_photos": sharpPhotos, "sharp_threshold": sharpThreshold, "strength": strength,
                                "colour_profile": colourProfile], to: &options)
        return options
    }

    @Flag(help: "Replace an existing output file (never the input).")
    var overwrite = false

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("Name at least one photo to deblur.") }
        if output != nil && outputDirectory != nil {
            throw ValidationError("Use either -o/--output or --output-dir, not both.")
        }
        if output != nil && inputs.count > 1 {
            throw ValidationError("-o/--output takes a single input; use --output-dir for \(inputs.count) inputs.")
        }
        // The output is written in the input's format whatever its name says;
        // a JPEG named out.png would mislead every program that opens it.
        if let output, let wanted = Self.format(ofName: output), let have = Self.format(ofName: inputs[0]),
           wanted != have {
            throw ValidationError("-o \(output) names a \(wanted.name) file, but \(inputs[0]) is \(have.name) and the output "
                + "keeps the input's format; name it with .\(have.usualExtension)")
        }
        if let output {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("-o \(output) is a folder; use --output-dir \(output) to write into it.")
            }
        }
        // With --output-dir, photos of the same name from different folders
        // would land on one file: the second would fail, or with --overwrite
        // silently replace the first.
        var seen: [String: String] = [:]
        for input in inputs {
            let destination = outputURL(for: URL(fileURLWithPath: input)).standardizedFileURL.path
            if let first = seen[destination] {
                throw ValidationError("\(first) and \(input) would both be written to \(destination); "
                    + "deblur them in separate runs or into different folders.")
            }
            seen[destination] = input
        }
        if let dir = outputDirectory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("--output-dir \(dir) is not an existing folder.")
            }
        }
        guard workers >= 0 else { throw ValidationError("--workers must be 0 (from the core count) or more.") }
        _ = try options(weights: URL(fileURLWithPath: weights ?? "/"))
    }

    func run() throws {
        OpenMPEnvironment.reexecWithPassiveWaitIfUnset()
        let console = Console()
        guard let weightsURL = weights.map({ URL(fileURLWithPath: $0) }) ?? WeightsLocator.locate() else {
            let looked = WeightsLocator.candidates(executable: WeightsLocator.currentExecutable()).map(\.path)
            console.error("mtrnnctl: no MT-RNN weights found (looked in \(looked.joined(separator: ", "))); pass --weights FILE or set MTRNN_WEIGHTS")
            throw ExitCode(2)
        }
        let pipeline: DeblurPipeline
        do {
            pipeline = try DeblurPipeline(options: try options(weights: weightsURL))
        } catch {
            console.error("mtrnnctl: \(SettingFlags.advice(error))")
            throw ExitCode(2)
        }
        let options = pipeline.options
        var failed = 0, sharp = 0
        for input in inputs {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), isDirectory.boolValue {
                console.error("mtrnnctl: \(input): is a folder, not a photo; name the photos in it (for example \(input)/*.jpg)")
                failed += 1
                continue
            }
            let source = URL(fileURLWithPath: input)
            let destination = outputURL(for: source)
            do {
                if FileOps.sameFile(source, destination) { throw DeblurError.outputIsInput(destination) }
                if !overwrite, FileManager.default.fileExists(atPath: destination.path) { throw DeblurError.outputExists(destination) }
                let name = source.lastPathComponent
                let photo = try pipeline.deblur(input: source, progress: { console.show(name, $0) })
                let report = photo.report
                if report.leftAlone {
                    // Sharp already: the photo itself is the output (copy), or nothing is written (skip).
                    if options.sharpPhotos == .copy { try write(photo.bytes, to: destination) }
                    console.clearBar()
                    sharp += 1
                    console.line("\(input): sharp already (sharpness " + String(format: "%.2f", report.sharpness ?? .nan)
                        + (options.sharpPhotos == .copy ? "), copied unchanged to \(destination.path)"
                                                         : "), nothing written")
                        + "; --sharp-photos process deblurs it anyway")
                    continue
                }
                try write(photo.bytes, to: destination)
                console.clearBar()
                var extra = ""
                if let extent = report.blurExtent, let confidence = report.blurConfidence {
                    extra += String(format: ", scale %d (blur about %.0f px, confidence %.2f)",
                                    report.scaleUsed, extent, confidence)
                } else if report.scaleUsed > 1 {
                    extra += ", at 1/\(report.scaleUsed) scale"
                }
                if options.flatTileGradient > 0 { extra += ", \(report.flatTiles) flat tiles left as they were" }
                if options.stopBelow > 0 || options.flatTileGradient > 0 {
                    extra += String(format: ", %.1f iterations per tile", report.iterationsPerTile)
                }
                console.line("\(input) -> \(destination.path): "
                    + String(format: "%.1f MP, %d tiles, %.1f s (%.2f s/MP)", report.megapixels,
                             report.tiles, report.seconds, report.secondsPerMegapixel) + extra)
            } catch {
                console.clearBar()
                console.error("mtrnnctl: \(SettingFlags.advice(error))")
                failed += 1
            }
        }
        if inputs.count > 1 {
            console.line("\(inputs.count - failed - sharp) deblurred, \(sharp) sharp already (left alone), \(failed) failed")
        }
        if failed > 0 {
            if inputs.count > 1 { console.error("mtrnnctl: \(failed) of \(inputs.count) photos failed") }
            throw ExitCode(1)
        }
    }

    /// The format a file name's extension claims; nil for names that claim none of ours.
    static func format(ofName name: String) -> ImageFormat? {
        ImageFormat(fileExtension: (name as NSString).pathExtension)
    }

    /// Writes a result durably (DurableFiles: temporary file, fsync, rename,
    /// fsync of the folder); over an existing output only with --overwrite.
    func write(_ bytes: [UInt8], to destination: URL) throws {
        do { try FileOps.write(bytes, to: destination.path, replacing: overwrite) } catch {
            if error.errno == EEXIST && !overwrite { throw DeblurError.outputExists(destination) }
            throw DeblurError.write(destination, underlying: error.description)
        }
    }

    func outputURL(for input: URL) -> URL {
        if let output { return URL(fileURLWithPath: output) }
        if let outputDirectory {
            return URL(fileURLWithPath: outputDirectory, isDirectory: true).appendingPathComponent(input.lastPathComponent)
        }
        let ext = input.pathExtension
        let stem = input.deletingPathExtension().lastPathComponent
        return input.deletingLastPathComponent()
            .appendingPathComponent(ext.isEmpty ? "\(stem)-deblurred" : "\(stem)-deblurred.\(ext)")
    }
}

/// Output lines on stdout, errors on stderr, and a progress bar on stderr
/// when it is a terminal (plain lines only otherwise, for logs and pipes).
private final class Console: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var barShown = false
    private var lastDraw: UInt64 = 0

    func show(_ name: String, _ p: DeblurProgress) {
        guard isTerminal else { return }
        lock.lock(); defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        // Redrawing on every tile of a fast run would flood a slow terminal.
        guard p.stage != .deblurring || p.tilesDone == p.tilesTotal || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30
        let filled = p.tilesTotal == 0 ? 0 : width * p.tilesDone / p.tilesTotal
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        var text = "\(name) [\(bar)] \(p.tilesDone)/\(p.tilesTotal) tiles"
        if p.stage == .deblurring, let eta = p.estimatedRemaining {
            text += ", \(StatusReport.duration(eta)) left"
        } else if p.stage != .deblurring {
            text += ", \(p.stage.rawValue)"
        }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        barShown = true
    }

    func clearBar() {
        lock.lock(); defer { lock.unlock() }
        if barShown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        barShown = false
    }

    func line(_ text: String) { FileHandle.standardOutput.write(Data((text + "\n").utf8)) }
    func error(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }

}
