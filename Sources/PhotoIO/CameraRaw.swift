/// Camera raw files are refused, never processed as their preview.
///
/// Most raws (DNG, NEF, CR2, ARW, PEF, IIQ, ...) are TIFF files whose first
/// directory is a small reduced-resolution preview, with the sensor data in
/// SubIFDs or later directories. libtiff would happily read that preview, and
/// the output would be an 8x8 "deblurred" thumbnail still named .dng with the
/// raw data gone. Others (ORF, RW2, CR3, CRW, RAF, MRW, X3F) are not TIFF at all
/// and would only get "not a JPEG, PNG or TIFF". Both get the same advice.
enum CameraRaw {
    static let remedy = "Camera raw files are not processed: open it in a raw converter, export a TIFF or JPEG and process that"

    /// Raw extensions whose files are TIFF-structured; a TIFF with one of these
    /// names is a raw even if nothing else gives it away.
    static let tiffExtensions: [String: String] = [
        "dng": "DNG", "nef": "Nikon NEF", "nrw": "Nikon NRW", "cr2": "Canon CR2", "arw": "Sony ARW",
        "srf": "Sony SRF", "sr2": "Sony SR2", "pef": "Pentax PEF", "srw": "Samsung SRW", "iiq": "Phase One IIQ",
        "3fr": "Hasselblad 3FR", "fff": "Hasselblad FFF", "erf": "Epson ERF", "kdc": "Kodak KDC",
        "dcr": "Kodak DCR", "mef": "Mamiya MEF", "mos": "Leaf MOS", "rwl": "Leica RWL",
        "orf": "Olympus ORF", "rw2": "Panasonic RW2", "raw": "RAW",
    ]

    /// Raw extensions of formats that are not TIFF, for raws whose first
    /// bytes we do not recognise (e.g. Kyocera .raw, RED .r3d).
    static let otherExtensions: [String: String] = [
        "cr3": "Canon CR3", "crw": "Canon CRW", "raf": "Fujifilm RAF", "mrw": "Minolta MRW", "x3f": "Sigma X3F",
        "r3d": "RED R3D", "ari": "ARRI raw", "bay": "Casio BAY", "nksc": "Nikon sidecar",
    ]

    static func fileExtension(_ name: String) -> String {
        let parts = name.split(separator: ".")
        return parts.count > 1 ? parts.last!.lowercased() : ""
    }

    static func refusal(_ name: String, _ what: String) -> PhotoIOError {
        PhotoIOError(.unsupported, file: name, what: what, remedy: remedy)
    }

    /// Raw formats recognised by their first bytes, none of them a classic TIFF.
    static func checkSignature(_ b: [UInt8], name: String) throws {
        func has(_ ascii: String, at offset: Int) -> Bool {
            let bytes = Array(ascii.utf8)
            return b.count >= offset + bytes.count && Array(b[offset..<offset + bytes.count]) == bytes
        }
        let kind: String?
        if has("IIRO", at: 0) || has("IIRS", at: 0) || has("MMOR", at: 0) { kind = "Olympus ORF" }
        else if b.starts(with: [0x49, 0x49, 0x55, 0x00]) { kind = "Panasonic RW2" }
        else if has("ftypcrx ", at: 4) { kind = "Canon CR3" }
        else if has("HEAPCCDR", at: 6) { kind = "Canon CRW" }
        else if has("FUJIFILMCCD-RAW", at: 0) { kind = "Fujifilm RAF" }
        else if b.starts(with: [0x00, 0x4D, 0x52, 0x4D]) { kind = "Minolta MRW" }
        else if has("FOVb", at: 0) { kind = "Sigma X3F" }
        else if has("ARRI", at: 0) { kind = "ARRI raw" }
        else { kind = otherExtensions[fileExtension(name)] ?? tiffExtensions[fileExtension(name)] }
        if let kind { throw refusal(name, "a camera raw file (\(kind))") }
    }

    /// A TIFF that is really a raw: CR2 and IIQ signatures, a DNGVersion tag,
    /// a colour-filter-array or linear-raw image in IFD0 or its SubIFDs, a
    /// reduced-resolution first image, or a raw extension.
    static func checkTIFF(_ file: TIFFFile, name: String) throws {
        let b = file.bytes
        if b.count >= 11, b[8] == 0x43, b[9] == 0x52 { throw refusal(name, "a camera raw file (Canon CR2)") }
        if b.count >= 12, Array(b[8..<12]) == Array("IIII".utf8) {
            throw refusal(name, "a camera raw file (Phase One IIQ)")
        }
        let named = tiffExtensions[fileExtension(name)]
        guard let entries = try? file.directory(at: file.firstDirectoryOffset) else {
            if let named { throw refusal(name, "a camera raw file (\(named))") }
            return
        }
        func value(_ tag: UInt16, in list: [TIFFEntry]) -> Int? {
            list.first { $0.tag == tag }.flatMap(file.integer)
        }
        if entries.contains(where: { $0.tag == 50706 }) { throw refusal(name, "a camera raw file (\(named ?? "DNG"))") }
        let rawPhotometrics: Set<Int> = [32803, 34892]  // CFA, LinearRaw
        if let p = value(262, in: entries), rawPhotometrics.contains(p) {
            throw refusal(name, "a camera raw file (\(named ?? "its image is raw sensor data"))")
        }
        if let sub = entries.first(where: { $0.tag == 330 }), sub.type == 4 || sub.type == 13 {
            for index in 0..<min(Int(sub.count), 8) {
                let slice = TIFFEntry(tag: 330, type: 4, count: 1, value: Array(sub.value[index * 4..<index * 4 + 4]))
                guard let offset = file.integer(slice), let child = try? file.directory(at: offset) else { continue }
                if let p = value(262, in: child), rawPhotometrics.contains(p) {
                    throw refusal(name, "a camera raw file (\(named ?? "its SubIFDs hold raw sensor data"))")
                }
            }
        }
        if let named { throw refusal(name, "a camera raw file (\(named))") }
        if let subfile = value(254, in: entries), subfile & 1 != 0 {
            throw refusal(name, "its first image is a reduced-resolution preview (as in camera raw files), not the photo")
        }
    }
}
