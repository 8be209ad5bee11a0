import ArgumentParser
import Deblur
import DurableFiles
import Foundation
import PhotoIO

/// `--name`: how an output is named from its input, exiftool-style. `%f` is
/// the input's name without its extension, `%e` its extension, `%%` a
/// percent sign. The template must contain `%f` and end in `.%e`, so two
/// inputs never share an output name and every output keeps its input's
/// format; it names a file, not a folder (no `/`).
struct OutputNameTemplate {
    static let nextToInput = "%f-deblurred.%e"
    static let inOutputDirectory = "%f.%e"

    let template: String

    init(_ template: String) throws(ValidationError) {
        guard !template.contains("/") else {
            throw ValidationError("--name \(template) must name a file, not a folder (no '/'); "
                + "--output-dir chooses the folder")
        }
        var rest = Substring(template), sawF = false
        while let percent = rest.firstIndex(of: "%") {
            let code = rest.index(after: percent)
            guard code < rest.endIndex, "fe%".contains(rest[code]) else {
                throw ValidationError("--name \(template): only %f (the input's name without its extension), "
                    + "%e (its extension) and %% are understood")
            }
            if rest[code] == "f" { sawF = true }
            rest = rest[rest.index(after: code)...]
        }
        guard sawF else {
            throw ValidationError("--name \(template) has no %f: every input would get the same output name")
        }
        guard template.hasSuffix(".%e") else {
            throw ValidationError("--name \(template) must end in .%e: the output keeps the input's format")
        }
        self.template = template
        outputPattern = Self.pattern(of: template)
    }

    /// `%f.%e`: the input's own name (only meaningful in another folder).
    var isIdentity: Bool { template == Self.inOutputDirectory }

    /// The output's file name for an input named `name`. An input without an
    /// extension gets an output without one (the final `.%e` gives nothing).
    func outputName(for name: String) -> String {
        let ext = (name as NSString).pathExtension
        let stem = ext.isEmpty ? name : (name as NSString).deletingPathExtension
        var body = Substring(template)
        if ext.isEmpty { body = body.dropLast(3) }
        var out = ""
        var i = body.startIndex
        while i < body.endIndex {
            let c = body[i]
            let next = body.index(after: i)
            if c == "%", next < body.endIndex {
                switch body[next] {
                case "f": out += stem
                case "e": out += ext
                default: out += "%"
                }
                i = body.index(after: next)
            } else {
                out.append(c)
                i = next
            }
        }
        return out
    }

    /// Whether `name` could be an output of this template: `%f` any text,
    /// `%e` any extension. Always false for `%f.%e`, which every file fits.
    func looksLikeOutput(_ name: String) -> Bool {
        guard !isIdentity, let outputPattern else { return false }
        return outputPattern.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }

    /// The template as a regular expression, made once.
    private let outputPattern: NSRegularExpression?

    private static func pattern(of template: String) -> NSRegularExpression? {
        var pattern = "^"
        var literal = ""
        // The final .%e: any extension, or none (an input without one).
        var body = Substring(template).dropLast(3)
        func flush() { pattern += NSRegularExpression.escapedPattern(for: literal); literal = "" }
        while let c = body.first {
            body = body.dropFirst()
            if c == "%", let code = body.first {
                body = body.dropFirst()
                switch code {
                case "f": flush(); pattern += ".+"
                case "e": flush(); pattern += "[^./]*"
                default: literal += "%"
                }
            } else {
                literal.append(c)
            }
        }
        flush()
        pattern += "(\\.[^./]*)?$"
        return try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
    }
}

/// The preview's name: the output's, with `.preview.png` for its extension.
enum PreviewName {
    static let suffix = ".preview.png"
    static func path(forOutput output: String) -> String {
        let ext = (output as NSString).pathExtension
        return (ext.isEmpty ? output : (output as NSString).deletingPathExtension) + suffix
    }
    static func matches(_ name: String) -> Bool { name.lowercased().hasSuffix(suffix) }
}

/// One photo of a batch, as planned before any work.
struct BatchItem {
    enum Plan: Equatable {
        case process
        /// Not done, and no error: the reason is a line for people.
        case skip(BatchStatus, String)
        /// Cannot be done: the line for standard error (without "mtrnnctl: ").
        case fail(String)
    }

