import Foundation
import Testing

/// `mtrnnctl bench` on a tiny tile: the output contract, not the speed.
@Suite struct BenchCommandTests {
    static let tiny = ["bench", "--tile", "32", "--iterations", "1", "--repeats", "1", "--warmup", "0"]

    @Test func jsonHasTheFigures() throws {
        let r = try CLI.run(Self.tiny + ["--json"])
        #expect(r.status == 0, "\(r)")
        let lines = r.stdout.split(separator: "\n")
        try #require(lines.count == 1, "one JSON object per precision: \(r)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any],
                                  "not a JSON object: \(r)")
        // The default, auto: bf16 where the CPU has it.
        #expect(object["precision"] as? String == (CLI.cpuHasBF16 ? "bf16" : "f32"))
        #expect(object["tile"] as? Int == 32)
        #expect(object["iterations"] as? Int == 1)
        let median = try #require(object["median_seconds"] as? Double)
        let gflops = try #require(object["gflops"] as? Double)
        #expect(median > 0 && median.isFinite)
        // GFLOP/s is the network's FLOP count over the median, nothing else.
        let flop = 736_320.0 * 32 * 32 * 1
        #expect(abs(gflops - flop / median / 1e9) <= 1e-6 * gflops, "\(object)")
    }

    @Test func allPrecisionsAreValidJSONLines() throws {
        let r = try CLI.run(Self.tiny + ["--precision", "all", "--json"])
        #expect(r.status == 0, "\(r)")
        let precisions = try r.stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return object["precision"] as? String
        }
        if CLI.cpuHasBF16 {
            #expect(precisions == ["f32", "bf16"], "\(r)")
        } else {
            // Skipped, said on stderr, stdout stays machine-readable.
            #expect(precisions == ["f32"], "\(r)")
            #expect(r.stderr.contains("bf16 skipped"), "\(r)")
        }
    }

    @Test func bf16AloneOnACPUWithoutIt() throws {
        let r = try CLI.run(Self.tiny + ["--precision", "bf16"])
        if CLI.cpuHasBF16 {
            #expect(r.status == 0, "\(r)")
        } else {
            #expect(r.status == 1, "\(r)")
            #expect(r.stderr.contains("bf16") && r.stderr.contains("--precision f32"), "\(r)")
            #expect(r.stdout.isEmpty, "\(r)")
        }
    }

    @Test func missingWeightsNamesTheFile() throws {
        let r = try CLI.run(Self.tiny + ["--weights", "/nonexistent/w.safetensors"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains("/nonexistent/w.safetensors"), "\(r)")
    }

    @Test("bad values are usage errors (64)", arguments: [
        ["--repeats", "0"], ["--warmup", "-1"], ["--tile", "-4"], ["--iterations", "0"], ["--threads", "-1"],
        ["--precision", "fp8"],
    ])
    func usageErrors(extra: [String]) throws {
        let r = try CLI.run(Self.tiny + extra)
        #expect(r.status == 64, "\(r)")
        #expect(r.stderr.contains("\(extra[0]) must be"), "\(r)")
        #expect(!r.stderr.contains("Missing value"), "\(r)")
    }
}
