import Foundation
import Testing

/// Help works, and the manual page documents every option the binary has.
@Suite struct HelpAndManualTests {
    @Test("--help exits 0 and shows the usage", arguments: [
        [], ["deblur"], ["bench"],
    ])
    func help(_ subcommand: [String]) throws {
        let r = try CLI.run(subcommand + ["--help"])
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("USAGE: mtrnnctl " + subcommand.joined()), "\(r)")
    }

    @Test func topLevelHelpListsTheSubcommands() throws {
        let r = try CLI.run(["--help"])
        for name in ["status", "pause", "resume", "retry", "rescan", "deblur", "assess", "bench"] {
            #expect(r.stdout.contains("  \(name) "), "\(name) missing from\n\(r)")
        }
    }

    /// The help and the manual must not promise the same bit depth and
    /// colour type for every file: palette, 1/2/4-bit and keyed PNGs change.
    @Test func deblurHelpAndManualSayWhatChanges() throws {
        let help = try CLI.run(["deblur", "--help"])
        try #require(help.status == 0)
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for phrase in ["palette images come out as 8-bit RGB", "1/2/4-bit grey as 8-bit grey",
                       "transparency key (tRNS) as an alpha channel", "MPF"] {
            #expect(text.contains(phrase), "deblur --help does not say: \(phrase)")
        }
        #expect(!text.contains("its own format, bit depth and channels"))
        let man = Self.manual.replacingOccurrences(of: "\\-", with: "-").split(whereSeparator: \.isWhitespace)
            .joined(separator: " ")
        for phrase in ["palette images come out as 8-bit RGB", "4-bit grey as 8-bit grey", "as an alpha channel", "MPF"] {
            #expect(man.contains(phrase), "man/mtrnnctl.1 does not say: \(phrase)")
        }
    }

    static var manual: String {
        (try? String(contentsOfFile: CLI.packageRoot + "/man/mtrnnctl.1", encoding: .utf8)) ?? ""
    }

    @Test("man/mtrnnctl.1 names every option of the subcommand", arguments: ["deblur", "bench", "assess"])
    func manualHasEveryOption(_ subcommand: String) throws {
        let help = try CLI.run([subcommand, "--help"])
        try #require(help.status == 0)
        // Only the OPTIONS section: the prose above it mentions options too.
        let section = try #require(help.stdout.range(of: "OPTIONS:"), "no OPTIONS in\n\(help)")
        let options = Set(help.stdout[section.upperBound...].split(whereSeparator: { " ,=<>[]\n".contains($0) })
            .filter { $0.hasPrefix("--") && $0.count > 2 }.map(String.init))
        try #require(options.contains("--json") || options.contains("--overlap"), "help parsing found \(options)")
        let man = Self.manual
        #expect(man.contains(".B mtrnnctl \(subcommand)"), "no synopsis for \(subcommand)")
        for option in options.sorted() where option != "--help" {
            #expect(man.contains(option.replacingOccurrences(of: "-", with: "\\-")),
                    "man/mtrnnctl.1 does not mention \(option) of \(subcommand)")
        }
    }

    @Test("man/mtrnnctl.1 lists the deblur exit statuses", arguments: ["0", "1", "2", "3", "64"])
    func manualHasExitStatus(_ code: String) {
        #expect(Self.manual.contains(".B \(code)\n"))
    }

    @Test(.enabled(if: CLI.which("groff") != nil, "groff is not installed"))
    func manualRendersWithoutWarnings() throws {
        let groff = try #require(CLI.which("groff"))
        let r = try CLI.run(["-man", "-Tutf8", "-ww", CLI.packageRoot + "/man/mtrnnctl.1"], executable: groff)
        #expect(r.status == 0 && r.stderr.isEmpty, "\(r.stderr)")
    }
}
