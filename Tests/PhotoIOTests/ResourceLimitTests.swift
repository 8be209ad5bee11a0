import Foundation
import Testing
@testable import PhotoIO

/// Hostile structure (issue 16): many metadata segments, chunks or tags, one
/// value shared by many tags, many progressive scans. Each must cost memory
/// and time in proportion to the file and within fixed caps, or be refused
/// with a PhotoIOError naming the file; never grow with the square of the
/// count or amplify a small file into a huge output. The files are built
/// here, not committed.
struct ResourceLimitTests: DecodeErrorChecks {

    // MARK: - JPEG segments

    /// A small JPEG with `count` COM segments of `payload` right after SOI.
    static func jpegWithComments(_ count: Int, payload: [UInt8] = []) throws -> [UInt8] {
        let jpeg = try PhotoIO.encode(syntheticImage(width: 16, height: 16, channels: 3, bitDepth: 8, format: .jpeg))
        let length = payload.count + 2
        let segment: [UInt8] = [0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
        var out = Array(jpeg[..<2])
        out.reserveCapacity(jpeg.count + count * segment.count)
        for _ in 0..<count { out += segment }
        return out + jpeg[2...]
    }

    @Test func jpegWithTenThousandCommentsIsRefused() throws {
        // 40 KB; before the cap, decoding carried all 10,000 and encoding them took 458 MB.
        let bytes = try Self.jpegWithComments(10_000)
        let e = error { try PhotoIO.decode(data: bytes, name: "comments.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.description.hasPrefix("comments.jpg: ") == true)
        #expect(e?.what.contains("metadata segments") == true)
        #expect(e?.remedy.isEmpty == false)
    }

    @Test func jpegWithOneHundredThousandCommentsIsRefused() throws {
        // 400 KB; before the cap this aborted the process.
        let bytes = try Self.jpegWithComments(100_000)
        let e = error { try PhotoIO.decode(data: bytes, name: "flood.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.what.contains("metadata segments") == true)
    }

    /// `jpeg` with `segment` repeated `count` times just before its first marker of type `marker`.
    static func jpeg(_ jpeg: [UInt8], with segment: [UInt8], times count: Int, before marker: UInt8) -> [UInt8] {
        var i = 2
        while i + 4 <= jpeg.count && jpeg[i + 1] != marker {
            i += 2 + (Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3]))
        }
        var out = Array(jpeg[..<i])
        for _ in 0..<count { out += segment }
        return out + jpeg[i...]
    }

    @Test func segmentsThatTheHeaderProbeDoesNotSeeAreCountedByTheDecoder() throws {
        // The probe stops at the frame header; libjpeg reads on to the first
        // scan and, in a progressive file, between scans: its limits are in C.
        let plain = try Self.jpegWithComments(0)
        let afterFrame = Self.jpeg(plain, with: [0xFF, 0xFE, 0, 2], times: 10_000, before: 0xDA)
        let e = error { try PhotoIO.decode(data: afterFrame, name: "late.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.description.hasPrefix("late.jpg: too much metadata: more than 4096 JPEG metadata segments") == true)
        #expect(e?.remedy == PhotoIOError.metadataRemedy)

        var image = syntheticImage(width: 16, height: 16, channels: 3, bitDepth: 8, format: .jpeg)
        image.encoding.jpegProgressive = true
        let progressive = try PhotoIO.encode(image)
        let sos = progressive.indices.last { progressive[$0] == 0xFF && progressive[$0 + 1] == 0xDA }!
        var betweenScans = Array(progressive[..<sos])
        for _ in 0..<10_000 { betweenScans += [0xFF, 0xFE, 0, 2] }
        betweenScans += progressive[sos...]
        #expect(error { try PhotoIO.decode(data: betweenScans, name: "scans.jpg") }?.what.contains("metadata segments") == true)
        // Under the limit they are read past and, as before, not carried.
        var few = Array(progressive[..<sos])
        for _ in 0..<100 { few += [0xFF, 0xFE, 0, 3, 0x41] }
        few += progressive[sos...]
        #expect(try PhotoIO.decode(data: few, name: "few.jpg").metadata.jpegMarkers.allSatisfy { $0.payload != [0x41] })
        // A segment cut short by the end of the file is damage, not metadata.
        let cut = Array(plain[..<2]) + [0xFF, 0xE1, 0x10, 0x00, 1, 2, 3]
        #expect(error { try JPEGCodec.decode(cut, name: "cut.jpg", maxPixels: 1_000) }?.kind == .corrupt)
    }

    @Test func jpegWithManySegmentsUnderTheLimitRoundTrips() throws {
        // Many more than any camera writes (about 10), still carried.
        let bytes = try Self.jpegWithComments(2_000, payload: [0x41])
        let image = try PhotoIO.decode(data: bytes, name: "many.jpg")
        #expect(image.metadata.jpegMarkers.filter { $0.code == 0xFE }.count == 2_000)
        let again = try PhotoIO.decode(data: PhotoIO.encode(image), name: "many-out.jpg")
        #expect(again.metadata.jpegMarkers == image.metadata.jpegMarkers)
    }

    @Test func withPointersUsesConstantStack() {
        // It recursed once per array, copying the pointer list each time:
        // quadratic memory, and a stack overflow at about 100,000 segments.
        let arrays = (0..<5_000).map { [UInt8(truncatingIfNeeded: $0), 7] }
        var outside = 0
        let base = withUnsafeMutablePointer(to: &outside) { Int(bitPattern: $0) }
        let (depth, correct): (Int, Bool) = withPointers(arrays) { pointers in
            var inside = 0
            let here = withUnsafeMutablePointer(to: &inside) { Int(bitPattern: $0) }
            let correct = pointers.count == arrays.count && pointers.indices.allSatisfy { index in
                pointers[index].map { $0[0] == UInt8(truncatingIfNeeded: index) && $0[1] == 7 } ?? false
            }
            return (abs(base - here), correct)
        }
        #expect(correct)
        #expect(depth < 64 * 1024, "withPointers used \(depth) bytes of stack for 5,000 arrays")
    }

    // MARK: - What is accepted is written so that it reads back

    /// Decoding either refuses `bytes` or gives an image whose output, with
    /// the processing note, decodes again; true when it was accepted.
    func acceptedAndReadsBack(_ bytes: [UInt8], name: String) throws -> Bool {
        guard let image = try? PhotoIO.decode(data: bytes, name: name) else { return false }
        let output = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "mtrnn-watch test"))
        let again = error { try PhotoIO.decode(data: output, name: "out-" + name) }
        #expect(again == nil, "\(name): accepted, but its output does not read back: \(again.map(String.init(describing:)) ?? "")")
        return true
    }

    @Test func jpegAtTheLimitsOutputReadsBack() throws {
        // Found by the photoio fuzzer: 4096 COM segments were accepted, and
        // the output, with the note, had 4097 and was refused.
        for count in [3_999, 4_000, 4_001, 4_095, 4_096] {
            let accepted = try acceptedAndReadsBack(Self.jpegWithComments(count), name: "\(count).jpg")
            #expect(accepted == (count <= 4_000), "\(count) segments")
        }
        let e = error { try PhotoIO.decode(data: Self.jpegWithComments(4_001), name: "4001.jpg") }
        #expect(e?.what == "too much metadata: more than 4000 JPEG metadata segments and trailer records to carry")
        // The note goes in while there is room for it, and not at the limit.
        let note = EncodeOptions(softwareNote: "mtrnn-watch test")
        for (count, noted) in [(3_999, true), (4_000, false)] {
            let image = try PhotoIO.decode(data: Self.jpegWithComments(count), name: "n.jpg")
            let out = try PhotoIO.decode(data: PhotoIO.encode(image, options: note), name: "n-out.jpg")
            #expect(out.metadata.jpegMarkers.contains { $0.payload == Array("mtrnn-watch test".utf8) } == noted)
        }
    }

    @Test func pngAtTheLimitsOutputReadsBack() throws {
        let png = try PhotoIO.encode(syntheticImage(width: 8, height: 8, channels: 3, bitDepth: 8, format: .png))
        for count in [4_000, 4_001, 4_094] {
            var many: [UInt8] = []
            for _ in 0..<count { many += pngChunk("prVt", []) }
            let accepted = try acceptedAndReadsBack(inserting(many, before: "IDAT", in: png), name: "\(count).png")
            #expect(accepted == (count <= 4_000), "\(count) chunks")
        }
    }

    @Test func tiffAtTheLimitsOutputReadsBack() throws {
        // IFD0 has 9 tags of its own; libtiff writes more (PlanarConfiguration,
        // Software, ...) beside the carried ones, and refuses a directory of
        // more than 4096 entries.
        for count in [4_000, 4_001, 4_087] {
            let bytes = Self.tiff(extra: (0..<count).map { (tag: UInt16(60_000 - $0), type: 3, count: 1, field: 1) })
            let accepted = try acceptedAndReadsBack(bytes, name: "\(count).tif")
            #expect(accepted == (count <= 4_000), "\(count) tags")
        }
    }

    // MARK: - PNG chunks

    @Test func pngWithTooManyAncillaryChunksIsRefused() throws {
        let png = try PhotoIO.encode(syntheticImage(width: 8, height: 8, channels: 3, bitDepth: 8, format: .png))
        // A private chunk, safe to copy (fourth letter lower-case): carried unless capped.
        let chunk = pngChunk("prVt", [1])
        var many: [UInt8] = []
        for _ in 0..<10_000 { many += chunk }
        let bytes = inserting(many, before: "IDAT", in: png)
        let e = error { try PhotoIO.decode(data: bytes, name: "chunks.png") }
        #expect(e?.kind == .unsupported)
        #expect(e?.description.hasPrefix("chunks.png: ") == true)
        #expect(e?.what.contains("chunks") == true)
    }

    @Test func jpegWithMoreThan64MBOfMetadataIsRefused() throws {
        // 1,100 full-size APP1 segments: 72 MB, under the segment limit.
        let payload = [UInt8](repeating: 0x58, count: 65533)
        var bytes = try Self.jpegWithComments(0)
        let segment: [UInt8] = [0xFF, 0xE1, 0xFF, 0xFF] + payload
        var flood: [UInt8] = []
        flood.reserveCapacity(1_100 * segment.count)
        for _ in 0..<1_100 { flood += segment }
        bytes.insert(contentsOf: flood, at: 2)
        let e = error { try PhotoIO.decode(data: bytes, name: "big-xmp.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.what.contains("MB") == true)
    }

    @Test func jpegWithTooManyTrailerRecordsIsRefused() throws {
        // FotoStation records (2-byte tag, 4-byte size, 0xA1B2C3D4) after
        // EOI, each 10 bytes: 50 KB of them.
        var bytes = try Self.jpegWithComments(0)
        let record: [UInt8] = [0, 1, 0, 0, 0, 10, 0xA1, 0xB2, 0xC3, 0xD4]
        for _ in 0..<5_000 { bytes += record }
        let e = error { try PhotoIO.decode(data: bytes, name: "trailers.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.what.contains("trailer") == true)
    }

    @Test func jpegHeaderProbeCountsSegmentsToo() throws {
        let bytes = try Self.jpegWithComments(10_000)
        var probe: PhotoIOError?
        do { _ = try HeaderProbe.dimensions(format: .jpeg, bytes: bytes, name: "comments.jpg") } catch let e as PhotoIOError { probe = e }
        #expect(probe?.kind == .unsupported)
        #expect(probe?.what.contains("metadata segments") == true)
    }

    @Test func pngWithMoreThan64MBOfAncillaryChunksIsRefused() throws {
        let png = try PhotoIO.encode(syntheticImage(width: 8, height: 8, channels: 3, bitDepth: 8, format: .png))
        let chunk = pngChunk("prVt", [UInt8](repeating: 1, count: 1 << 20))
        var many: [UInt8] = []
        many.reserveCapacity(70 * chunk.count)
        for _ in 0..<70 { many += chunk }
        let e = error { try PhotoIO.decode(data: inserting(many, before: "IDAT", in: png), name: "big.png") }
        #expect(e?.kind == .unsupported)
        #expect(e?.what.contains("MB") == true)
    }

    @Test func pngImageDataChunksAreNotCounted() throws {
        // libpng and others split IDAT finely (8 KB by default): a big PNG has
        // tens of thousands, and they are not metadata.
        let png = try PhotoIO.encode(syntheticImage(width: 64, height: 64, channels: 3, bitDepth: 8, format: .png),
                                    options: EncodeOptions(pngCompressionLevel: 0))
        let walk = try PNGChunks(png, name: "x.png")
        let data = walk.chunks.filter { $0.type == "IDAT" }.flatMap { Array($0.data) }
        var split = Array(png[..<8])
        for chunk in walk.chunks where chunk.type != "IDAT" && chunk.type != "IEND" {
            split += pngChunk(chunk.type, Array(chunk.data))
        }
        for start in stride(from: 0, to: data.count, by: 1) {
            split += pngChunk("IDAT", [data[start]])
        }
        split += pngChunk("IEND", [])
        #expect(data.count > 4_096)
        #expect(try PhotoIO.decode(data: split, name: "split.png").width == 64)
    }

    // MARK: - TIFF tags

    /// A little-endian 8x8 8-bit grey uncompressed TIFF: header, `blob`
    /// (at offset 8), the pixels, then IFD0 with the baseline tags and
    /// `extra` entries (tag, type, count, 4-byte field; a field that is an
    /// offset can point into the blob).
    static func tiff(extra: [(tag: UInt16, type: UInt16, count: UInt32, field: UInt32)], blob: [UInt8] = []) -> [UInt8] {
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        var blob = blob
        if blob.count % 2 == 1 { blob.append(0) }
        let pixelsAt = UInt32(8 + blob.count)
        let ifdAt = pixelsAt + 64
        var entries: [(tag: UInt16, type: UInt16, count: UInt32, field: UInt32)] = [
            (256, 3, 1, 8), (257, 3, 1, 8), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, 1, pixelsAt), (277, 3, 1, 1), (278, 3, 1, 8), (279, 4, 1, 64),
        ]
        entries += extra
        entries.sort { $0.tag < $1.tag }
        var out: [UInt8] = [0x49, 0x49, 0x2A, 0x00] + le32(ifdAt) + blob
        out += (0..<64).map { UInt8($0 * 4) }
        out += le16(UInt16(entries.count))
        for entry in entries {
            out += le16(entry.tag) + le16(entry.type) + le32(entry.count) + le32(entry.field)
        }
        return out + le32(0)
    }

    /// 500 private tags whose values are all the same 64 KiB at offset 8.
    static let sharedBlobTIFF: [UInt8] = tiff(
        extra: (0..<500).map { (tag: UInt16(65000 + $0), type: 7, count: 65536, field: 8) },
        blob: (0..<65536).map { UInt8(truncatingIfNeeded: $0 * 7) })

    @Test func tiffTagsSharingOneValueAreNotAmplified() throws {
        // 72 KB in; before, every tag got its own copy: 32.8 MB out.
        let input = Self.sharedBlobTIFF
        let image = try PhotoIO.decode(data: input, name: "shared.tif")
        let output = try PhotoIO.encode(image, options: EncodeOptions(softwareNote: "test"))
        #expect(output.count < 2 * input.count, "\(input.count) bytes in, \(output.count) out")
        // The first tag keeps the value; the others are named in the note.
        #expect(image.metadata.tiffEntries.filter { $0.tag >= 65000 }.map(\.tag) == [65000])
        #expect(image.metadata.notCarried.contains { $0.contains("overlap") })
        let again = try PhotoIO.decode(data: output, name: "shared-out.tif")
        #expect(again.metadata.tiffEntries.first { $0.tag == 65000 }?.value == Array(input[8..<8 + 65536]))
        let software = again.metadata.tiffEntries.first { $0.tag == 305 }.map { String(decoding: $0.value, as: UTF8.self) }
        #expect(software?.contains("test; not carried: 499 TIFF tags whose value overlaps another's") == true)
    }

    @Test func tiffDirectoryReadIsBoundedForTheProbe() throws {
        // The header probe and the camera-raw check read IFD0 too: its
        // values must not be copied once per tag either.
        let file = try TIFFFile(Self.sharedBlobTIFF, name: "shared.tif")
        let entries = try file.directory(at: file.firstDirectoryOffset)
        let total = entries.reduce(0) { $0 + $1.value.count }
        #expect(total <= 65536 + 1024, "IFD0 read as \(total) bytes of values")
        let size = try HeaderProbe.dimensions(format: .tiff, bytes: Self.sharedBlobTIFF, name: "shared.tif")
        #expect(size.width == 8 && size.height == 8)
    }

    @Test func tiffWithTooManyTagsIsRefusedByProbeAndDecode() throws {
        let bytes = Self.tiff(extra: (0..<6_000).map { (tag: UInt16(50000 + $0), type: 3, count: 1, field: 1) })
        var probe: PhotoIOError?
        do { _ = try HeaderProbe.dimensions(format: .tiff, bytes: bytes, name: "tags.tif") } catch let e as PhotoIOError { probe = e }
        #expect(probe?.kind == .unsupported)
        #expect(probe?.what.contains("tags") == true)
        let e = error { try PhotoIO.decode(data: bytes, name: "tags.tif") }
        #expect(e?.kind == .unsupported)
        #expect(e?.description.hasPrefix("tags.tif: ") == true)
    }

    @Test func tiffValueBytesAreCapped() throws {
        // Three distinct 64 KiB values under a 100,000-byte limit (the real
        // one, 64 MB, would need a 64 MB file): refused, naming the limit.
        let blob: [UInt8] = (0..<3 * 65536).map { UInt8(truncatingIfNeeded: $0 / 3) }
        let extra: [(tag: UInt16, type: UInt16, count: UInt32, field: UInt32)] = [
            (65000, 7, 65536, 8), (65001, 7, 65536, 8 + 65536), (65002, 7, 65536, 8 + 2 * 65536),
        ]
        let bytes = Self.tiff(extra: extra, blob: blob)
        let file = try TIFFFile(bytes, name: "values.tif")
        var budget = TIFFReadBudget(StructureLimits(segments: 4096, bytes: 100_000), file: "values.tif")
        var refused: PhotoIOError?
        do { _ = try file.directory(at: file.firstDirectoryOffset, budget: &budget) } catch let e as PhotoIOError { refused = e }
        #expect(refused?.kind == .unsupported)
        #expect(refused?.description.hasPrefix("values.tif: too much metadata: more than 100000 bytes in TIFF tags") == true)
        // Under the standard limits the three are carried.
        #expect(try PhotoIO.decode(data: bytes, name: "values.tif").metadata.tiffEntries.filter { $0.tag >= 65000 }.count == 3)
    }

    @Test func smallValuesSharedExactlyAreKept() throws {
        // XResolution and YResolution pointing at one RATIONAL: both carried.
        let bytes = Self.tiff(extra: [(282, 5, 1, 8), (283, 5, 1, 8)], blob: [0, 0, 0, 72, 0, 0, 0, 1].reversed())
        let image = try PhotoIO.decode(data: bytes, name: "dpi.tif")
        #expect(image.metadata.tiffEntries.filter { $0.tag == 282 || $0.tag == 283 }.count == 2)
        #expect(image.metadata.notCarried.isEmpty)
        // A bigger value shared, or one overlapping another, is not.
        let partly = Self.tiff(extra: [(65000, 7, 32, 8), (65001, 7, 32, 24)], blob: [UInt8](repeating: 9, count: 64))
        let image2 = try PhotoIO.decode(data: partly, name: "partly.tif")
        #expect(image2.metadata.tiffEntries.filter { $0.tag >= 65000 }.map(\.tag) == [65000])
        #expect(image2.metadata.notCarried == ["1 TIFF tag whose value overlaps another's"])
    }

    @Test func tiffPointerLoopsDoNotMultiplyValues() throws {
        // An EXIF pointer back to IFD0: every value there would be read again
        // at each level; they overlap themselves, so each is read once.
        let ifdAt = UInt32(8 + 65536 + 64)
        let bytes = Self.tiff(extra: [(34665, 4, 1, ifdAt), (65000, 7, 65536, 8)],
                              blob: [UInt8](repeating: 3, count: 65536))
        let file = try TIFFFile(bytes, name: "loop.tif")
        var budget = TIFFReadBudget(file: "loop.tif")
        _ = try file.directory(at: file.firstDirectoryOffset, followPointers: true, budget: &budget)
        #expect(budget.metadata.bytes < 65536 + 1024)
        #expect(try PhotoIO.decode(data: bytes, name: "loop.tif").width == 8)
    }


    // MARK: - Progressive scans

    /// A progressive JPEG with its last scan repeated `extra` times before EOI.
    static func progressiveJPEG(extraScans extra: Int) throws -> [UInt8] {
        var image = syntheticImage(width: 16, height: 16, channels: 3, bitDepth: 8, format: .jpeg)
        image.encoding.jpegProgressive = true
        let jpeg = try PhotoIO.encode(image)
        // Find the last SOS and where its entropy-coded data ends (the next
        // marker that is neither a stuffed 0xFF00 nor a restart marker).
        var i = 2, lastScan = 0
        while i + 4 <= jpeg.count {
            let marker = jpeg[i + 1]
            if marker == 0xD9 { break }
            let length = Int(jpeg[i + 2]) << 8 | Int(jpeg[i + 3])
            if marker == 0xDA {
                lastScan = i
                i += 2 + length
                while i + 1 < jpeg.count && !(jpeg[i] == 0xFF && jpeg[i + 1] != 0 && !(0xD0...0xD7).contains(jpeg[i + 1])) {
                    i += 1
                }
            } else {
                i += 2 + length
            }
        }
        let scan = Array(jpeg[lastScan..<i])
        var out = Array(jpeg[..<i])
        for _ in 0..<extra { out += scan }
        return out + jpeg[i...]
    }

    @Test func progressiveJPEGWithTooManyScansIsRefused() throws {
        let ordinary = try Self.progressiveJPEG(extraScans: 0)
        #expect(try PhotoIO.decode(data: ordinary, name: "ordinary.jpg").encoding.jpegProgressive)
        let bytes = try Self.progressiveJPEG(extraScans: 1_000)
        let e = error { try PhotoIO.decode(data: bytes, name: "scans.jpg") }
        #expect(e?.kind == .unsupported)
        #expect(e?.description.hasPrefix("scans.jpg: ") == true)
        #expect(e?.what == "progressive JPEG with more than 500 scans (an encoder writes about 10)")
        #expect(e?.remedy == JPEGCodec.scansRemedy)
        // 10 scans as written plus 480: under the limit, decoded.
        #expect(try PhotoIO.decode(data: Self.progressiveJPEG(extraScans: 480), name: "many.jpg").width == 16)
    }
}