    /// The path as the user gave it or as found under a folder they named.
    var input: String
    /// Where the result goes (the preview, with --preview); nil when it has none.
    var output: String?
    var plan: Plan
}

/// What became of one photo, as `--json` reports it.
enum BatchStatus: String, Encodable {
    case deblurred, previewed
    case copiedSharp = "copied_sharp", leftSharp = "left_sharp"
    case skippedExisting = "skipped_existing", skippedOwnOutput = "skipped_own_output"
    case failed
    case wouldDeblur = "would_deblur", wouldPreview = "would_preview"
}

/// Turns the command line's inputs (photos and folders) into the batch:
/// which files, where each output goes, which are skipped and why.
struct BatchPlanner {
    var recursive: Bool
    var template: OutputNameTemplate
    /// `-o`: the one input's output (never skipped as an output of ours).
    var explicitOutput: String?
    var outputDirectory: String?
    var preview: Bool
    var overwrite: Bool
    var skipExisting: Bool

    /// Lines for people about the folders: what was not entered, what was empty.
    private(set) var notes: [String] = []

    /// The batch, in the order named (a folder's photos sorted by name).
    /// Two inputs that would be written to one output are a usage error.
    mutating func plan(_ inputs: [String]) throws(ValidationError) -> [BatchItem] {
        var items: [BatchItem] = []
        var seenInputs = Set<String>()
        var destinations: [String: String] = [:]
        let skipFolder = outputDirectory.map(Self.identity)
        for input in inputs {
            // A named link is followed, to a folder too: the user chose it.
            guard let st = Self.statFollowing(input) else {
                items.append(BatchItem(input: input, output: nil, plan: .fail("\(input): no such file or folder")))
                continue
            }
            if FileOps.isDirectory(st) {
                let before = items.count
                walk(folder: input, relative: "", into: &items, skipFolder: skipFolder)
                if items.count == before { notes.append("\(input): no JPEG, PNG or TIFF photos in it"
                                                        + (recursive ? "" : " (without -r its subfolders are not entered)")) }
            } else {
                items.append(item(for: input, relative: ""))
            }
        }
        // The same file named twice (a folder and a photo in it, a link) is done once.
        items = items.filter { item in
            guard case .process = item.plan else { return true }
            return seenInputs.insert(Self.identity(item.input)).inserted
        }
        for index in items.indices {
            guard case .process = items[index].plan, let output = items[index].output else { continue }
            let key = URL(fileURLWithPath: output).standardizedFileURL.path
            if let first = destinations[key] {
                throw ValidationError("\(first) and \(items[index].input) would both be written to \(key); "
                    + "deblur them in separate runs or into different folders.")
            }
            destinations[key] = items[index].input
            items[index].plan = checkOutput(input: items[index].input, output: output)
        }
        return items
    }

