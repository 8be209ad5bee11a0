import CLCMS
import Dispatch

/// The photo's embedded ICC profile, and the conversion between it and sRGB
/// (Little CMS 2) that lets a network trained on sRGB photos see an Adobe
/// RGB, ProPhoto or linear photo's colours as sRGB ones, and puts the result
/// back into the photo's own profile. The profile's bytes are never
/// changed: the output carries them as the input did (`Metadata`).
extension Image {
    /// The embedded ICC profile: a JPEG's APP2 "ICC_PROFILE" chunks joined in
    /// their sequence order, a PNG's iCCP chunk inflated, a TIFF's tag 34675.
    /// nil when there is none or it cannot be read (chunks missing, a
    /// damaged deflate stream).
    public var iccProfile: [UInt8]? {
        switch format {
        case .jpeg:
            let magic = Array("ICC_PROFILE".utf8) + [0]
            var chunks: [(Int, [UInt8])] = []
            var total = 0
            for m in metadata.jpegMarkers where m.code == 0xE2 && m.payload.count > 14 && m.payload.starts(with: magic) {
                chunks.append((Int(m.payload[12]), Array(m.payload[14...])))
                total = Int(m.payload[13])
            }
            guard !chunks.isEmpty, chunks.count == total else { return nil }
            chunks.sort { $0.0 < $1.0 }
            guard chunks.map(\.0) == Array(1...total) else { return nil }
            return chunks.flatMap(\.1)
        case .png:
            guard let chunk = metadata.pngChunks.first(where: { $0.type == "iCCP" }),
                  let nul = chunk.data.firstIndex(of: 0), nul + 2 < chunk.data.count, chunk.data[nul + 1] == 0 else { return nil }
            return Self.inflate(Array(chunk.data[(nul + 2)...]), limit: 64 << 20)
        case .tiff:
            return metadata.tiffEntries.first { $0.tag == 34675 }?.value
        }
    }

    /// zlib's uncompress with a growing buffer, up to `limit` bytes.
    static func inflate(_ data: [UInt8], limit: Int) -> [UInt8]? {
        var size = max(4096, data.count * 4)
        while size <= limit {
            var out = [UInt8](repeating: 0, count: size)
            var length = uLongf(size)
            let rc = out.withUnsafeMutableBufferPointer { o in
                data.withUnsafeBufferPointer { i in uncompress(o.baseAddress, &length, i.baseAddress, uLong(i.count)) }
            }
            if rc == Z_OK { return Array(out.prefix(Int(length))) }
            guard rc == Z_BUF_ERROR else { return nil }
            size *= 4
        }
        return nil
    }
}

/// Converts planar float RGB (0...255, the layout `planarRGB()` gives)
/// between a photo's ICC profile and sRGB. Float transforms: values outside
/// sRGB's gamut are kept (below 0, above 255), not clipped, so a round trip
/// returns the photo's own values to float precision.
public final class ColourConversion: @unchecked Sendable {
    /// The profile's description ("Adobe RGB (1998)"), for notes and messages.
    public let profileName: String
    private let toSRGBTransform: cmsHTRANSFORM
    private let fromSRGBTransform: cmsHTRANSFORM

    /// Why a photo's colours are taken as they are.
    public enum Skipped: Error, Equatable, Sendable {
        /// No embedded profile: sRGB is assumed, as browsers and viewers do.
        case noProfile
        /// Grey or grey+alpha: the network sees the grey replicated.
        case grey
        /// The profile is sRGB, or so close that converting changes no value by 1/4 of a step of 255.
        case sRGB(String)
        /// Little CMS cannot use it (damaged, not RGB, a device link...).
        case unusable(String)
    }

    /// 3 float channels, planar (lcms2's TYPE_RGB_FLT | PLANAR_SH(1)).
    private static let planarFloatRGB: cmsUInt32Number = (1 << 22) | (4 << 16) | (1 << 12) | (3 << 3) | 4

    private init(name: String, to: cmsHTRANSFORM, from: cmsHTRANSFORM) {
        profileName = name
        toSRGBTransform = to
        fromSRGBTransform = from
    }

    deinit {
        cmsDeleteTransform(toSRGBTransform)
        cmsDeleteTransform(fromSRGBTransform)
    }

    /// The conversion `image` needs, or why it needs none.
    public static func make(for image: Image) -> Result<ColourConversion, Skipped> {
        guard image.channels >= 3 else { return .failure(.grey) }
        guard let icc = image.iccProfile else { return .failure(.noProfile) }
        return make(profile: icc)
    }

