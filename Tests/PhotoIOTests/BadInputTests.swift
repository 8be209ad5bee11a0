import Foundation
import Synchronization
import Testing
@testable import PhotoIO

/// Damaged, hostile and declined inputs: always a PhotoIOError naming the
/// file, never a crash.
struct BadInputTests: DecodeErrorChecks {

    @Test func emptyFileIsNotAnImage() {
        let e = error { try PhotoIO.decode(data: [], name: "empty.jpg") }
        #expect(e?.kind == .notAnImage)
        #expect(e?.description.contains("empty.jpg") == true)
    }

    @Test func textFileNamedJPEGIsNotAnImage() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("notes.jpg")
        try Data("just some text\n".utf8).write(to: url)
        let e = error { try PhotoIO.decode(contentsOf: url) }
        #expect(e?.kind == .notAnImage)
        #expect(e?.description.hasPrefix("notes.jpg: ") == true)
        #expect(throws: PhotoIOError.self) { try PhotoIO.probe(contentsOf: url) }
        let missing = error { try PhotoIO.decode(contentsOf: directory.appendingPathComponent("gone.png")) }
        #expect(missing?.kind == .io)
    }

    static let samples: [(String, Image)] = {
        var list: [(String, Image)] = []
        var jpeg = syntheticImage(width: 24, height: 16, channels: 3, bitDepth: 8, format: .jpeg)
        list.append(("baseline.jpg", jpeg))
        jpeg.encoding.jpegProgressive = true
        list.append(("progressive.jpg", jpeg))
        var png = syntheticImage(width: 24, height: 16, channels: 4, bitDepth: 16, format: .png)
        list.append(("plain.png", png))
        png.encoding.pngInterlaced = true
        list.append(("interlaced.png", png))
        var tiff = syntheticImage(width: 24, height: 16, channels: 3, bitDepth: 8, format: .tiff)
        list.append(("plain.tif", tiff))
        tiff.encoding.tiffCompression = 5
        tiff.encoding.tiffPredictor = 2
        tiff.metadata.tiffEntries = [TIFFEntry(tag: 270, type: 2, count: 6, value: Array("hello\0".utf8))]
        list.append(("lzw-described.tif", tiff))
        return list
    }()

    @Test(arguments: samples.map(\.0))
    func everyTruncationThrows(name: String) throws {
        let image = Self.samples.first { $0.0 == name }!.1
        let bytes = try PhotoIO.encode(image)
        #expect(try PhotoIO.decode(data: bytes, name: name).samples.count == image.samples.count)
        var cuts = Array(0..<min(bytes.count, 300))
        cuts += Array(stride(from: 300, to: bytes.count, by: 7)) + Array(max(0, bytes.count - 40)..<bytes.count)
        expectEveryCutThrows(bytes, name: name, cuts: Set(cuts).sorted())
    }

    @Test(arguments: samples.map(\.0))
    func corruptedBytesNeverCrash(name: String) throws {
        let image = Self.samples.first { $0.0 == name }!.1
        let bytes = try PhotoIO.encode(image)
        decodeDamaged(bytes, name: name, copies: 150, seed: 42)
    }

    @Test func pngPixelBombIsRefusedBeforeDecoding() {
        let ihdr: [UInt8] = [0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60, 8, 2, 0, 0, 0]  // 60000 x 60000 RGB
        let png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + pngChunk("IHDR", ihdr)
            + pngChunk("IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]) + pngChunk("IEND", [])
        let e = error { try PhotoIO.decode(data: png, name: "bomb.png") }
        #expect(e?.kind == .tooLarge)
        #expect(e?.description.contains("60000x60000") == true)
    }

    @Test func jpegAndTIFFPixelBombsAreRefused() throws {
        var jpeg = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .jpeg))
        let sof = jpeg.indices.first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        jpeg.replaceSubrange(sof + 5..<sof + 9, with: [0xEA, 0x60, 0xEA, 0x60])
        #expect(error { try PhotoIO.decode(data: jpeg, name: "bomb.jpg") }?.kind == .tooLarge)

        let tiff = try PhotoIO.encode(syntheticImage(channels: 1, bitDepth: 8, format: .tiff))
        var file = try TIFFFile(tiff, name: "bomb.tif")
        let first = file.firstDirectoryOffset
        for index in 0..<Int(file.u16(first)) {
            let at = first + 2 + 12 * index
            if file.u16(at) == 256 || file.u16(at) == 257 {
                file.bytes.replaceSubrange(at + 2..<at + 12, with: [4, 0, 1, 0, 0, 0, 0x60, 0xEA, 0, 0])
            }
        }
        #expect(error { try PhotoIO.decode(data: file.bytes, name: "bomb.tif") }?.kind == .tooLarge)
    }

    @Test func pixelLimitIsConfigurable() throws {
        for format in ImageFormat.allCases {
            let bytes = try PhotoIO.encode(syntheticImage(width: 20, height: 10, channels: 3, bitDepth: 8, format: format))
            #expect(error { try PhotoIO.decode(data: bytes, name: "x", maxPixels: 199) }?.kind == .tooLarge)
            #expect(try PhotoIO.decode(data: bytes, name: "x", maxPixels: 200).width == 20)
        }
    }

    @Test func declinedKindsSayWhatAndWhatToDo() throws {
        let cmyk = error { try PhotoIO.decode(data: Fixtures.cmykJPEG, name: "print.jpg") }
        #expect(cmyk?.kind == .unsupported)
        #expect(cmyk?.description.contains("print.jpg: CMYK") == true)
        #expect(cmyk?.remedy.contains("RGB") == true)

        var twelve = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .jpeg))
        let sof = twelve.indices.first { twelve[$0] == 0xFF && twelve[$0 + 1] == 0xC0 }!
        twelve[sof + 4] = 12
        let e12 = error { try PhotoIO.decode(data: twelve, name: "deep.jpg") }
        #expect(e12?.kind == .unsupported)
        #expect(e12?.what.contains("precision 12") == true)

        let png = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .png))
        let apng = inserting(pngChunk("acTL", [0, 0, 0, 1, 0, 0, 0, 0]), before: "IDAT", in: png)
        let eA = error { try PhotoIO.decode(data: apng, name: "anim.png") }
        #expect(eA?.kind == .unsupported)
        #expect(eA?.what.contains("animated") == true)

        let pages = error { try PhotoIO.decode(data: Fixtures.multipageTIFF, name: "scan.tif") }
        #expect(pages?.kind == .unsupported)
        #expect(pages?.what.contains("multi-page") == true)
        #expect(pages?.remedy.contains("tiffsplit") == true)

        // JPEG-compressed TIFF is read now (TIFFKindsTests); a float TIFF is not.
        #expect(try PhotoIO.decode(data: Fixtures.jpegTIFF, name: "jpeg.tif").encoding.tiffCompression == 7)

        let big = error { try PhotoIO.decode(data: [0x49, 0x49, 0x2B, 0x00, 8, 0, 0, 0], name: "big.tif") }
        #expect(big?.kind == .unsupported)
    }

    @Test func tiffErrorsStayWithTheirOwnFile() throws {
        // libtiff's handlers are per handle: concurrent failures must not mix messages.
        let good = try PhotoIO.encode(syntheticImage(channels: 3, bitDepth: 8, format: .tiff))
        let results = Mutex([Bool](repeating: false, count: 16))
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            let name = "file\(index).tif"
            let bytes = index % 2 == 0 ? good : Array(good[..<(good.count / 2)])
            do {
                _ = try PhotoIO.decode(data: bytes, name: name)
                results.withLock { $0[index] = index % 2 == 0 }
            } catch let error as PhotoIOError {
                let fine = index % 2 == 1 && error.file == name
                results.withLock { $0[index] = fine }
            } catch {
                results.withLock { $0[index] = false }
            }
        }
        #expect(results.withLock { $0.allSatisfy { $0 } })
    }
}
