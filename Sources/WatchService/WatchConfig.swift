import Foundation

/// What to do with an original once its deblurred version is in the outbox.
public enum OriginalsPolicy: String, Sendable, CaseIterable, Codable {
    case archive, keep, delete
}

/// Everything `mtrnn-watch.conf` can say. The built-in defaults are the local
/// ones (directories relative to the working directory), so the daemon runs
/// with no configuration file at all; the shipped file sets the system paths.
public struct WatchConfig: Sendable, Equatable {
    public var inbox = "./inbox"
    public var outbox = "./outbox"
    public var archive = "./archive"
    public var failed = "./failed"
    public var stateDirectory = "./state"
    public var runtimeDirectory = "./state"
    public var recursive = false
    /// Size and mtime must stay unchanged this long before a photo is taken.
    public var settleSeconds = 2.0
    /// 0: inotify. More than 0: scan the inbox this often (NFS/CIFS inboxes).
    public var pollSeconds = 0.0
    public var originals = OriginalsPolicy.archive
    // Pipeline settings: read here, used by the processor factory in mtrnn-watch.
    public var weights = "./Models/mtrnn.safetensors"
    public var iterations = 6
    public var precision = "auto"
    public var tile = 256
    public var overlap = 16  // TilePlan.defaultOverlap (WatchService does not link Deblur)
    public var jpegQuality = 95
    public var maxMegapixels = 100.0

    public init() {}

    /// One `key = value` setting of the file, with how to write and check it.
    struct Key: Sendable {
        let name: String
        let apply: @Sendable (inout WatchConfig, String) throws(ConfigError) -> Void
    }

    static let keys: [Key] = [
        Key(name: "inbox") { c, v throws(ConfigError) in c.inbox = try path(v) },
        Key(name: "outbox") { c, v throws(ConfigError) in c.outbox = try path(v) },
        Key(name: "archive") { c, v throws(ConfigError) in c.archive = try path(v) },
        Key(name: "failed") { c, v throws(ConfigError) in c.failed = try path(v) },
        Key(name: "state_dir") { c, v throws(ConfigError) in c.stateDirectory = try path(v) },
        Key(name: "runtime_dir") { c, v throws(ConfigError) in c.runtimeDirectory = try path(v) },
        Key(name: "recursive") { c, v throws(ConfigError) in c.recursive = try bool(v) },
        Key(name: "settle_seconds") { c, v throws(ConfigError) in c.settleSeconds = try number(v, 0...3600) },
        Key(name: "poll_seconds") { c, v throws(ConfigError) in c.pollSeconds = try number(v, 0...3600) },
        Key(name: "originals") { c, v throws(ConfigError) in
            guard let p = OriginalsPolicy(rawValue: v) else { throw .value("one of archive, keep, delete") }
            c.originals = p
        },
        Key(name: "weights") { c, v throws(ConfigError) in c.weights = try path(v) },
        Key(name: "iterations") { c, v throws(ConfigError) in c.iterations = Int(try number(v, 1...20, integer: true)) },
        Key(name: "precision") { c, v throws(ConfigError) in
            guard ["auto", "f32", "bf16"].contains(v) else { throw .value("one of auto, f32, bf16") }
            c.precision = v
        },
        Key(name: "tile") { c, v throws(ConfigError) in
            let t = Int(try number(v, 64...2048, integer: true))
            guard t % 4 == 0 else { throw .value("a multiple of 4 between 64 and 2048") }
            c.tile = t
        },
        Key(name: "overlap") { c, v throws(ConfigError) in c.overlap = Int(try number(v, 0...512, integer: true)) },
        Key(name: "jpeg_quality") { c, v throws(ConfigError) in c.jpegQuality = Int(try number(v, 1...100, integer: true)) },
        Key(name: "max_megapixels") { c, v throws(ConfigError) in c.maxMegapixels = try number(v, 0.01...10000) },
    ]

    /// Parses the text of a configuration file over the built-in defaults.
    /// `source` names the file in messages.
    public static func parse(_ text: String, source: String) throws(ConfigError) -> WatchConfig {
        var config = WatchConfig()
        var seen = Set<String>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var line = Substring(raw)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let eq = trimmed.firstIndex(of: "=") else {
                throw ConfigError(file: source, line: lineNumber, problem: "expected `key = value`, found `\(trimmed)`")
            }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            guard let k = keys.first(where: { $0.name == key }) else {
                throw ConfigError(file: source, line: lineNumber,
                                  problem: "unknown key `\(key)` (known: \(keys.map(\.name).joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else {
                throw ConfigError(file: source, line: lineNumber, problem: "`\(key)` is set twice")
            }
            do { try k.apply(&config, value) } catch {
                throw ConfigError(file: source, line: lineNumber,
                                  problem: "`\(key) = \(value)`: expected \(error.expected)")
            }
        }
        return config
    }

    public static func load(file: String) throws(ConfigError) -> WatchConfig {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw ConfigError(file: file, line: nil, problem: "cannot read it (\(error.localizedDescription))")
        }
        return try parse(text, source: file)
    }

    /// Applies one `key=value` override (from the command line).
    public mutating func set(_ key: String, _ value: String) throws(ConfigError) {
        guard let k = Self.keys.first(where: { $0.name == key }) else {
            throw ConfigError(file: "command line", line: nil, problem: "unknown key `\(key)`")
        }
        do { try k.apply(&self, value) } catch {
            throw ConfigError(file: "command line", line: nil, problem: "`\(key) = \(value)`: expected \(error.expected)")
        }
    }

    private static func path(_ v: String) throws(ConfigError) -> String {
        guard !v.isEmpty, !v.contains("\0") else { throw .value("a path") }
        return v
    }

    private static func bool(_ v: String) throws(ConfigError) -> Bool {
        switch v.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw .value("yes or no")
        }
    }

    private static func number(_ v: String, _ range: ClosedRange<Double>, integer: Bool = false) throws(ConfigError) -> Double {
        guard let d = Double(v), range.contains(d), !integer || d.rounded() == d else {
            let lo = integer ? String(Int(range.lowerBound)) : String(range.lowerBound)
            let hi = integer ? String(Int(range.upperBound)) : String(range.upperBound)
            throw .value("\(integer ? "an integer" : "a number") from \(lo) to \(hi)")
        }
        return d
    }
}

/// A configuration file (or override) the daemon cannot use, with where and why.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int?
    public var problem: String

    public init(file: String, line: Int?, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }
    /// Only for the key parsers: what the value should have been.
    var expected: String { problem }

    static func value(_ expected: String) -> ConfigError { ConfigError(file: "", line: nil, problem: expected) }

    public var description: String {
        if let line { return "\(file):\(line): \(problem)" }
        return "\(file): \(problem)"
    }
}
