import ArgumentParser
import Deblur
import Foundation
import Identity

/// `mtrnnctl`: control the mtrnn-watch daemon and run the engine by hand.
/// Each subcommand lives in its own file; this type only lists them.
@main
struct MtrnnCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtrnnctl",
        abstract: "Control mtrnn-watch and deblur photos with MT-RNN.",
        subcommands: [Status.self, Pause.self, Resume.self, Retry.self, Rescan.self, DeblurCommand.self, Assess.self, Bench.self]
    )

    @Flag(name: .long, help: "Print the version and the shipped weights' SHA-256, and exit.")
    var version = false

    func run() throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(Self.versionText())
    }

    /// The release and the weights `mtrnnctl deblur` uses when given none.
    static func versionText() -> String {
        let weights: Result<WeightsIdentity, any Error>? = WeightsLocator.locate().map { url in
            Result { try WeightsIdentity(hashing: url.path) }
        }
        return WeightsIdentity.versionText(program: "mtrnnctl", weights: weights)
    }
}
