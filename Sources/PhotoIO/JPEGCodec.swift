import CImageCodecs

/// JPEG through libjpeg-turbo. APPn and COM segments are carried in file
/// order, byte-for-byte; the encoder adds no JFIF or Adobe segment of its own.
/// AFCP, FotoStation and Photo Mechanic trailers after EOI are appended
/// again (`JPEGTrailers`); MPF and its appended images are not, and the
/// processing note says so.
enum JPEGCodec {
    static func decode(_ data: [UInt8], name: String, maxPixels: Int) throws -> Image {
        var result = mc_jpeg_image()
        let status = data.withUnsafeBufferPointer {
            mc_jpeg_decode($0.baseAddress, $0.count, UInt64(maxPixels), &result)
        }
        defer { mc_jpeg_image_free(&result) }
        guard status == Int32(MC_OK) else {
            let message = withUnsafeBytes(of: result.message) { cString($0.baseAddress!) }
            throw PhotoIO.library(name, status: status, message: message,
                                  unsupportedRemedy: remedy(for: message), limit: maxPixels,
                                  limitRemedy: message.contains("scans") ? scansRemedy : PhotoIOError.metadataRemedy)
        }
        let width = Int(result.width), height = Int(result.height), channels = Int(result.components)
        let pixels = UnsafeBufferPointer(start: result.pixels, count: width * height * channels)
        var metadata = Metadata()
        var droppedMPF = false
        // The C side has held the segments read to the limits; what is carried,
        // trailers included, must leave room for the note in the output.
        var budget = MetadataBudget(.carried, file: name, items: "JPEG metadata segments and trailer records to carry")
        for index in 0..<Int(result.marker_count) {
            let marker = result.markers[index]
            try budget.add(bytes: Int(marker.length))
            let payload = Array(UnsafeBufferPointer(start: marker.data, count: Int(marker.length)))
            if marker.code == 0xE2 && payload.starts(with: Array("MPF\0".utf8)) { droppedMPF = true; continue }
            metadata.jpegMarkers.append(JPEGMarker(code: marker.code, payload: payload))
        }
        let trailers = try JPEGTrailers.split(data, from: min(Int(result.end_offset), data.count), budget: &budget)
        metadata.jpegTrailers = trailers.kept
        if droppedMPF {
            metadata.notCarried.append("MPF index" + (trailers.droppedBytes > 0
                ? " and the \(trailers.droppedBytes) bytes of images it appends" : ""))
        } else if trailers.droppedBytes > 0 {
            metadata.notCarried.append("\(trailers.droppedBytes) byte\(trailers.droppedBytes == 1 ? "" : "s") of unrecognised data after the image")
        }
        var encoding = EncodingInfo()
        encoding.jpegProgressive = result.progressive != 0
        if channels == 3 {
            encoding.jpegHorizontalSampling = withUnsafeBytes(of: result.h_samp) { Array($0.bindMemory(to: Int32.self)).map(Int.init) }
            encoding.jpegVerticalSampling = withUnsafeBytes(of: result.v_samp) { Array($0.bindMemory(to: Int32.self)).map(Int.init) }
        }
        return Image(width: width, height: height, channels: channels, bitDepth: 8,
                     samples: Samples(bytes: Array(pixels)), format: .jpeg, metadata: metadata,
                     encoding: encoding, name: name)
    }

    static func encode(_ image: Image, options: EncodeOptions) throws -> [UInt8] {
        let pixels = [UInt8].bytes(of: image)
        var markers = image.metadata.jpegMarkers.map { marker -> JPEGMarker in
            var marker = marker
            // An Adobe segment's transform flag must match what is written:
            // colour is always written as YCbCr (flag 1).
            if marker.code == 0xEE, image.channels == 3, marker.payload.count >= 12,
               marker.payload.starts(with: Array("Adobe".utf8)) {
                marker.payload[11] = 1
            }
            return marker
        }
        if let note = options.softwareNote.map(image.metadata.processingNote),
           image.metadata.hasRoom(items: 1, bytes: note.utf8.count) {
            let comment = Array(note.utf8)
            if !markers.contains(where: { $0.code == 0xFE && $0.payload == comment }) {
                markers.append(JPEGMarker(code: 0xFE, payload: comment))
            }
        }
        var h = image.encoding.jpegHorizontalSampling.map(Int32.init)
        var v = image.encoding.jpegVerticalSampling.map(Int32.init)
        let sane = h.count == 3 && v.count == 3 && (h + v).allSatisfy { (1...4).contains($0) }
        if !sane { h = [2, 1, 1]; v = [2, 1, 1] }
        var message = [CChar](repeating: 0, count: Int(MC_MESSAGE_SIZE))
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        let quality = Int32(max(1, min(100, options.jpegQuality)))
        // Payloads must stay alive while C reads them.
        let payloads = markers.map(\.payload)
        let status: Int32 = withPointers(payloads) { pointers in
            var list = zip(markers, pointers).map { marker, pointer in
                mc_jpeg_marker(code: marker.code, length: UInt32(marker.payload.count),
                               data: UnsafeMutablePointer(mutating: pointer))
            }
            return pixels.withUnsafeBufferPointer { p in
                mc_jpeg_encode(p.baseAddress, UInt32(image.width), UInt32(image.height), Int32(image.channels),
                               quality, image.encoding.jpegProgressive ? 1 : 0, &h, &v,
                               &list, Int32(list.count), &out, &size, &message)
            }
        }
        defer { mc_free(out) }
        guard status == Int32(MC_OK), let out else {
            throw PhotoIOError(.encode, file: image.name,
                               what: "libjpeg could not write the image (\(text(of: message)))",
                               remedy: "Check free memory; if it persists, report it")
        }
        let encoded = Array(UnsafeBufferPointer(start: out, count: size))
        return encoded + JPEGTrailers.bytes(image.metadata.jpegTrailers, after: encoded.count)
    }

    static let scansRemedy = "Re-save it as an ordinary JPEG (e.g. magick in.jpg -interlace none out.jpg) "
        + "and try again; no encoder writes so many scans, so the file may have been made to take hours to decode"

    static func remedy(for message: String) -> String {
        if message.contains("CMYK") {
            return "Convert it to RGB first (e.g. magick in.jpg -colorspace sRGB out.jpg)"
        }
        if message.contains("precision") {
            return "Only 8-bit JPEG is supported; convert it to 8-bit JPEG or to 16-bit PNG/TIFF"
        }
        return "Convert it to an 8-bit RGB or grey JPEG, PNG or TIFF"
    }
}

/// Calls `body` with a stable pointer to each array's bytes, all copied
/// into one buffer that lives until `body` returns: time and memory linear
/// in the total. (It used to nest one withUnsafeBufferPointer per array,
/// copying the pointer list at each level: 10,000 empty COM segments took
/// 458 MB, and 100,000 overflowed the stack.)
func withPointers<R>(_ arrays: [[UInt8]], _ body: ([UnsafePointer<UInt8>?]) -> R) -> R {
    let total = arrays.reduce(0) { $0 + $1.count }
    let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: max(total, 1))
    defer { storage.deallocate() }
    var pointers: [UnsafePointer<UInt8>?] = []
    pointers.reserveCapacity(arrays.count)
    var offset = 0
    for array in arrays {
        array.withUnsafeBufferPointer { source in
            if let base = source.baseAddress, !source.isEmpty {
                (storage + offset).initialize(from: base, count: source.count)
            }
        }
        pointers.append(UnsafePointer(storage + offset))
        offset += array.count
    }
    return body(pointers)
}
