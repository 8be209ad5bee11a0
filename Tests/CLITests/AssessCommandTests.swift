import Foundation
import Testing

/// `mtrnnctl assess`: the verdict on a sharp and a blurred photo, the JSON
/// contract, and a file it cannot read.
@Suite struct AssessCommandTests {
    static let fixtures = CLI.packageRoot + "/Tests/DeblurTests/BlurExtentFixtures/"

    @Test func sharpAndBlurredAsJSON() throws {
        let r = try CLI.run(["assess", "--json", Self.fixtures + "sharp.png", Self.fixtures + "line30.png"])
        #expect(r.status == 0, "\(r)")
        let rows = try r.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        try #require(rows.count == 2, "\(r)")
        #expect(rows[0]["verdict"] as? String == "sharp", "\(rows[0])")
        #expect(rows[1]["verdict"] as? String == "blurred", "\(rows[1])")
        #expect(rows[1]["width"] as? Int == 768 && rows[1]["height"] as? Int == 512)
        let extent = try #require(rows[1]["extent_px"] as? Double)
        #expect(abs(extent - 30) <= 1, "\(rows[1])")
        let sharp = try #require(rows[0]["sharpness"] as? Double), blurred = try #require(rows[1]["sharpness"] as? Double)
        #expect(sharp > blurred)
        // The threshold decides: above every score, nothing is sharp.
        let strict = try CLI.run(["assess", "--threshold", "0.5", Self.fixtures + "sharp.png"])
        #expect(strict.status == 0 && strict.stdout.hasSuffix(": blurred\n"), "\(strict)")
    }

    @Test func unreadablePhotoIsNamedAndTheOthersAreStillDone() throws {
        let missing = NSTemporaryDirectory() + "no-such-photo-\(getpid()).jpg"
        let r = try CLI.run(["assess", missing, Self.fixtures + "line12.png"])
        #expect(r.status == 1, "\(r)")
        #expect(r.stderr.contains(missing), "\(r)")
        #expect(r.stdout.contains("line12.png: 768x512"), "\(r)")
    }

    @Test func noPhotoIsAUsageError() throws {
        let r = try CLI.run(["assess"])
        #expect(r.status == 64, "\(r)")
    }
}
