/// An image's samples, interleaved and row-major, read and written as
/// `UInt16` values whatever the depth, but stored in one byte each where they
/// fit: an 8-bit photo keeps 1 byte a sample instead of 2 (144 -> 72 MB for
/// a 24 MP RGB photo). A batch holds up to three decoded photos at once
/// (`mtrnnctl deblur`), so this is a good part of its memory.
///
/// Made from `[UInt16]` values with the image's depth: for 8 bits they are
/// kept in bytes (values over 255, which an 8-bit image never holds, are
/// clamped to 255, as the encoders always did). An array literal makes
/// 16-bit storage, which holds any value. Equal when the values are equal,
/// whatever the storage.
public struct Samples: Sendable, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral, Equatable {
    enum Storage: Sendable {
        case bytes([UInt8])
        case words([UInt16])
    }

    private(set) var storage: Storage

    /// One byte a sample.
    public init(bytes: [UInt8]) { storage = .bytes(bytes) }

    /// Two bytes a sample.
    public init(words: [UInt16]) { storage = .words(words) }

    /// `values` for an image of `bitDepth` bits: in bytes for 8.
    public init(_ values: [UInt16], bitDepth: Int) {
        storage = bitDepth == 8 ? .bytes(values.map { UInt8(Swift.min($0, 255)) }) : .words(values)
    }

    /// `count` zeros for an image of `bitDepth` bits.
    public init(zeros count: Int, bitDepth: Int) {
        storage = bitDepth == 8 ? .bytes([UInt8](repeating: 0, count: count))
            : .words([UInt16](repeating: 0, count: count))
    }

    public init(arrayLiteral elements: UInt16...) { storage = .words(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int {
        switch storage {
        case .bytes(let b): return b.count
        case .words(let w): return w.count
        }
    }

    public subscript(position: Int) -> UInt16 {
        get {
            switch storage {
            case .bytes(let b): return UInt16(b[position])
            case .words(let w): return w[position]
            }
        }
        set {
            switch storage {
            case .bytes(var b):
                storage = .words([])   // the only reference, so the write below does not copy
                b[position] = UInt8(Swift.min(newValue, 255))
                storage = .bytes(b)
            case .words(var w):
                storage = .bytes([])
                w[position] = newValue
                storage = .words(w)
            }
        }
    }

    /// Whether each sample takes one byte.
    public var isBytes: Bool {
        if case .bytes = storage { return true }
        return false
    }

    /// The values as `[UInt16]` (a copy where they are stored in bytes).
    public var values: [UInt16] {
        switch storage {
        case .bytes(let b): return b.map(UInt16.init)
        case .words(let w): return w
        }
    }

    /// The values as bytes for an 8-bit encoder: as stored, or narrowed
    /// (clamped to 255) from 16-bit storage.
    public var narrowedBytes: [UInt8] {
        switch storage {
        case .bytes(let b): return b
        case .words(let w): return w.map { UInt8(truncatingIfNeeded: Swift.min($0, 255)) }
        }
    }

    /// The storage, read in place: the body for its element type.
    public func withStorage<R>(bytes: (UnsafeBufferPointer<UInt8>) throws -> R,
                               words: (UnsafeBufferPointer<UInt16>) throws -> R) rethrows -> R {
        switch storage {
        case .bytes(let b): return try b.withUnsafeBufferPointer(bytes)
        case .words(let w): return try w.withUnsafeBufferPointer(words)
        }
    }

    /// The storage, written in place: the body for its element type.
    public mutating func withMutableStorage<R>(bytes: (inout UnsafeMutableBufferPointer<UInt8>) throws -> R,
                                               words: (inout UnsafeMutableBufferPointer<UInt16>) throws -> R) rethrows -> R {
        switch storage {
        case .bytes(var b):
            storage = .words([])   // the only reference, so the body writes in place
            defer { storage = .bytes(b) }
            return try b.withUnsafeMutableBufferPointer(bytes)
        case .words(var w):
            storage = .bytes([])
            defer { storage = .words(w) }
            return try w.withUnsafeMutableBufferPointer(words)
        }
    }

    public static func == (lhs: Samples, rhs: Samples) -> Bool {
        switch (lhs.storage, rhs.storage) {
        case (.bytes(let a), .bytes(let b)): return a == b
        case (.words(let a), .words(let b)): return a == b
        default: return lhs.count == rhs.count && lhs.elementsEqual(rhs)
        }
    }

    public static func == (lhs: Samples, rhs: [UInt16]) -> Bool { lhs.count == rhs.count && lhs.elementsEqual(rhs) }
    public static func == (lhs: [UInt16], rhs: Samples) -> Bool { rhs == lhs }
    public static func != (lhs: Samples, rhs: [UInt16]) -> Bool { !(lhs == rhs) }
    public static func != (lhs: [UInt16], rhs: Samples) -> Bool { !(rhs == lhs) }
}
