// libFuzzer target for PhotoIO's Swift side: the header probe, the PNG chunk
// walker, the TIFF directory reader and writer and the JPEG marker carry-over,
// through the public decode -> encode -> decode path the daemon uses. Built by
// scripts/fuzz.sh together with Sources/PhotoIO/*.swift in one module, so a
// Swift trap (index out of range, overflow) is a finding like an ASan report:
// in the daemon it would kill the process on every restart.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func photoIOFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    guard let image = try? PhotoIO.decode(data: bytes, name: "fuzz", maxPixels: 1 << 20) else { return 0 }
    // Metadata is carried at most about once per byte of the file: 500 TIFF
    // tags sharing one value used to be copied 500 times (issue 16). Small
    // values shared exactly (at most 16 bytes for a 12-byte entry) are
    // allowed, hence the factor 2.
    let carried = metadataBytes(image.metadata)
    if carried > 2 * size + 4096 {
        fatalError("\(size) bytes of \(image.format) carried \(carried) bytes of metadata")
    }
    var options = EncodeOptions()
    options.jpegQuality = 60
    options.softwareNote = "fuzz"
    guard let encoded = try? PhotoIO.encode(image, options: options) else { return 0 }
    // What we write must read back: same size and format, whatever came in.
    let again: Image
    do { again = try PhotoIO.decode(data: encoded, name: "fuzz-out", maxPixels: 1 << 20) } catch {
        fatalError("PhotoIO wrote a \(image.format) it cannot read back (\(image.width)x\(image.height)): \(error)")
    }
    if again.width != image.width || again.height != image.height || again.format != image.format {
        fatalError("round trip changed \(image.width)x\(image.height) \(image.format) into \(again.width)x\(again.height) \(again.format)")
    }
    return 0
}

/// The bytes of metadata an image carries, TIFF subdirectories included.
func metadataBytes(_ metadata: Metadata) -> Int {
    func tiff(_ entries: [TIFFEntry]) -> Int {
        entries.reduce(0) { $0 + $1.value.count + tiff($1.subdirectory ?? []) }
    }
    return metadata.jpegMarkers.reduce(0) { $0 + $1.payload.count }
        + metadata.jpegTrailers.reduce(0) { $0 + $1.bytes.count }
        + metadata.pngChunks.reduce(0) { $0 + $1.data.count }
        + tiff(metadata.tiffEntries)
}
