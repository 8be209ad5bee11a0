import Foundation
import Logging

/// The journal fields of a photo's record (`journalctl -o json`), named once:
/// scripts and users filter on them (MTRNN_FILE=..., MTRNN_OUTCOME=failed).
public enum JournalField {
    public static let file = "MTRNN_FILE"
    public static let outcome = "MTRNN_OUTCOME"
    public static let reason = "MTRNN_REASON"
    public static let seconds = "MTRNN_SECONDS"
    public static let megapixels = "MTRNN_MEGAPIXELS"
    public static let tiles = "MTRNN_TILES"
    /// On a sharp photo's record (MTRNN_OUTCOME=sharp): its sharpness score.
    public static let sharpness = "MTRNN_SHARPNESS"
    /// On the watcher's record of folders inotify cannot watch: how many.
    public static let unwatched = "MTRNN_UNWATCHED"
}

/// One photo's record as the journal gets it: level, message and fields.
struct JournalRecord {
    var level: Logger.Level
    var message: String
    var fields: Logger.Metadata

    init(_ level: Logger.Level, _ message: String, file: String, outcome: String, reason: String? = nil) {
        self.level = level
        self.message = message
        fields = [JournalField.file: "\(file)", JournalField.outcome: "\(outcome)"]
        if let reason { fields[JournalField.reason] = "\(reason)" }
    }

    func log(to logger: Logger) { logger.log(level: level, "\(message)", metadata: fields) }

    /// How `outcome` of `file` reads in the journal. `retryDelay`: when an
    /// abandoned photo is tried again (nil: not by itself); `settleSeconds`:
    /// how long a changed photo waits.
    static func of(_ file: String, _ outcome: JobOutcome, retryDelay: Int?, settleSeconds: Double) -> JournalRecord {
        switch outcome {
        case .done(let r) where r.leftAloneAsSharp != nil, .leftAlone(let r?):
            let score = String(format: "%.2f", r.leftAloneAsSharp ?? .nan)
            let copied: String
            if case .done = outcome { copied = "copied unchanged to the outbox" + (r.outputName.map { " as \($0)" } ?? "") }
            else { copied = "left in the inbox (sharp_photos = skip)" }
            var record = JournalRecord(.info, "\(file) is sharp already (sharpness \(score)): \(copied)", file: file, outcome: "sharp")
            record.fields[JournalField.sharpness] = "\(score)"
            return record
        case .leftAlone(nil):
            return JournalRecord(.info, "\(file) was left alone as sharp by an earlier turn and has not changed", file: file, outcome: "sharp")
        case .done(let r):
            let seconds = String(format: "%.1f", r.seconds), megapixels = String(format: "%.1f", r.megapixels)
            var record = JournalRecord(.info, "Deblurred \(file)\(r.outputName.map { " (result: \($0), an earlier result has its name)" } ?? "") in \(seconds) s (\(megapixels) MP, \(r.tiles) tiles\(r.detail.map { "; " + $0 } ?? ""))",
                                       file: file, outcome: "done")
            record.fields[JournalField.seconds] = "\(String(format: "%.3f", r.seconds))"
            record.fields[JournalField.megapixels] = "\(String(format: "%.3f", r.megapixels))"
            record.fields[JournalField.tiles] = "\(r.tiles)"
            return record
        case .alreadyDone:
            return JournalRecord(.info, "\(file) was already deblurred by an earlier run; finished filing the original", file: file, outcome: "done")
        case .failed(let reason, let movedTo):
            return JournalRecord(.error, "Cannot deblur \(file): \(reason)\(movedTo.map { "; moved to \($0)" } ?? "")",
                                 file: file, outcome: "failed", reason: reason)
        case .vanished:
            return JournalRecord(.info, "\(file) disappeared from the inbox before its turn", file: file, outcome: "vanished")
        case .replaced:
            return JournalRecord(.notice, "\(file) was replaced while it was processed; the new version will be processed too",
                                 file: file, outcome: "replaced")
        case .unsettled:
            return JournalRecord(.info, "\(file) changed after it settled (still being written?); it waits until it has not changed for \(settleSeconds) s",
                                 file: file, outcome: "deferred")
        case .abandoned(let reason):
            return JournalRecord(.warning, "Left \(file) where it is: \(reason)\(retryDelay.map { "; trying again in \($0) s" } ?? "")",
                                 file: file, outcome: "abandoned", reason: reason)
        case .noSpace(let reason):
            return JournalRecord(.error, "Paused: no space left for \(file) (\(reason)). The photo stays in the inbox; processing resumes by itself once 256 MiB are free (or run `mtrnnctl resume`)",
                                 file: file, outcome: "deferred", reason: reason)
        }
    }

    /// A photo whose name is not UTF-8, filed in failed/ by its bytes.
    static func undecodable(_ shownName: String, movedTo: String) -> JournalRecord {
        JournalRecord(.error, "Cannot deblur \(shownName): \(UndecodableNames.reason); moved to \(movedTo)",
                      file: shownName, outcome: "failed", reason: UndecodableNames.reason)
    }

    /// The last run died on `file`; it is tried once more.
    static func crashed(_ file: String) -> JournalRecord {
        JournalRecord(.warning, "The last run stopped unexpectedly while processing \(file); it is tried once more",
                      file: file, outcome: "crashed")
    }
}
