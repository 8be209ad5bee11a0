import Deblur
import DurableFiles
import Foundation
import Synchronization

/// A batch with the stages of neighbouring photos overlapped (issue 21):
/// while photo N goes through the network, one thread encodes and durably
/// writes photo N-1, and then another decodes and scores photo N+1. Each
/// stage hands on to the next through a slot of depth 1, so at most three
/// photos are held at once: N+1 decoded (its samples; its float planes only
/// where a colour conversion made them), N in the network, N-1 being
/// encoded (its result quantised into its samples before the handoff); and
/// N-1 is written before N+1 is decoded, so only one of them is at its
/// largest at a time. A photo left alone as sharp (or unreadable)
/// has no network to hide behind: the photo after it is decoded at once,
/// beside the write of the one before.
///
/// The photos go through the same three stages of `DeblurPipeline` as the
/// one-at-a-time path (`deblur` calls them in a row), so the outputs are the
/// same bytes; and every photo's line, JSON object or error is written by
/// the encoder thread in the batch's order, after the one before it.
/// `MTRNN_BATCH_OVERLAP=0` runs one photo at a time, as before.
enum BatchOverlap {
    static let environmentVariable = "MTRNN_BATCH_OVERLAP"

    /// Whether a batch overlaps its photos' stages: `MTRNN_BATCH_OVERLAP`
    /// unset or 1, yes; 0, no; anything else is refused (nil).
    static func enabled(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool? {
        switch environment[environmentVariable] {
        case nil, "1": return true
        case "0": return false
        default: return nil
        }
    }

    /// The line for standard error when the variable is neither 0 nor 1.
    static func refusal(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let value = environment[environmentVariable] ?? ""
        return "mtrnnctl: \(environmentVariable)=\(value) is not understood: set it to 1 (the default: a batch "
            + "decodes the next photo and writes the last one while the network runs) or 0 (one photo at a time)\n"
    }

    /// Deblurs `todo` (at least two photos) with the stages overlapped;
    /// returns the counts. Errors are each photo's own: reported, and the
    /// batch goes on.
    static func run(_ todo: [BatchItem], pipeline: DeblurPipeline, delivery: PhotoDelivery,
                    console: Console) -> DeblurCommand.Tally {
        let tally = SharedTally()
        // The encoder of photo N-1, and of the one before it.
        var writing: Handoff<Void>?, wrote: Handoff<Void>?
        func prepare(_ index: Int, after: Handoff<Void>?) -> Handoff<PreparedPhoto>? {
            guard index < todo.count else { return nil }
            let input = URL(fileURLWithPath: todo[index].input)
            return Handoff(name: "mtrnnctl decode", after: after) { try pipeline.prepare(input: input) }
        }
        var next = prepare(0, after: nil)
        for (index, item) in todo.enumerated() {
            let decoding = next!
            let decodeSeconds = decoding.wait()
            // Light: left alone as sharp, or unreadable; it holds its file's
            // bytes at most and has no network or encode of its own.
            let light = decoding.peek { $0.finished != nil } ?? true
            // Photo N+1 is decoded beside N's network. Behind a photo that
            // goes through the network it waits for N-1's encode and write:
            // the two side stages take turns, so their memory peaks (the
            // decoded photo and its float planes, about 18 bytes a pixel)
            // never add up beside the network's, and they do not take both
            // cores from it at once. Behind a light photo it starts at once.
            next = prepare(index + 1, after: light ? nil : writing)
            console.startPhoto(index)
            let name = (item.input as NSString).lastPathComponent
            let clock = ContinuousClock(), start = clock.now
            let networked: Slot<NetworkedPhoto>
            do {
                let photo = try decoding.take()
                // Quantised here, before the handoff: the encoder thread then
                // holds the result's samples, not its float planes, beside
                // the next photo's network.
                networked = Slot(.success(
                    try pipeline.runNetwork(consume photo, progress: { console.show(name, $0) }, quantising: true)))
            } catch {
                networked = Slot(.failure(error))
            }
            let before = decodeSeconds + (clock.now - start).inSeconds
            console.finishPhoto()
            // Photo N is encoded, written and reported after N-1 (the order of
            // the lines). Depth 1: a photo out of the network waits here until
            // N-1 is written; a light one is handed on at once, to take its
            // turn after N-1 on its own thread, but not beyond N-2's write.
            if light {
                wrote?.wait()
            } else {
                writing?.wait()
            }
            let previous = writing
            wrote = writing
            writing = Handoff(name: "mtrnnctl encode", after: light ? previous : nil) {
                let clock = ContinuousClock(), start = clock.now
                do {
                    let photo = try pipeline.encode(try networked.take())
                    if try delivery.deliver(photo, input: item.input, output: item.output!) {
                        tally.add(done: 1)
                    } else {
                        tally.add(sharp: 1)
                    }
                } catch {
                    delivery.fail(item, error, seconds: before + (clock.now - start).inSeconds)
                    tally.add(failed: 1)
                }
            }
        }
        writing?.wait()
        return tally.value
    }
}

/// Writes a photo's result and says what became of it: shared by the
/// one-at-a-time path and the encoder thread of an overlapped batch.
struct PhotoDelivery: Sendable {
    var outputDirectory: String?
    var overwrite: Bool
    var options: DeblurOptions
    var console: Console

