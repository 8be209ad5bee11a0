import ArgumentParser

/// `mtrnnctl`: control the mtrnn-watch daemon and run the engine by hand.
/// Each subcommand lives in its own file; this type only lists them.
@main
struct MtrnnCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtrnnctl",
        abstract: "Control mtrnn-watch and deblur photos with MT-RNN.",
        subcommands: [Status.self, Pause.self, Resume.self, Retry.self, Rescan.self, DeblurCommand.self, Assess.self, Bench.self]
    )
}
