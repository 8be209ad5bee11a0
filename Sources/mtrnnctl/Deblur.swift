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
        NAME-deblurred.EXT (--name changes the pattern). The input is never \
        overwritten, and an existing output only with --overwrite \
        (--skip-existing passes such photos over). Outputs are written to a \
        hidden temporary file and renamed into place.

        An INPUT may be a folder: its JPEG, PNG and TIFF files are taken (by \
        extension; hidden files and temporary files are passed over), with -r \
        those of its subfolders too, which --output-dir mirrors. Files named \
        like our outputs (NAME-deblurred.EXT, or the --name pattern) and \
        previews (*.preview.png) are skipped with a note, even when named \
        explicitly, so a second run over the same photos does not deblur the \
        results again; -o or another --name deblurs such a file anyway.

        --preview deblurs only a region (--preview-region, default 512x512 in \
        the centre, plus the context tiles share) and writes it beside the \
        original region as OUTPUT-NAME.preview.png (before left, after right) \
        instead of the output. --dry-run says what would be done, without \
        loading the weights; --json writes one JSON object per photo.

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

        Exit status: 0 every photo was deblurred (or left alone as sharp, or \
        skipped as above; with --dry-run: every photo could be done); 1 at \
        least one photo failed (one line per photo on standard error, the \
        others are still done); 2 nothing was started (weights missing or \
        unreadable, engine could not start); 64 the command line is wrong, \
        two inputs would be written to one output, or MTRNN_BATCH_OVERLAP is \
        neither 0 nor 1.
        """)

    @Argument(help: "Photos to deblur (JPEG, PNG or TIFF), or folders of them.")
    var inputs: [String] = []

    @Flag(name: [.short, .long], help: "Take the photos in the subfolders of a folder INPUT too.")
    var recursive = false

    @Option(help: ArgumentHelp("Output name: %f the input's name without its extension, %e its extension, %% a "
        + "percent sign; must contain %f and end in .%e. Default: %f-deblurred.%e, and with --output-dir %f.%e",
        valueName: "template"))
    var name: String?

    @Flag(name: .customLong("skip-existing"), help: "Pass over a photo whose output exists already (not an error).")
    var skipExisting = false

    @Flag(name: .customLong("dry-run"), help: "Say what would be done, and do nothing (the weights are not loaded).")
    var dryRun = false

    @Flag(help: "One JSON object per photo on standard output, one per line, instead of the lines for people.")
    var json = false

    @Flag(name: [.short, .long], help: "No progress, no line per photo: errors only.")
    var quiet = false

    @Flag(help: "Deblur only a region and write it beside the original as NAME.preview.png instead of the output.")
    var preview = false

    @Option(name: .customLong("preview-region"), help: ArgumentHelp(
        "The region to preview, in pixels: WxH (centred) or WxH+X+Y; default 512x512. Implies --preview as well.",
        valueName: "WxH[+X+Y]"))
    var previewRegion: String?

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

    /// The naming template: --name, else the default for where outputs go.
    var template: OutputNameTemplate {
        get throws(ValidationError) {
            try OutputNameTemplate(name ?? (outputDirectory == nil ? OutputNameTemplate.nextToInput
                                                                   : OutputNameTemplate.inOutputDirectory))
        }
    }

    var region: PreviewRegion {
        get throws(ValidationError) { try previewRegion.map(PreviewRegion.init(parsing:)) ?? .defaultRegion }
    }

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("Name at least one photo to deblur.") }
        if output != nil && outputDirectory != nil {
            throw ValidationError("Use either -o/--output or --output-dir, not both.")
        }
        if output != nil && inputs.count > 1 {
            throw ValidationError("-o/--output takes a single input; use --output-dir for \(inputs.count) inputs.")
        }
        if output != nil && name != nil { throw ValidationError("Use either -o/--output or --name, not both.") }
        if overwrite && skipExisting { throw ValidationError("Use either --overwrite or --skip-existing, not both.") }
        let template = try self.template
        if template.isIdentity && outputDirectory == nil {
            throw ValidationError("--name \(template.template) would write each output over its input; "
                + "add to the name (for example %f-sharp.%e) or pass --output-dir.")
        }
        _ = try region
        if let output {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("-o \(output) is a folder; use --output-dir \(output) to write into it.")
            }
            if FileManager.default.fileExists(atPath: inputs[0], isDirectory: &isDirectory), isDirectory.boolValue {
                throw ValidationError("-o \(output) names one file, but \(inputs[0]) is a folder; use --output-dir.")
            }
        }
        // The output is written in the input's format whatever its name says;
        // a JPEG named out.png would mislead every program that opens it.
        if let output, !preview, previewRegion == nil, let wanted = Self.format(ofName: output),
           let have = Self.format(ofName: inputs[0]), wanted != have {
            throw ValidationError("-o \(output) names a \(wanted.name) file, but \(inputs[0]) is \(have.name) and the output "
                + "keeps the input's format; name it with .\(have.usualExtension)")
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

    var previewing: Bool { preview || previewRegion != nil }

    func run() throws {
        OpenMPEnvironment.reexecWithPassiveWaitIfUnset()
        guard let overlapped = BatchOverlap.enabled() else {
            FileHandle.standardError.write(Data(BatchOverlap.refusal().utf8))
            throw ExitCode(64)
        }
        var planner = BatchPlanner(recursive: recursive, template: try template, explicitOutput: output,
                                   outputDirectory: outputDirectory, preview: previewing, overwrite: overwrite,
                                   skipExisting: skipExisting)
        // Two inputs onto one output is a usage error (64), found once the folders are read.
        let items = try planner.plan(inputs)
        let console = Console(quiet: quiet, json: json)
        for note in planner.notes { console.note("mtrnnctl: \(note)") }
        let todo = items.filter { $0.plan == .process }
        var tally = Tally()

        // Skips and failures known before any work are reported first, in order.
        for item in items {
            switch item.plan {
            case .process: continue
            case .skip(let status, let why):
                tally.skipped += 1
                console.record(BatchRecord(input: item.input, output: nil, status: status, message: why),
                               line: "\(item.input): skipped: \(why)")
            case .fail(let why):
                tally.failed += 1
                console.error("mtrnnctl: \(why)")
                console.record(BatchRecord(input: item.input, output: item.output, status: .failed, message: why), line: nil)
            }
        }
        if dryRun {
            let what = previewing ? "preview of \(try region.description)" : "deblur"
            for item in todo {
                console.record(BatchRecord(input: item.input, output: item.output,
                                           status: previewing ? .wouldPreview : .wouldDeblur),
                               line: "\(item.input) -> \(item.output ?? "?") (would \(what))")
            }
            tally.done = todo.count
            try finish(tally, total: items.count, console: console, dryRun: true)
            return
        }
        if todo.isEmpty {
            try finish(tally, total: items.count, console: console, dryRun: false)
            return
        }

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
        console.startBatch(todo.map(\.input))
        let delivery = PhotoDelivery(outputDirectory: outputDirectory, overwrite: overwrite,
                                     options: pipeline.options, console: console)
        if overlapped, !previewing, todo.count > 1 {
            let done = BatchOverlap.run(todo, pipeline: pipeline, delivery: delivery, console: console)
            (tally.done, tally.sharp, tally.failed) = (done.done, done.sharp, tally.failed + done.failed)
            try finish(tally, total: items.count, console: console, dryRun: false)
            return
        }
        for (index, item) in todo.enumerated() {
            let (input, output) = (item.input, item.output!)
            console.startPhoto(index)
            let clock = ContinuousClock(), start = clock.now
            do {
                if previewing {
                    try runPreview(pipeline, input: input, output: output, console: console, delivery: delivery)
                    tally.done += 1
                } else if try runDeblur(pipeline, input: input, output: output, console: console, delivery: delivery) {
                    tally.done += 1
                } else {
                    tally.sharp += 1
                }
            } catch {
                delivery.fail(item, error, seconds: (clock.now - start).inSeconds)
                tally.failed += 1
            }
            console.finishPhoto()
        }
        try finish(tally, total: items.count, console: console, dryRun: false)
    }

    /// Counts of a batch, for the last line and the exit status.
    struct Tally { var done = 0, sharp = 0, skipped = 0, failed = 0 }

    func finish(_ tally: Tally, total: Int, console: Console, dryRun: Bool) throws {
        if total == 0 { console.note("mtrnnctl: no photos to deblur") }
        if total > 1 {
            console.line(dryRun
                ? "\(tally.done) would be \(previewing ? "previewed" : "deblurred"), \(tally.skipped) skipped, \(tally.failed) failed"
                : "\(tally.done) \(previewing ? "previewed" : "deblurred"), \(tally.sharp) sharp already (left alone), "
                    + "\(tally.failed) failed" + (tally.skipped > 0 ? ", \(tally.skipped) skipped" : ""))
        }
        if tally.failed > 0 {
            if total > 1 { console.error("mtrnnctl: \(tally.failed) of \(total) photos \(dryRun ? "would fail" : "failed")") }
            throw ExitCode(1)
        }
    }

    /// Deblurs one photo into `destination`; false when it was left alone as sharp.
    func runDeblur(_ pipeline: DeblurPipeline, input: String, output: String, console: Console,
                   delivery: PhotoDelivery) throws -> Bool {
        let name = (input as NSString).lastPathComponent
        let photo = try pipeline.deblur(input: URL(fileURLWithPath: input), progress: { console.show(name, $0) })
        return try delivery.deliver(photo, input: input, output: output)
    }

    /// Deblurs the preview region of one photo and writes it beside the original region.
    func runPreview(_ pipeline: DeblurPipeline, input: String, output: String, console: Console,
                    delivery: PhotoDelivery) throws {
        let source = URL(fileURLWithPath: input), destination = URL(fileURLWithPath: output)
        let size: (width: Int, height: Int)
        do {
            let probe = try PhotoIO.probe(contentsOf: source)
            size = (probe.width, probe.height)
        } catch {
            throw DeblurError.read(source, underlying: "\(error)")
        }
        let wanted = try region
        guard let rect = wanted.resolved(photoWidth: size.width, photoHeight: size.height) else {
            throw DeblurError.read(source, underlying: "--preview-region \(wanted.description) starts outside the "
                + "\(size.width)x\(size.height) photo")
        }
        let name = source.lastPathComponent
        let result = try pipeline.preview(input: source, region: rect, progress: { console.show(name, $0) })
        let bytes: [UInt8]
        do { bytes = try PhotoIO.encode(PreviewImage.sideBySide(result)) } catch {
            throw DeblurError.write(destination, underlying: "encoding the preview failed: \(error)")
        }
        try delivery.write(bytes, to: destination)
        let report = result.report
        var extra = ""
        if result.wouldBeLeftAlone {
            extra += String(format: "; the photo is sharp already (sharpness %.2f): a full run leaves it alone "
                            + "unless --sharp-photos process", report.sharpness ?? .nan)
        }
        console.record(BatchRecord(input: input, output: output, status: .previewed, seconds: report.seconds,
                                   message: result.wouldBeLeftAlone ? String(extra.dropFirst(2)) : nil),
                       line: "\(input) -> \(output): preview of \(result.region) (before left, "
                        + "after right), \(report.tiles) tiles, " + String(format: "%.1f s", report.seconds)
                        + (report.scaleUsed > 1 ? ", at 1/\(report.scaleUsed) scale" : "") + extra)
    }

    /// The format a file name's extension claims; nil for names that claim none of ours.
    static func format(ofName name: String) -> ImageFormat? {
        ImageFormat(fileExtension: (name as NSString).pathExtension)
    }
}

/// Output lines on stdout, errors on stderr, and a progress bar on stderr
/// when it is a terminal (plain lines only otherwise, for logs and pipes).
/// --json: one object per photo on stdout instead of the lines; --quiet:
/// errors only (JSON is still written).
final class Console: @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let quiet: Bool
    private let json: Bool
    private var barShown = false
    private var lastDraw: UInt64 = 0
    // The batch: "photo N/M" and its time left (with several photos).
    private var batchStart: UInt64 = 0
    private var index = 0, count = 0
    /// Each photo's share of the batch (its pixels from the header; the mean where unknown).
    private var weights: [Int] = []
    private var weightDone = 0

    init(quiet: Bool, json: Bool) {
        self.quiet = quiet
        self.json = json
    }

    private var showsProgress: Bool { isTerminal && !quiet }

    /// The photos to be done, in order; their sizes are read from the headers
    /// only where a bar will show them.
    func startBatch(_ inputs: [String]) {
        count = inputs.count
        batchStart = DispatchTime.now().uptimeNanoseconds
        guard showsProgress, count > 1 else { return }
        let pixels = inputs.map { input -> Int? in
            (try? PhotoIO.probe(contentsOf: URL(fileURLWithPath: input))).map { max(1, $0.width * $0.height / 1000) }
        }
        let known = pixels.compactMap { $0 }
        let mean = known.isEmpty ? 1 : known.reduce(0, +) / known.count
        weights = pixels.map { $0 ?? mean }
    }

    func startPhoto(_ index: Int) { lock.lock(); self.index = index; lock.unlock() }

    func finishPhoto() {
        lock.lock(); defer { lock.unlock() }
        if index < weights.count { weightDone += weights[index] }
    }

    func show(_ name: String, _ p: DeblurProgress) {
        guard showsProgress else { return }
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
        if count > 1 {
            text = "photo \(index + 1)/\(count) " + text
            // The batch's time left: the photos' share done so far (this
            // one's by its own fraction), extrapolated as the tiles are.
            if index < weights.count {
                let done = weightDone + Int(p.fractionDone * Double(weights[index]))
                let batch = TileProgress(tilesDone: done, tilesTotal: weights.reduce(0, +),
                                         elapsed: Double(now - batchStart) / 1e9)
                if let left = batch.estimatedRemaining { text += "; batch \(StatusReport.duration(left)) left" }
            }
        }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        barShown = true
    }

    func clearBar() {
        lock.lock(); defer { lock.unlock() }
        clearBarLocked()
    }

    private func clearBarLocked() {
        if barShown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        barShown = false
    }

    /// What became of one photo: its JSON object, or its line for people (none for errors, said on stderr).
    func record(_ record: BatchRecord, line text: String?) {
        if json { write(record.line + "\n", to: .standardOutput) } else if let text { line(text) }
    }

    /// A line for people on stdout (not with --json or --quiet).
    func line(_ text: String) { if !json && !quiet { write(text + "\n", to: .standardOutput) } }
    /// A remark on stderr (not with --quiet).
    func note(_ text: String) { if !quiet { write(text + "\n", to: .standardError) } }
    func error(_ text: String) { write(text + "\n", to: .standardError) }

    /// A whole line, the bar cleared first (it is redrawn by the next
    /// progress): lines may come from the encoder thread of an overlapped
    /// batch while the network's progress draws the bar.
    private func write(_ text: String, to handle: FileHandle) {
        lock.lock(); defer { lock.unlock() }
        clearBarLocked()
        handle.write(Data(text.utf8))
    }
}
