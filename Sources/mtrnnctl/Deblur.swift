import ArgumentParser
import Deblur
import DurableFiles
import Foundation
import MTRNN
import PhotoIO
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

    // Numbers are parsed `.unconditional` so a negative value reaches
    // validate() and gets its range message, not "Missing value for --overlap".
    @Option(parsing: .unconditional, help: "Recurrent iterations per tile.")
    var iterations = 6

    @Option(help: "Arithmetic: f32 or bf16 (bf16 needs a CPU with native bf16).")
    var precision = "f32"

    @Option(parsing: .unconditional, help: "Tile size in pixels (a multiple of 4).")
    var tile = TilePlan.defaultTile

    @Option(parsing: .unconditional, help: "Pixels shared by neighbouring tiles.")
    var overlap = TilePlan.defaultOverlap

    @Option(parsing: .unconditional, help: "JPEG quality of JPEG and JPEG-compressed TIFF outputs (1-100).")
    var quality = 95

    @Option(parsing: .unconditional, help: "Tiles processed at once (0: from the core count).")
    var workers = 0

    @Option(name: .customLong("max-megapixels"), parsing: .unconditional, help: "Refuse images larger than this.")
    var maxMegapixels = 100

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Deblur at 1/N of the size and add the upsampled correction: for blur longer than the network reaches (large photos), at 1/N^2 of the work (1-4). auto: chosen per photo from its estimated blur extent (the smallest N that brings it to 32 px or less; 1 when the estimate is unsure).",
        valueName: "auto|N"))
    var scale = "1"

    /// `--scale` as DeblurOptions.scale: 1...4, 0 for auto; nil if invalid.
    var scaleValue: Int? {
        if scale.lowercased() == "auto" { return DeblurOptions.autoScale }
        guard let n = Int(scale), (1...4).contains(n) else { return nil }
        return n
    }

    @Option(name: .customLong("skip-flat"), parsing: .unconditional, help: ArgumentHelp(
        "Leave tiles whose mean luminance gradient is below G (0-255 units) as they are: sky, walls (0: off).",
        valueName: "G"))
    var skipFlat: Float = 0

    @Option(name: .customLong("stop-below"), parsing: .unconditional, help: ArgumentHelp(
        "Stop a tile's iterations once one changes it by less than D on average (0-255 units; 0: off).",
        valueName: "D"))
    var stopBelow: Float = 0.5

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
        guard Precision(rawValue: precision) != nil else {
            throw ValidationError("--precision must be one of \(Precision.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard iterations >= 1 else { throw ValidationError("--iterations must be at least 1.") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100.") }
        guard tile >= 16, tile % 4 == 0 else { throw ValidationError("--tile must be a multiple of 4, at least 16.") }
        guard overlap >= 0, overlap < tile else { throw ValidationError("--overlap must be at least 0 and less than --tile.") }
        guard workers >= 0 else { throw ValidationError("--workers must be 0 (from the core count) or more.") }
        guard maxMegapixels > 0 else { throw ValidationError("--max-megapixels must be at least 1.") }
        guard scaleValue != nil else { throw ValidationError("--scale must be auto, 1, 2, 3 or 4.") }
        guard skipFlat >= 0, stopBelow >= 0 else { throw ValidationError("--skip-flat and --stop-below must be 0 (off) or more.") }
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
            var options = DeblurOptions(
                weights: weightsURL, iterations: iterations, precision: Precision(rawValue: precision)!,
                tile: tile, overlap: overlap, jpegQuality: quality, maxPixels: maxMegapixels * 1_000_000,
                workers: workers)
            options.scale = scaleValue!
            options.flatTileGradient = skipFlat
            options.stopBelow = stopBelow
            pipeline = try DeblurPipeline(options: options)
        } catch {
            console.error("mtrnnctl: \(error)")
            throw ExitCode(2)
        }
        var failed = 0
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
                let photo = try pipeline.deblur(input: source, progress: console.show)
                try write(photo.bytes, to: destination)
                let report = photo.report
                console.clearBar()
                var extra = ""
                if let extent = report.blurExtent, let confidence = report.blurConfidence {
                    extra += String(format: ", scale %d (blur about %.0f px, confidence %.2f)",
                                    report.scaleUsed, extent, confidence)
                } else if report.scaleUsed > 1 {
                    extra += ", at 1/\(report.scaleUsed) scale"
                }
                if skipFlat > 0 { extra += ", \(report.flatTiles) flat tiles left as they were" }
                if stopBelow > 0 || skipFlat > 0 {
                    extra += String(format: ", %.1f iterations per tile", Double(report.iterationsRun) / Double(max(report.tiles, 1)))
                }
                console.line("\(input) -> \(destination.path): "
                    + String(format: "%.1f MP, %d tiles, %.1f s (%.2f s/MP)", report.megapixels,
                             report.tiles, report.seconds, report.secondsPerMegapixel) + extra)
            } catch {
                console.clearBar()
                console.error("mtrnnctl: \(error)")
                failed += 1
            }
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

    func show(_ p: DeblurProgress) {
        guard isTerminal else { return }
        lock.lock(); defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        // Redrawing on every tile of a fast run would flood a slow terminal.
        guard p.stage != .deblurring || p.tilesDone == p.tilesTotal || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 30
        let filled = p.tilesTotal == 0 ? 0 : width * p.tilesDone / p.tilesTotal
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        var text = "\(p.input.lastPathComponent) [\(bar)] \(p.tilesDone)/\(p.tilesTotal) tiles"
        if p.stage == .deblurring, let eta = p.estimatedRemaining {
            text += ", \(Self.duration(eta)) left"
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

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                         : String(format: "%d:%02d", s / 60, s % 60)
    }
}
