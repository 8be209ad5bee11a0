import ArgumentParser
import Deblur
import Foundation

/// mtrnnctl's spelling of the pipeline settings. What each setting accepts
/// and its default come from `DeblurOptions` (the daemon's configuration
/// reads the same); here are only the flag names and the advice in terms
/// of flags.
enum SettingFlags {
    /// The flag for each configuration key.
    static let flags: [String: String] = [
        "weights": "--weights", "iterations": "--iterations", "precision": "--precision", "tile": "--tile",
        "overlap": "--overlap", "jpeg_quality": "--quality", "max_megapixels": "--max-megapixels",
        "scale": "--scale", "stop_below": "--stop-below", "skip_flat": "--skip-flat",
        "sharp_photos": "--sharp-photos", "sharp_threshold": "--sharp-threshold", "strength": "--strength",
        "colour_profile": "--colour-profile",
    ]

    static let defaults = DeblurOptions(weights: .init(fileURLWithPath: "/"))

    /// "`what` (`expected`; default D)."
    static func help(_ key: String, _ what: String, valueName: String? = nil) -> ArgumentHelp {
        let setting = DeblurOptions.setting(key)!
        return ArgumentHelp("\(what) (\(setting.expected); default \(setting.show(defaults))).", valueName: valueName)
    }

    /// Sets each value given on the command line (nil: not given, the
    /// default stays); a value out of range is a usage error naming its flag.
    static func apply(_ values: KeyValuePairs<String, String?>, to options: inout DeblurOptions) throws {
        for case let (key, value?) in values {
            do { try options.set(key, value) } catch {
                throw ValidationError(message(error))
            }
        }
        // What no single flag can be checked for; the CPU's bf16 is the pipeline's to find (exit 2).
        do { try options.validate(bf16UnsupportedReason: nil) } catch { throw ValidationError(message(error)) }
    }

    static func message(_ problem: SettingProblem) -> String {
        let flag = flags[problem.key] ?? problem.key
        switch problem {
        case .unknown: return "\(flag) is not a setting."
        case .value(_, let value, let expected): return "\(flag) must be \(expected), not \(value)."
        case .overlapNotLessThanTile(let overlap, let tile):
            return "--overlap must be less than --tile (\(tile)), not \(overlap)."
        case .precisionUnsupported(let reason): return "\(reason); use --precision f32 (or auto)"
        }
    }

    /// An error of the pipeline, with what to do in terms of flags.
    static func advice(_ error: any Error) -> String {
        switch error {
        case DeblurError.invalidOptions(let problem): return message(problem)
        case DeblurError.weights: return "\(error); pass --weights FILE or set MTRNN_WEIGHTS"
        case DeblurError.outputExists: return "\(error); remove it, or pass --overwrite"
        default: return "\(error)"
        }
    }
}
