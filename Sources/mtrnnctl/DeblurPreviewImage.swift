import ArgumentParser
import Deblur
import PhotoIO

/// `--preview-region WxH[+X+Y]`: the region a preview shows, in the photo's
/// pixels (ImageMagick's geometry); without +X+Y it is centred.
struct PreviewRegion: Equatable {
    static let defaultRegion = PreviewRegion(width: 512, height: 512, x: nil, y: nil)
    static let sideRange = 16...4096

    var width: Int, height: Int
    var x: Int?, y: Int?

    init(width: Int, height: Int, x: Int?, y: Int?) {
        self.width = width; self.height = height; self.x = x; self.y = y
    }

    init(parsing text: String) throws(ValidationError) {
        let bad = ValidationError("--preview-region must be WxH or WxH+X+Y in pixels (for example 512x512 or "
            + "800x600+1200+900), with W and H from \(Self.sideRange.lowerBound) to \(Self.sideRange.upperBound), not \(text).")
        let parts = text.split(separator: "+", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 3 else { throw bad }
        let size = parts[0].split(separator: "x", omittingEmptySubsequences: false)
        guard size.count == 2, let w = Self.number(size[0]), let h = Self.number(size[1]),
              Self.sideRange.contains(w), Self.sideRange.contains(h) else { throw bad }
        (width, height) = (w, h)
        if parts.count == 3 {
            guard let x = Self.number(parts[1]), let y = Self.number(parts[2]) else { throw bad }
            (self.x, self.y) = (x, y)
        }
    }

    private static func number(_ s: Substring) -> Int? {
        guard !s.isEmpty, s.count <= 6, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber) else { return nil }
        return Int(s)
    }

    /// The region inside a `photoWidth` x `photoHeight` photo: cut to the
    /// photo where it runs over its edge; nil when it starts outside it.
    func resolved(photoWidth: Int, photoHeight: Int) -> PixelRect? {
        if let x, let y {
            guard x < photoWidth, y < photoHeight else { return nil }
            return PixelRect(x: x, y: y, width: min(width, photoWidth - x), height: min(height, photoHeight - y))
        }
        let w = min(width, photoWidth), h = min(height, photoHeight)
        return PixelRect(x: (photoWidth - w) / 2, y: (photoHeight - h) / 2, width: w, height: h)
    }

    var description: String {
        if let x, let y { return "\(width)x\(height)+\(x)+\(y)" }
        return "\(width)x\(height), centred"
    }
}

enum PreviewImage {
    /// Pixels of mid grey between the two halves.
    static let gap = 4

    /// Before on the left, after on the right, a grey gap between: RGB PNG at
    /// the photo's bit depth, no metadata.
    static func sideBySide(_ preview: DeblurPreview) -> Image {
        let (w, h) = (preview.region.width, preview.region.height)
        let before = preview.before, after = preview.after
        let width = 2 * w + gap
        let grey: UInt16 = before.bitDepth == 16 ? 32896 : 128
        var samples = [UInt16](repeating: grey, count: 3 * width * h)
        for y in 0..<h {
            let row = y * width * 3
            for i in 0..<(3 * w) {
                samples[row + i] = before.samples[y * w * 3 + i]
                samples[row + 3 * (w + gap) + i] = after.samples[y * w * 3 + i]
            }
        }
        return Image(width: width, height: h, channels: 3, bitDepth: before.bitDepth, samples: samples, format: .png)
    }
}
