import Foundation
@preconcurrency import Glibc

/// Kill points for the crash harness (scripts/crash_harness.py --targeted):
/// with MTRNN_WATCH_TEST_KILL_AT=staged,encoded,recorded,renamed,archived the
/// daemon SIGKILLs itself at those steps of a job, each time with probability
/// MTRNN_WATCH_TEST_KILL_P (default 1), so that kills land exactly where a
/// random kill rarely does: between encoding and renaming, between recording
/// and renaming, between renaming and archiving. Unset (always, in service),
/// a point is one dictionary lookup.
enum TestFaults {
    private static let points: Set<String> = {
        let env = ProcessInfo.processInfo.environment
        return Set((env["MTRNN_WATCH_TEST_KILL_AT"] ?? "").split(separator: ",").map(String.init))
    }()
    private static let probability: Double = Double(ProcessInfo.processInfo.environment["MTRNN_WATCH_TEST_KILL_P"] ?? "") ?? 1

    static func point(_ name: String) {
        guard !points.isEmpty, points.contains(name), Double.random(in: 0..<1) < probability else { return }
        kill(getpid(), SIGKILL)
    }
}
