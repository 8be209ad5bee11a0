import Foundation

/// Finds the shipped MT-RNN weights when the user names none.
///
/// Order: `$MTRNN_WEIGHTS`; an install's `<prefix>/share/mtrnn-watch/mtrnn.safetensors`
/// next to `<prefix>/bin/`; the repository's `Models/mtrnn.safetensors` when the
/// executable runs from a build folder inside the checkout (`.build/debug/...`).
public enum WeightsLocator {
    public static let fileName = "mtrnn.safetensors"
    public static let environmentVariable = "MTRNN_WEIGHTS"

    /// Every place looked at, in order, for the executable at `executable`.
    public static func candidates(executable: URL,
                                  environment: [String: String] = ProcessInfo.processInfo.environment) -> [URL] {
        var out: [URL] = []
        if let path = environment[environmentVariable], !path.isEmpty {
            out.append(URL(fileURLWithPath: path))
        }
        let bin = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        out.append(bin.deletingLastPathComponent()
            .appendingPathComponent("share/mtrnn-watch", isDirectory: true)
            .appendingPathComponent(fileName))
        // .build/<triple>/debug/mtrnnctl sits three folders below the checkout.
        var dir = bin
        for _ in 0..<5 {
            dir = dir.deletingLastPathComponent()
            out.append(dir.appendingPathComponent("Models", isDirectory: true).appendingPathComponent(fileName))
            if dir.path == "/" { break }
        }
        return out
    }

    /// The first candidate that exists. `$MTRNN_WEIGHTS`, when set, is taken as
    /// given (even if missing) so a wrong setting is reported, not silently
    /// replaced by another file.
    public static func locate(executable: URL = currentExecutable(),
                              environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        let all = candidates(executable: executable, environment: environment)
        if let path = environment[environmentVariable], !path.isEmpty { return all.first }
        return all.first { FileManager.default.isReadableFile(atPath: $0.path) }
    }

    public static func currentExecutable() -> URL {
        // /proc/self/exe is the real binary even when started through a symlink
        // or from $PATH, where argv[0] is only a name.
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    }
}
