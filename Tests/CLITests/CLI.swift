import Foundation
@preconcurrency import Glibc
import PhotoIO
import TestSupport
import Testing

/// What one run of the built `mtrnnctl` did.
struct CLIResult: CustomStringConvertible {
    var status: Int32
    var stdout: String
    var stderr: String

    var stderrLines: [Substring] { stderr.split(separator: "\n") }
    var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
}

/// Runs the built binaries as a user would: a child process, its output
/// captured, its exit status checked.
enum CLI {
    /// The package root, found from this file (Tests/CLITests/CLI.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// Small random weights with the real shapes: fast, and enough to check
    /// that the pipeline runs end to end (the numbers are tested elsewhere).
    static var fixtureWeights: String { packageRoot + "/Tests/MTRNNTests/Fixtures/weights.safetensors" }

    /// The built executables sit next to the test bundle in the products
    /// directory (as in WatchServiceTests); MTRNN_PRODUCTS_DIR overrides.
    static var productsDirectory: String {
        if let d = ProcessInfo.processInfo.environment["MTRNN_PRODUCTS_DIR"] { return d }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // On Linux the runner may live inside NAME.xctest/; step out of it.
        while !FileManager.default.fileExists(atPath: dir + "/mtrnnctl"), dir.count > 1 {
            dir = (dir as NSString).deletingLastPathComponent
        }
        return dir
    }

    static var mtrnnctl: String { productsDirectory + "/mtrnnctl" }

    /// Options that keep a deblur run to a fraction of a second on a 40x30 photo.
    static var fast: [String] {
        ["--weights", fixtureWeights, "--iterations", "1", "--tile", "32", "--overlap", "8"]
    }

    /// Runs `executable` (default: the built mtrnnctl) and waits at most
    /// `timeout` seconds, so a hang fails the test instead of the suite.
    static func run(_ arguments: [String], executable: String = mtrnnctl, in directory: String? = nil,
                    environment: [String: String?] = [:], timeout: Double = 60) throws -> CLIResult {
        // Tests run in parallel on a shared machine: spinning OpenMP threads
        // that wait for a core made a 2-tile photo take 2 s instead of 0.1 s.
        // No inherited weights setting: each test says which weights it means.
        var env: [String: String?] = ["OMP_WAIT_POLICY": "passive", "MTRNN_WEIGHTS": nil]
        for (k, v) in environment { env[k] = v }
        let r = runProcess([executable] + arguments, in: directory, environment: env, timeout: timeout)
        if r.timedOut {
            Issue.record("mtrnnctl \(arguments.joined(separator: " ")) ran over \(timeout) s and was killed")
        }
        return CLIResult(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// The full path of `tool` on $PATH, if it is installed.
    static func which(_ tool: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// True when the CPU has native bf16 (what the engine needs for --precision bf16).
    static var cpuHasBF16: Bool {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.contains("avx512_bf16") || info.contains("amx_bf16")
    }
}

/// A temporary folder, removed when the value goes away.
final class TempDir: @unchecked Sendable {
    let root: String

    init() throws {
        var template = Array("/tmp/mtrnnctl-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: p)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func path(_ name: String) -> String { root + "/" + name }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }

    func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: path(name)) }

    /// Every entry, hidden ones included (a leftover temporary file is a bug).
    func list(_ sub: String = "") -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: sub.isEmpty ? root : path(sub))) ?? []).sorted()
    }

    @discardableResult
    func write(_ name: String, _ data: Data) -> String {
        _ = FileManager.default.createFile(atPath: path(name), contents: data)
        return path(name)
    }

    /// Writes a small synthetic photo and returns its path.
    @discardableResult
    func photo(_ name: String, format: ImageFormat, channels: Int = 3, bitDepth: Int = 8,
               width: Int = 40, height: Int = 30) throws -> String {
        let bytes = try PhotoIO.encode(TestPhoto.make(format: format, channels: channels, bitDepth: bitDepth,
                                                      width: width, height: height))
        return write(name, Data(bytes))
    }
}

enum TestPhoto {
    /// Soft gradients with a few hard edges, so the network has something to do.
    static func make(format: ImageFormat, channels: Int, bitDepth: Int, width: Int, height: Int) -> Image {
        let maximum = bitDepth == 16 ? 65535.0 : 255.0
        var samples = [UInt16](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<channels {
                    let isAlpha = channels == 2 || channels == 4 ? c == channels - 1 : false
                    var v = isAlpha ? 0.5 + 0.5 * Double(x) / Double(width)
                                    : 0.5 + 0.3 * sin(Double(x) * 0.3 + Double(c)) * cos(Double(y) * 0.2)
                    if !isAlpha, (x / 8 + y / 8) % 2 == 0 { v *= 0.6 }
                    samples[(y * width + x) * channels + c] = UInt16((v * maximum).rounded())
                }
            }
        }
        return Image(width: width, height: height, channels: channels, bitDepth: bitDepth,
                     samples: samples, format: format)
    }
}