    /// The conversion between the profile `icc` (an RGB ICC profile's bytes) and sRGB.
    public static func make(profile icc: [UInt8]) -> Result<ColourConversion, Skipped> {
        guard let profile = icc.withUnsafeBytes({ cmsOpenProfileFromMem($0.baseAddress, cmsUInt32Number($0.count)) }) else {
            return .failure(.unusable("Little CMS cannot read the embedded ICC profile"))
        }
        defer { cmsCloseProfile(profile) }
        let name = describe(profile)
        guard cmsGetColorSpace(profile) == cmsSigRgbData else {
            return .failure(.unusable("the embedded ICC profile \"\(name)\" is not an RGB profile"))
        }
        let cls = cmsGetDeviceClass(profile)
        guard cls != cmsSigLinkClass, cls != cmsSigAbstractClass, cls != cmsSigNamedColorClass else {
            return .failure(.unusable("the embedded ICC profile \"\(name)\" is not a colour space profile"))
        }
        guard let srgb = cmsCreate_sRGBProfile() else { return .failure(.unusable("Little CMS has no sRGB profile")) }
        defer { cmsCloseProfile(srgb) }
        let intent = cmsUInt32Number(INTENT_RELATIVE_COLORIMETRIC)
        let flags = cmsUInt32Number(cmsFLAGS_NOCACHE | cmsFLAGS_NOOPTIMIZE)
        guard let to = cmsCreateTransform(profile, planarFloatRGB, srgb, planarFloatRGB, intent, flags) else {
            return .failure(.unusable("Little CMS cannot convert from the embedded ICC profile \"\(name)\" to sRGB"))
        }
        guard let from = cmsCreateTransform(srgb, planarFloatRGB, profile, planarFloatRGB, intent, flags) else {
            cmsDeleteTransform(to)
            return .failure(.unusable("Little CMS cannot convert from sRGB to the embedded ICC profile \"\(name)\""))
        }
        let conversion = ColourConversion(name: name, to: to, from: from)
        if conversion.isIdentity() { return .failure(.sRGB(name)) }
        return .success(conversion)
    }

    private static func describe(_ profile: cmsHPROFILE) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = cmsGetProfileInfoASCII(profile, cmsInfoDescription, "en", "US", &buffer, cmsUInt32Number(buffer.count))
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return n > 0 && !bytes.isEmpty ? String(decoding: bytes, as: UTF8.self) : "unnamed"
    }

    /// True when converting to sRGB moves no colour of a 9x9x9 grid by a
    /// quarter step of 255: an sRGB profile (there are many spellings), left
    /// alone so that sRGB photos take exactly the path they always took.
    private func isIdentity() -> Bool {
        let steps = (0...8).map { Float($0) * 255 / 8 }
        var planes = [Float](repeating: 0, count: 3 * 729)
        var i = 0
        for r in steps { for g in steps { for b in steps {
            planes[i] = r; planes[729 + i] = g; planes[1458 + i] = b
            i += 1
        } } }
        let before = planes
        toSRGB(&planes)
        return zip(planes, before).allSatisfy { abs($0 - $1) < 0.25 }
    }

    /// The photo's values (planar R, G, B planes, 0...255) as sRGB values, in place.
    public func toSRGB(_ planes: inout [Float]) { Self.apply(toSRGBTransform, &planes) }

    /// sRGB values back into the photo's profile, in place.
    public func fromSRGB(_ planes: inout [Float]) { Self.apply(fromSRGBTransform, &planes) }

    /// Applies `transform` to planar 0...255 floats: chunks of 64 K pixels
    /// on every core (a float transform without cache is safe to share).
    private static func apply(_ transform: cmsHTRANSFORM, _ planes: inout [Float]) {
        precondition(planes.count % 3 == 0, "planar RGB expected")
        let n = planes.count / 3
        guard n > 0 else { return }
        let chunk = 1 << 16
        let chunks = (n + chunk - 1) / chunk
        planes.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let base = p.baseAddress!
            nonisolated(unsafe) let t = transform
            DispatchQueue.concurrentPerform(iterations: chunks) { k in
                let start = k * chunk, count = min(chunk, n - start)
                var input = [Float](repeating: 0, count: 3 * count)
                var output = [Float](repeating: 0, count: 3 * count)
                for c in 0..<3 {
                    for i in 0..<count { input[c * count + i] = base[c * n + start + i] * (1 / 255) }
                }
                let stride = cmsUInt32Number(count * MemoryLayout<Float>.size)
                input.withUnsafeBytes { i in
                    output.withUnsafeMutableBytes { o in
                        cmsDoTransformLineStride(t, i.baseAddress, o.baseAddress, cmsUInt32Number(count), 1,
                                                 stride, stride, stride, stride)
                    }
                }
                for c in 0..<3 {
                    for i in 0..<count { base[c * n + start + i] = output[c * count + i] * 255 }
                }
            }
        }
    }
}