    /// Writes `photo` to `output` (a photo left alone as sharp: its copy, or
    /// nothing) and reports it; false when it was left alone as sharp.
    func deliver(_ photo: DeblurredPhoto, input: String, output: String) throws -> Bool {
        var report = photo.report
        let destination = URL(fileURLWithPath: output)
        let clock = ContinuousClock()
        if report.leftAlone {
            // Sharp already: the photo itself is the output (copy), or nothing is written (skip).
            let copied = options.sharpPhotos == .copy
            if copied {
                let start = clock.now
                try write(photo.bytes, to: destination)
                report.stageSeconds.write = (clock.now - start).inSeconds
            }
            let why = "sharp already (sharpness " + String(format: "%.2f", report.sharpness ?? .nan)
                + (copied ? "), copied unchanged to \(output)" : "), nothing written")
                + "; --sharp-photos process deblurs it anyway"
            console.record(BatchRecord(input: input, output: copied ? output : nil,
                                       status: copied ? .copiedSharp : .leftSharp, seconds: report.seconds,
                                       message: why, stages: report.stageSeconds),
                           line: "\(input): \(why)")
            return false
        }
        let start = clock.now
        try write(photo.bytes, to: destination)
        report.stageSeconds.write = (clock.now - start).inSeconds
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
        console.record(BatchRecord(input: input, output: output, status: .deblurred,
                                   seconds: report.seconds, stages: report.stageSeconds),
                       line: "\(input) -> \(output): "
                        + String(format: "%.1f MP, %d tiles, %.1f s (%.2f s/MP)", report.megapixels,
                                 report.tiles, report.seconds, report.secondsPerMegapixel) + extra)
        return true
    }

    /// A photo that failed: its line on standard error and its JSON object.
    func fail(_ item: BatchItem, _ error: any Error, seconds: Double) {
        let message = SettingFlags.advice(error)
        console.error("mtrnnctl: \(message)")
        console.record(BatchRecord(input: item.input, output: item.output, status: .failed,
                                   seconds: seconds, message: message), line: nil)
    }

    /// Writes a result durably (DurableFiles: temporary file, fsync, rename,
    /// fsync of the folder); over an existing output only with --overwrite.
    /// Missing folders under --output-dir (a mirrored subfolder) are made.
    func write(_ bytes: [UInt8], to destination: URL) throws {
        do {
            if outputDirectory != nil { try FileOps.makeDirectory(destination.deletingLastPathComponent().path) }
            try FileOps.write(bytes, to: destination.path, replacing: overwrite)
        } catch {
            if error.errno == EEXIST && !overwrite { throw DeblurError.outputExists(destination) }
            throw DeblurError.write(destination, underlying: error.description)
        }
    }
}

/// The counts, added to from the encoder thread.
final class SharedTally: Sendable {
    private let counts = Mutex(DeblurCommand.Tally())
    func add(done: Int = 0, sharp: Int = 0, failed: Int = 0) {
        counts.withLock { $0.done += done; $0.sharp += sharp; $0.failed += failed }
    }
    var value: DeblurCommand.Tally { counts.withLock { $0 } }
}

/// A value or the error that stands for it, taken once: the taker holds the
/// only reference (a photo's float planes are then changed in place, not copied).
final class Slot<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Value, any Error>?

    init(_ result: Result<Value, any Error>? = nil) { self.result = result }

    func put(_ result: Result<Value, any Error>) { lock.withLock { self.result = result } }

    /// `body` of the value, if there is one (nil for an error), leaving it in the slot.
    func peek<T>(_ body: (Value) -> T) -> T? {
        lock.withLock {
            guard case .success(let value)? = result else { return nil }
            return body(value)
        }
    }

    func take() throws -> Value {
        let taken = lock.withLock {
            defer { result = nil }
            return result!
        }
        return try taken.get()
    }
}

/// One stage's work for one photo, on a thread of its own (not Dispatch's
/// pool, which the tiles' `concurrentPerform` needs), started once `after`
/// has ended: waited for (by anyone, any number of times), then its value or
/// error taken once.
final class Handoff<Value: Sendable>: @unchecked Sendable {
    private let finished = DispatchGroup()
    private let slot = Slot<Value>()
    // Written by the thread before `finished` is left, read after the wait.
    private var seconds = 0.0

    init(name: String, after: Handoff<Void>?, _ work: @escaping @Sendable () throws -> Value) {
        finished.enter()
        let thread = Thread { [self] in
            after?.wait()
            let clock = ContinuousClock(), start = clock.now
            slot.put(Result { try work() })
            seconds = (clock.now - start).inSeconds
            finished.leave()
        }
        thread.name = name
        // As the main thread's: the codecs run on it.
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Waits for the work to end; the seconds it took (not counting the wait for `after`).
    @discardableResult
    func wait() -> Double {
        finished.wait()
        return seconds
    }

    /// The value (after `wait`), which leaves the handoff; or the work's error.
    func take() throws -> Value { try slot.take() }

    /// `body` of the value (after `wait`), which stays; nil for an error.
    func peek<T>(_ body: (Value) -> T) -> T? { slot.peek(body) }
}
