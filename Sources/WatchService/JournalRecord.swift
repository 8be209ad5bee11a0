import Foundation
import Identity
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
    /// On a photo's record with a result: the result's path (the outbox's path, then its name there).
    public static let output = "MTRNN_OUTPUT"
    /// On the start-up record and every photo's record: the release (`MtrnnWatchVersion`)...
    public static let version = "MTRNN_VERSION"
    /// ... and the weights' SHA-256 (absent for the test processors).
    public static let weightsSHA256 = "MTRNN_WEIGHTS_SHA256"
    /// journald's own field: which kind of record this is (`MessageID`).
    public static let messageID = "MESSAGE_ID"
}

/// A fixed 128-bit id per kind of record (journald's MESSAGE_ID), so that
/// `journalctl MESSAGE_ID=...` finds every record of a kind whatever its
/// words. Listed in mtrnn-watch(8); never change one, only add.
public enum MessageID: String, CaseIterable, Sendable {
    case started = "cd8a54617d7b4713ab7bc9b7edd6bb26"
    case stopping = "c24a49faf5d14c0bbc368cad36e5ef7f"
    case stopped = "065a9ede3535447eac584d9bb9e9401a"
    case reloaded = "48c04e2eb1f14111861699824d09a4cf"
    case reloadFailed = "49f924afa7a5489cba9f439539e08061"
    case photoDone = "a5fd25908359478a8e2274c24f4eeef7"
    case photoFailed = "de47c2cfbccc496ca982d3fce2978fb2"
    /// Sharp already: copied unchanged or left in the inbox (MTRNN_OUTCOME=sharp).
    case photoSharp = "c735f674b70947bfa60a76e963dbaec3"
    /// Gone before its turn, or replaced while processed (vanished, replaced).
    case photoSkipped = "7b49dbf96afd498e98ebe6c755ce1fc2"
    /// Waits: changed after it settled, or the disk is full (deferred).
    case photoDeferred = "1cdc92320f934d71a5095ba8b02776d4"
    /// Left in place by a stop or a resource fault (abandoned).
    case photoAbandoned = "65660f38536e4f14a848f83ef814b845"
    /// The last run died on a photo (crashed).
    case photoCrashed = "d823a930f971412190ba61ddf6172e9a"
    case paused = "56dc3e88bba647058a04256c46995fe6"
    case resumed = "ad83f613daa8482781a48199a29db940"

    /// The value the journal gets: the id without dashes, lower case.
    public var field: Logger.MetadataValue { "\(rawValue)" }

    /// `outcome` (MTRNN_OUTCOME) to the kind of its record.
    static func of(outcome: String) -> MessageID {
        switch outcome {
        case "done": return .photoDone
        case "failed": return .photoFailed
        case "sharp": return .photoSharp
        case "deferred": return .photoDeferred
        case "abandoned": return .photoAbandoned
        case "crashed": return .photoCrashed
        default: return .photoSkipped
        }
    }
}

/// One photo's record as the journal gets it: level, message and fields.
struct JournalRecord {
    var level: Logger.Level
    var message: String
    var fields: Logger.Metadata

    init(_ level: Logger.Level, _ message: String, file: String, outcome: String, reason: String? = nil) {
        self.level = level
        self.message = message
        fields = [JournalField.file: "\(file)", JournalField.outcome: "\(outcome)",
                  JournalField.messageID: MessageID.of(outcome: outcome).field,
                  JournalField.version: "\(MtrnnWatchVersion.string)"]
        if let reason { fields[JournalField.reason] = "\(reason)" }
    }

    /// Names the weights the photo was processed with (nil: a test processor).
    mutating func identify(weights: WeightsIdentity?) {
        if let weights { fields[JournalField.weightsSHA256] = "\(weights.sha256)" }
    }

    func log(to logger: Logger) { logger.log(level: level, "\(message)", metadata: fields) }

    /// How `outcome` of `file` reads in the journal. `retryDelay`: when an
    /// abandoned photo is tried again (nil: not by itself); `settleSeconds`:
    /// how long a changed photo waits.
    /// `outbox`: where results go, for the record's MTRNN_OUTPUT (nil: none given).
    static func of(_ file: String, _ outcome: JobOutcome, retryDelay: Int?, settleSeconds: Double,
                   outbox: String? = nil) -> JournalRecord {
        var record = record(file, outcome, retryDelay: retryDelay, settleSeconds: settleSeconds)
        switch outcome {
        case .done(let r):
            if let outbox { record.fields[JournalField.output] = "\(outbox)/\(r.outputName ?? file)" }
        default: break
        }
        return record
    }

    private static func record(_ file: String, _ outcome: JobOutcome, retryDelay: Int?, settleSeconds: Double) -> JournalRecord {
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
    /// `besideAnother`: two photos were in flight (overlapping photos), so
    /// the crash is not counted against either; each is tried alone.
    static func crashed(_ file: String, besideAnother: Bool = false) -> JournalRecord {
        JournalRecord(.warning, "The last run stopped unexpectedly while processing \(file)"
                        + (besideAnother ? " and another photo; each is tried once more, alone" : "; it is tried once more"),
                      file: file, outcome: "crashed")
    }
}