    /// A folder's photos: hidden files, `~` files, our temporary files and
    /// names without a photo extension are passed over; subfolders are
    /// entered with -r (not links to folders, nor the output folder).
    private mutating func walk(folder: String, relative: String, into items: inout [BatchItem], skipFolder: String?) {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        } catch {
            items.append(BatchItem(input: folder, output: nil,
                                   plan: .fail("\(folder): cannot read the folder (\(Self.reason(error)))")))
            return
        }
        var subfolders = 0
        for name in names where !name.hasPrefix(".") && !name.hasPrefix("~") && !TemporaryName.matches(name) {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let st = FileOps.lstatInfo(path) else { continue }
            if FileOps.isDirectory(st) {
                if recursive, Self.identity(path) != skipFolder {
                    walk(folder: path, relative: (relative as NSString).appendingPathComponent(name), into: &items,
                         skipFolder: skipFolder)
                } else if !recursive {
                    subfolders += 1
                }
                continue
            }
            // A link to a photo is taken; a link to a folder is not followed.
            guard ImageFormat(fileExtension: (name as NSString).pathExtension) != nil,
                  let target = Self.statFollowing(path), FileOps.isRegular(target) else { continue }
            items.append(item(for: path, relative: relative))
        }
        if subfolders > 0 {
            notes.append("\(folder): \(subfolders) subfolder\(subfolders == 1 ? "" : "s") not entered; pass -r to deblur "
                + "the photos in them too")
        }
    }

    /// One photo: its output, or why it is skipped.
    private func item(for input: String, relative: String) -> BatchItem {
        let name = (input as NSString).lastPathComponent
        let output = outputPath(for: input, relative: relative)
        if explicitOutput == nil {
            if PreviewName.matches(name) {
                return BatchItem(input: input, output: nil, plan: .skip(.skippedOwnOutput,
                    "a preview written by mtrnnctl deblur --preview; not deblurred"))
            }
            if template.looksLikeOutput(name) {
                return BatchItem(input: input, output: nil, plan: .skip(.skippedOwnOutput,
                    "named like an output of mtrnnctl deblur (\(template.template)), so not deblurred again; "
                    + "to deblur it anyway, give its output with -o or choose another --name"))
            }
        }
        return BatchItem(input: input, output: output, plan: .process)
    }

    /// Where `input` goes: -o; the output folder (mirroring `relative`, its
    /// place under the folder named on the command line); or next to it.
    func outputPath(for input: String, relative: String) -> String {
        var path: String
        if let explicitOutput {
            path = explicitOutput
        } else {
            let name = template.outputName(for: (input as NSString).lastPathComponent)
            let folder = outputDirectory.map { ($0 as NSString).appendingPathComponent(relative) }
                ?? (input as NSString).deletingLastPathComponent
            path = folder.isEmpty ? name : (folder as NSString).appendingPathComponent(name)
        }
        return preview ? PreviewName.path(forOutput: path) : path
    }

    /// Never the input; an existing output is replaced (--overwrite), passed
    /// over (--skip-existing) or an error.
    private func checkOutput(input: String, output: String) -> BatchItem.Plan {
        if FileOps.sameFile(URL(fileURLWithPath: input), URL(fileURLWithPath: output)) {
            return .fail("\(output): the output would replace the input; choose another output name or folder")
        }
        if FileOps.lstatInfo(output) != nil {
            if skipExisting { return .skip(.skippedExisting, "\(output) exists already (--skip-existing)") }
            if !overwrite { return .fail("\(output): the output already exists; remove it, pass --overwrite, "
                + "or --skip-existing to pass over photos done before") }
        }
        return .process
    }

    /// The file or folder a path names, links resolved: what "the same" means.
    static func identity(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    static func statFollowing(_ path: String) -> stat? {
        var st = stat()
        return stat(path, &st) == 0 ? st : nil
    }

    static func reason(_ error: any Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.localizedDescription
    }
}

/// One line of `--json`: what became of one photo.
struct BatchRecord: Encodable {
    var input: String
    var output: String?
    var status: BatchStatus
    var seconds: Double?
    /// Why it was skipped or failed, or what was left alone.
    var message: String?
    /// Where the time went (deblurred or left alone as sharp; nil otherwise).
    var stages: StageSeconds?

    init(input: String, output: String?, status: BatchStatus, seconds: Double? = nil, message: String? = nil,
         stages: StageSeconds? = nil) {
        (self.input, self.output, self.status, self.seconds, self.message) = (input, output, status, seconds, message)
        self.stages = stages
    }

    enum CodingKeys: String, CodingKey { case input, output, status, seconds, message, stages = "stage_seconds" }
    enum StageKeys: String, CodingKey { case decode, score, network, encode, write }

    static func rounded(_ seconds: Double?) -> Double? { seconds.map { ($0 * 1000).rounded() / 1000 } }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(input, forKey: .input)
        try c.encode(output, forKey: .output)
        try c.encode(status, forKey: .status)
        try c.encode(Self.rounded(seconds), forKey: .seconds)
        try c.encode(message, forKey: .message)
        if let stages {
            var s = c.nestedContainer(keyedBy: StageKeys.self, forKey: .stages)
            try s.encode(Self.rounded(stages.decode), forKey: .decode)
            try s.encode(Self.rounded(stages.score), forKey: .score)
            try s.encode(Self.rounded(stages.network), forKey: .network)
            try s.encode(Self.rounded(stages.encode), forKey: .encode)
            try s.encode(Self.rounded(stages.write), forKey: .write)
        } else {
            try c.encodeNil(forKey: .stages)
        }
    }

    var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
