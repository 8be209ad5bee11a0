/// The bridge between stored samples and the network's input: planar float
/// RGB on a 0...255 scale.
extension Image {
    /// Planar R, G, B planes (each `width * height`), 0...255. Grey is
    /// replicated to three planes; alpha is left out; 16-bit samples are
    /// scaled by 255/65535 (not truncated to 8 bits).
    public func planarRGB() -> (width: Int, height: Int, data: [Float]) {
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        let scale: Float = bitDepth == 16 ? 255.0 / 65535.0 : 1
        let colour = channels >= 3 ? 3 : 1
        let channels = self.channels
        func fill<T: BinaryInteger>(_ s: UnsafeBufferPointer<T>) {
            data.withUnsafeMutableBufferPointer { d in
                for p in 0..<plane {
                    let base = p * channels
                    for c in 0..<3 {
                        d[c * plane + p] = Float(s[base + (colour == 3 ? c : 0)]) * scale
                    }
                }
            }
        }
        samples.withStorage(bytes: fill, words: fill)
        return (width, height, data)
    }

    /// The same image (format, depth, channels, alpha, metadata) with its
    /// colour replaced by planar RGB 0...255 (clamped, rounded to nearest).
    /// Grey images take the mean of the three planes, the inverse of the
    /// replication in `planarRGB()`, so grey passed through unchanged stays
    /// exactly the same. 16-bit values are scaled by 65535/255, which undoes
    /// `planarRGB()` exactly for every 16-bit value. Consuming: an image
    /// given up by its caller (`consume image`) has its samples replaced in
    /// place instead of copied.
    public consuming func replacingColour(withPlanarRGB data: [Float]) -> Image {
        let plane = width * height
        precondition(data.count == 3 * plane, "replacingColour: expected \(3 * plane) values, got \(data.count)")
        let scale: Float = bitDepth == 16 ? 65535.0 / 255.0 : 1
        let maximum = Float(maxSample)
        let channels = self.channels
        var result = consume self
        func quantize(_ value: Float) -> UInt16 {
            let v = (value * scale).rounded()
            // NaN compares false both ways and becomes 0.
            return v >= maximum ? UInt16(maximum) : (v > 0 ? UInt16(v) : 0)
        }
        // Quantised values never exceed the depth's maximum, so they fit a byte for 8 bits.
        func store<T: FixedWidthInteger>(_ s: inout UnsafeMutableBufferPointer<T>) {
            data.withUnsafeBufferPointer { d in
                for p in 0..<plane {
                    let base = p * channels
                    if channels >= 3 {
                        s[base] = T(truncatingIfNeeded: quantize(d[p]))
                        s[base + 1] = T(truncatingIfNeeded: quantize(d[plane + p]))
                        s[base + 2] = T(truncatingIfNeeded: quantize(d[2 * plane + p]))
                    } else {
                        s[base] = T(truncatingIfNeeded: quantize((d[p] + d[plane + p] + d[2 * plane + p]) / 3))
                    }
                }
            }
        }
        result.samples.withMutableStorage(bytes: store, words: store)
        return result
    }
}
