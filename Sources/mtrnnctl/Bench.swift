import ArgumentParser
import Deblur
import Foundation
import MTRNN

/// `mtrnnctl bench`: times the engine on one square tile, the unit of work
/// the deblur pipeline runs, and reports the median and GFLOP/s counting the
/// network's real FLOPs (736,320 per pixel per iteration).
///
/// `--json` prints one JSON object per line, one line per precision timed:
/// {"engine","precision","tile","iterations","threads","repeats","median_seconds","min_seconds","gflops","cpu_isa",
/// "prepare_seconds","cpu_seconds","gflops_per_cpu_second"} (prepare: creating the primitives and reordering the weights for this tile size).
/// training/bench_torch.py prints the same shape with "engine": "pytorch".
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the MT-RNN engine on one tile (release builds only give meaningful figures).",
        discussion: """
        Uses seeded random weights unless --weights is given (timing does not depend on the values).
        --profile prints the seconds per layer. With --precision all, a precision the CPU
        cannot run is reported as skipped on stderr.
        """
    )

    @Option(help: SettingFlags.help("precision", "Arithmetic to time, or all", valueName: "auto|f32|bf16|all"))
    var precision: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("tile", "Tile side in pixels", valueName: "pixels"))
    var tile: String?

    @Option(parsing: .unconditional, help: SettingFlags.help("iterations", "Recurrent iterations per run", valueName: "n"))
    var iterations: String?

    @Option(parsing: .unconditional, help: "Timed runs; the median is reported.")
    var repeats: Int = 5

    @Option(parsing: .unconditional, help: "Untimed runs first.")
    var warmup: Int = 1

    @Option(parsing: .unconditional, help: "OpenMP threads per layer (0: oneDNN's default, all cores).")
    var threads: Int = 0

    @Option(help: "A .safetensors weights file (default: seeded random weights).")
    var weights: String?

    @Flag(help: "One JSON object per line per precision.")
    var json = false

    @Flag(help: "Print the time spent in each layer.")
    var profile = false

    /// The tile, iterations and precision as the pipeline would take them
    /// (`DeblurOptions` checks them); "all" is bench's own.
    var options: DeblurOptions {
        get throws {
            var options = DeblurOptions(weights: URL(fileURLWithPath: weights ?? "/"))
            try SettingFlags.apply(["tile": tile, "iterations": iterations,
                                    "precision": precision == "all" ? nil : precision], to: &options)
            return options
        }
    }

    /// The precisions to time: `auto` decided here, once.
    var precisions: [Precision] {
        get throws { precision == "all" ? Precision.allCases : [try options.precision.resolved()] }
    }

    func validate() throws {
        // One message per option, so the user sees which value is wrong.
        if precision != "all", let p = precision, PrecisionSetting(rawValue: p) == nil {
            throw ValidationError("--precision must be auto, f32, bf16 or all, not \(p).")
        }
        _ = try options
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, not \(repeats)") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more, not \(warmup)") }
        guard threads >= 0 else { throw ValidationError("--threads must be 0 (all cores) or more, not \(threads)") }
    }

    func run() throws {
        OpenMPEnvironment.reexecWithPassiveWaitIfUnset()
        let w: MTRNNWeights
        if let path = weights {
            w = try MTRNNWeights.load(contentsOf: URL(fileURLWithPath: path))
        } else {
            w = MTRNNWeights.random(seed: 1234)
        }
        let settings = try options
        for p in try precisions {
            if p == .bf16, let reason = MTRNNNetwork.bf16UnsupportedReason {
                if precision == "all" {
                    FileHandle.standardError.write(Data("bf16 skipped: \(reason)\n".utf8))
                    continue
                }
                throw MTRNNError.unsupportedPrecision(SettingFlags.message(.precisionUnsupported(reason: reason)))
            }
            try time(p, weights: w, tile: settings.tile, iterations: settings.iterations)
        }
    }

    private func time(_ p: Precision, weights: MTRNNWeights, tile: Int, iterations: Int) throws {
        let net = try MTRNNNetwork(weights: weights, precision: p, threads: threads)
        let prepareStart = DispatchTime.now().uptimeNanoseconds
        let kernels = try net.prepare(width: tile, height: tile)
        let prepareSeconds = Double(DispatchTime.now().uptimeNanoseconds - prepareStart) / 1e9
        let image = Self.testImage(side: tile)
        for _ in 0..<warmup { _ = try net.run(image, iterations: iterations) }
        net.profiling = profile
        net.resetProfile()
        var seconds: [Double] = [], cpuSeconds: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds, cpuStart = Self.processCPUSeconds()
            _ = try net.run(image, iterations: iterations)
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            cpuSeconds.append(Self.processCPUSeconds() - cpuStart)
        }
        let median = Self.median(seconds), cpuMedian = Self.median(cpuSeconds)
        seconds.sort()
        let flop = Double(MTRNNNetwork.flopsPerPixelPerIteration) * Double(tile * tile * iterations)
        let gflops = flop / median / 1e9
        if json {
            let object: [String: Any] = [
                "engine": "mtrnn-swift-onednn", "precision": p.rawValue, "tile": tile, "iterations": iterations,
                "threads": threads, "repeats": repeats, "median_seconds": median, "min_seconds": seconds[0],
                "gflops": gflops, "cpu_isa": MTRNNNetwork.cpuDescription, "prepare_seconds": prepareSeconds,
                "cpu_seconds": cpuMedian, "gflops_per_cpu_second": flop / cpuMedian / 1e9,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(p.rawValue + String(format: " %dx%d x %d iterations: median %.3f s (min %.3f s, %d runs), %.1f GFLOP/s; "
                                      + "%.1f GFLOP per CPU-second; primitives created in %.3f s", tile, tile, iterations,
                                      median, seconds[0], repeats, gflops, flop / cpuMedian / 1e9, prepareSeconds))
        }
        if profile {
            let prof = net.profile
            let total = prof.order.reduce(0) { $0 + prof.seconds[$1]! }
            let out = FileHandle.standardError
            out.write(Data("per layer (\(p.rawValue), seconds per run, summed over \(iterations) iterations):\n".utf8))
            for name in prof.order {
                let s = prof.seconds[name]! / Double(repeats)
                let label = name.padding(toLength: 10, withPad: " ", startingAt: 0)
                out.write(Data(("  " + label + String(format: " %8.4f s %5.1f %%\n", s, 100 * prof.seconds[name]! / total)).utf8))
            }
            out.write(Data("kernels: \(Set(kernels.map(\.kernel)).sorted().joined(separator: ", "))\n".utf8))
        }
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// User + system time of the whole process (all threads): on a shared
    /// machine, FLOP per CPU-second says how good the code is; wall time
    /// also says how busy the neighbours are.
    static func processCPUSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// A smooth pattern plus texture in 0..255, so no layer sees all zeros.
    static func testImage(side: Int) -> PlanarImage {
        var data = [Float](repeating: 0, count: 3 * side * side)
        for c in 0..<3 {
            for y in 0..<side {
                for x in 0..<side {
                    let v = 128 + 90 * sin(Double(x) * 0.05 + Double(c)) * cos(Double(y) * 0.03 - Double(c))
                        + 20 * sin(Double(x * y % 97))
                    data[(c * side + y) * side + x] = Float(min(255, max(0, v)))
                }
            }
        }
        return PlanarImage(width: side, height: side, data: data)
    }
}
