import Deblur
import Foundation
@preconcurrency import Glibc

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
    /// Two photos in flight (the deblur pipeline only): the next one is
    /// copied, decoded and scored, and the last one encoded and written,
    /// while one is in the network. `no`: one photo at a time (less memory).
    public var overlapPhotos = true
    /// Which names of the inbox are taken (`include`, `exclude`); the rest stay untouched.
    public var inputFilter = InboxFilter()
    /// How each photo is deblurred: the settings `mtrnnctl deblur` takes
    /// too, with their defaults, ranges and parsing in `DeblurOptions`.
    /// A reload that changes them loads the model again.
    public var pipeline = DeblurOptions(weights: URL(fileURLWithPath: WatchConfig.defaultWeights))
    /// The shipped weights as the checkout has them; where they are missing
    /// the daemon looks for the installed ones (`WeightsLocator`).
    public static let defaultWeights = "./Models/mtrnn.safetensors"

    /// A group whose members may pause, resume, retry and rescan through the
    /// control socket; empty: the service's own group (the uploaders).
    public var operatorGroup = ""
    /// Logging and monitoring (`log_level`, `metrics_file`, `metrics_interval`;
    /// their keys are `monitoringKeys`, in Metrics.swift).
    public var logLevel = "info"
    public var metricsFile = ""
    public var metricsInterval = 15.0
    /// The shared queue (`queue`, `role`, ...): ClusterSettings.swift.
    public var cluster = ClusterSettings()
    /// Where each key was set, for messages about keys that do not fit together.
    public var origins = Origins()

    public init() {}

    /// One `key = value` setting of the file, with how to write and check it.
    struct Key: Sendable {
        let name: String
        let show: @Sendable (WatchConfig) -> String
        let apply: @Sendable (inout WatchConfig, String) throws(ConfigError) -> Void
    }

    static let keys: [Key] = [
        Key(name: "inbox", show: { $0.inbox }) { c, v throws(ConfigError) in c.inbox = try path(v) },
        Key(name: "outbox", show: { $0.outbox }) { c, v throws(ConfigError) in c.outbox = try path(v) },
        Key(name: "archive", show: { $0.archive }) { c, v throws(ConfigError) in c.archive = try path(v) },
        Key(name: "failed", show: { $0.failed }) { c, v throws(ConfigError) in c.failed = try path(v) },
        Key(name: "state_dir", show: { $0.stateDirectory }) { c, v throws(ConfigError) in c.stateDirectory = try path(v) },
        Key(name: "runtime_dir", show: { $0.runtimeDirectory }) { c, v throws(ConfigError) in c.runtimeDirectory = try path(v) },
        Key(name: "recursive", show: { $0.recursive ? "yes" : "no" }) { c, v throws(ConfigError) in c.recursive = try bool(v) },
        Key(name: "include", show: { $0.inputFilter.include.joined(separator: ", ") }) { c, v throws(ConfigError) in
            c.inputFilter.include = try patterns(v, empty: false)
        },
        Key(name: "exclude", show: { $0.inputFilter.exclude.joined(separator: ", ") }) { c, v throws(ConfigError) in
            c.inputFilter.exclude = try patterns(v, empty: true)
        },
        Key(name: "settle_seconds", show: { show($0.settleSeconds) }) { c, v throws(ConfigError) in c.settleSeconds = try number(v, 0...3600) },
        Key(name: "poll_seconds", show: { show($0.pollSeconds) }) { c, v throws(ConfigError) in c.pollSeconds = try number(v, 0...3600) },
        Key(name: "originals", show: { $0.originals.rawValue }) { c, v throws(ConfigError) in
            guard let p = OriginalsPolicy(rawValue: v) else { throw .value("one of archive, keep, delete") }
            c.originals = p
        },
        Key(name: "overlap_photos", show: { $0.overlapPhotos ? "yes" : "no" }) { c, v throws(ConfigError) in c.overlapPhotos = try bool(v) },
        Key(name: "operator_group", show: { $0.operatorGroup }) { c, v throws(ConfigError) in
            guard v.isEmpty || isGroupName(v) else { throw .value("a group name (letters, digits, _ . -), or nothing for the service's group") }
            c.operatorGroup = v
        },
    ] + ClusterSettings.keys + DeblurOptions.settings.map { setting in
        Key(name: setting.key, show: { setting.show($0.pipeline) }) { c, v throws(ConfigError) in
            do { try c.pipeline.set(setting.key, v) } catch { throw .value(setting.expected) }
        }
    } + monitoringKeys

    /// Parses the text of a configuration file over the built-in defaults.
    /// `source` names the file in messages. Lines end in LF, CRLF or CR; a
    /// UTF-8 byte order mark is skipped. Each key is checked on its own here;
    /// whether the keys fit together is `validate()`'s job, once the command
    /// line has had its say.
    public static func parse(_ text: String, source: String) throws(ConfigError) -> WatchConfig {
        var config = WatchConfig()
        var seen = Set<String>()
        var text = Substring(text)
        if text.first == "\u{FEFF}" { text = text.dropFirst() }
        // "\r\n" is one Character in Swift: splitting on "\n" alone would
        // leave a CRLF file as a single line.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
        for (index, raw) in lines.enumerated() {
            let lineNumber = index + 1
            func fail(_ problem: String) -> ConfigError { ConfigError(file: source, line: lineNumber, problem: problem) }
            let setting: (key: String, value: String)?
            do { setting = try split(raw) } catch { throw fail(error.problem) }
            guard let (key, value) = setting else { continue }
            guard let k = keys.first(where: { $0.name == key }) else {
                throw fail("unknown key `\(key)` (known: \(keys.map(\.name).joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else {
                throw fail("`\(key)` is set twice (first at line \(config.origins[key]?.line ?? 0))")
            }
            do { try k.apply(&config, value) } catch {
                throw fail("`\(key) = \(value)`: expected \(error.expected)")
            }
            config.origins.record(key, file: source, line: lineNumber)
        }
        return config
    }

    /// One line as key and value, or nil for a blank or comment line. `#`
    /// starts a comment except inside double quotes; a quoted value is taken
    /// as it is between the quotes (spaces and `#` included, no escapes).
    static func split(_ line: Substring) throws(ConfigError) -> (key: String, value: String)? {
        guard let eq = line.firstIndex(of: "=") else {
            let text = (line.firstIndex(of: "#").map { line[..<$0] } ?? line).trimmingCharacters(in: .whitespaces)
            if text.isEmpty { return nil }
            throw .value("expected `key = value`, found `\(text)`")
        }
        let keyPart = line[..<eq]
        if let hash = keyPart.firstIndex(of: "#") {
            // A comment line that happens to hold "=", or text before a comment.
            let text = keyPart[..<hash].trimmingCharacters(in: .whitespaces)
            if text.isEmpty { return nil }
            throw .value("expected `key = value`, found `\(text)`")
        }
        let key = keyPart.trimmingCharacters(in: .whitespaces)
        var rest = line[line.index(after: eq)...].drop(while: { $0 == " " || $0 == "\t" })
        let value: String
        if rest.first == "\"" {
            rest = rest.dropFirst()
            guard let close = rest.firstIndex(of: "\"") else {
                throw .value("`\(key)`: the value has an opening \" and no closing quote")
            }
            value = String(rest[..<close])
            let after = rest[rest.index(after: close)...].trimmingCharacters(in: .whitespaces)
            guard after.isEmpty || after.hasPrefix("#") else {
                throw .value("`\(key)`: only a comment may come after the closing quote, found `\(after)`")
            }
        } else {
            value = (rest.firstIndex(of: "#").map { rest[..<$0] } ?? rest).trimmingCharacters(in: .whitespaces)
        }
        return (key, value)
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
        origins.record(key, file: "command line", line: nil)
    }

    /// Every key as the file would set it, in the file's order: what
    /// `--check-config` prints. Parsing it gives this configuration back.
    public var rendered: String {
        Self.keys.map { k in
            let v = k.show(self)
            let plain = !v.isEmpty && !v.contains("#") && !v.hasPrefix("\"") && v.trimmingCharacters(in: .whitespaces) == v
            return "\(k.name) = \(plain ? v : "\"" + v + "\"")"
        }.joined(separator: "\n")
    }

    // MARK: keys that must fit together

    /// Checks what no single key can: the constraints between keys. The one
    /// check behind `--check-config`, start-up and reload, so that a
    /// configuration the check accepts also starts. The error names the file
    /// and line of the key set last of those that clash.
    public func validate() throws(ConfigError) {
        do { try pipeline.validate() } catch {
            switch error {
            case .overlapNotLessThanTile(let overlap, let tile):
                throw clash("tile", "overlap", "`overlap = \(overlap)` must be less than `tile` (\(tile)\(origins.describe("tile")))")
            case .precisionUnsupported(let reason):
                // What this machine cannot do is a configuration error too:
                // found here, not by the pipeline after the check said OK.
                throw clash("precision", nil, "`precision = bf16`: \(reason); set `precision = f32` (or `auto`)")
            case .value(let key, let value, let expected):
                throw clash(key, nil, "`\(key) = \(value)`: expected \(expected)")
            case .unknown(let key):
                throw clash(key, nil, "unknown key `\(key)`")
            }
        }
        if !operatorGroup.isEmpty, Self.groupID(operatorGroup) == nil {
            throw clash("operator_group", nil, "`operator_group = \(operatorGroup)`: there is no such group")
        }
        // The photo directories and the state directory may neither be nor
        // contain one another: results written into the inbox would come back
        // as new photos (and uploaders may write there), and the state
        // directory's work/ is emptied at every start.
        var separate: [(key: String, path: String)] = [("inbox", inbox), ("outbox", outbox)]
        if originals == .archive { separate.append(("archive", archive)) }
        separate += [("failed", failed), ("state_dir", stateDirectory)]
        let resolved = separate.map { ($0.key, $0.path, Self.resolve($0.path)) }
        for (i, a) in resolved.enumerated() {
            for b in resolved[(i + 1)...] {
                if a.2 == b.2 {
                    throw clash(a.0, b.0, "`\(a.0)` and `\(b.0)` are the same directory (\(a.2))")
                }
                if let (outer, inner) = Self.nesting(a, b) {
                    throw clash(a.0, b.0, "`\(inner.0) = \(inner.1)` is inside `\(outer.0) = \(outer.1)`; the directories must be separate")
                }
            }
        }
        // The control socket is not a photo: it must not appear in a photo directory.
        let runtime = Self.resolve(runtimeDirectory)
        for d in resolved where d.0 != "state_dir" && Self.isInside(runtime, d.2, orEqual: true) {
            throw clash(d.0, "runtime_dir", "`runtime_dir = \(runtimeDirectory)` is in `\(d.0) = \(d.1)`; the control socket must not be in a photo directory")
        }
    }

    /// The error for keys that do not fit together, at the one set last.
    private func clash(_ a: String, _ b: String?, _ problem: String) -> ConfigError {
        let last = [a, b].compactMap { $0 }.compactMap { origins[$0] }.max { $0.order < $1.order }
        return ConfigError(file: last?.file ?? "built-in defaults", line: last?.line, problem: problem)
    }

    private static func nesting(_ a: (String, String, String), _ b: (String, String, String))
        -> (outer: (String, String), inner: (String, String))? {
        if isInside(b.2, a.2, orEqual: false) { return ((a.0, a.1), (b.0, b.1)) }
        if isInside(a.2, b.2, orEqual: false) { return ((b.0, b.1), (a.0, a.1)) }
        return nil
    }

    static func isInside(_ path: String, _ directory: String, orEqual: Bool) -> Bool {
        if path == directory { return orEqual }
        return path.hasPrefix(directory == "/" ? "/" : directory + "/")
    }

    /// An absolute path without `.`, `..` or doubled slashes, with the
    /// symbolic links of its existing part followed: how the kernel will
    /// find it from the daemon's working directory.
    static func resolve(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var parts: [Substring] = []
        for c in absolute.split(separator: "/") where c != "." {
            if c == ".." { _ = parts.popLast() } else { parts.append(c) }
        }
        // realpath the longest existing prefix, keep the rest as written.
        var split = parts.count
        while split > 0 {
            let prefix = "/" + parts[..<split].joined(separator: "/")
            if let real = realpath(prefix, nil) {
                defer { free(real) }
                let rest = parts[split...].joined(separator: "/")
                let base = String(cString: real)
                return rest.isEmpty ? base : (base == "/" ? "/" : base + "/") + rest
            }
            split -= 1
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The group's id from the group database, or nil when there is none.
    public static func groupID(_ name: String) -> gid_t? {
        if let n = gid_t(name) { return n }
        var group = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The id of `operator_group`, or nil when it is empty (the service's group).
    public var operatorGroupID: gid_t? { operatorGroup.isEmpty ? nil : Self.groupID(operatorGroup) }

    static func isGroupName(_ v: String) -> Bool {
        guard let first = v.unicodeScalars.first, v.unicodeScalars.count <= 32, first != "-" else { return false }
        return v.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0) }
    }

    private static func show(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d) }

    private static func path(_ v: String) throws(ConfigError) -> String {
        guard !v.isEmpty, !v.contains("\0") else { throw .value("a path") }
        return v
    }

    /// A comma-separated list of fnmatch(3) patterns (`InboxFilter`).
    private static func patterns(_ v: String, empty: Bool) throws(ConfigError) -> [String] {
        let list = InboxFilter.patterns(v)
        guard empty || !list.isEmpty, !v.contains("\0") else {
            throw .value("comma-separated file name patterns (fnmatch: * ? [...]), at least one")
        }
        return list
    }

    private static func bool(_ v: String) throws(ConfigError) -> Bool {
        switch v.lowercased() {
        case "yes", "true", "on", "1": return true
        case "no", "false", "off", "0": return false
        default: throw .value("yes or no")
        }
    }

    private static func number(_ v: String, _ range: ClosedRange<Double>) throws(ConfigError) -> Double {
        guard let d = Double(v), range.contains(d) else {
            throw .value("a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return d
    }
}

/// Where each key of a configuration was set: a file and line, or the command
/// line. Not part of a configuration's equality: the same settings read from
/// differently laid out files are the same configuration.
public struct Origins: Sendable, Equatable {
    public struct Origin: Sendable {
        public var file: String
        public var line: Int?
        /// Later settings have larger numbers (the command line comes after the file).
        var order: Int
    }
    private var byKey: [String: Origin] = [:]
    private var next = 0

    public init() {}

    public subscript(key: String) -> Origin? { byKey[key] }

    mutating func record(_ key: String, file: String, line: Int?) {
        next += 1
        byKey[key] = Origin(file: file, line: line, order: next)
    }

    /// ", set at FILE:LINE" or ", the default", to follow a value in a message.
    func describe(_ key: String) -> String {
        guard let o = byKey[key] else { return ", the default" }
        return ", set at \(o.file)\(o.line.map { ":\($0)" } ?? "")"
    }

    public static func == (_: Origins, _: Origins) -> Bool { true }
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
