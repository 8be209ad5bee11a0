/// Classic TIFF structure in Swift: reading directories with their values,
/// and appending directories to a file libtiff wrote.
///
/// libtiff writes the pixels; this carries the input's descriptive tags and
/// its EXIF/GPS directories across byte-for-byte, in the input's byte order,
/// so no value needs to be understood or byte-swapped.
struct TIFFFile {
    var bytes: [UInt8]
    let bigEndian: Bool
    let name: String

    /// Pointer tags whose directories are carried: EXIF and GPS in the first
    /// directory, Interoperability inside EXIF.
    static let subdirectoryTags: Set<UInt16> = [34665, 34853, 40965]

    init(_ bytes: [UInt8], name: String) throws {
        guard bytes.count >= 8 else { throw PhotoIOError.corrupt(name, "TIFF header truncated") }
        self.bytes = bytes
        self.bigEndian = bytes[0] == 0x4D
        self.name = name
    }

    var firstDirectoryOffset: Int { Int(u32(4)) }

    func u16(_ at: Int) -> UInt16 {
        bigEndian ? UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
                  : UInt16(bytes[at + 1]) << 8 | UInt16(bytes[at])
    }

    func u32(_ at: Int) -> UInt32 {
        let b0 = UInt32(bytes[at]), b1 = UInt32(bytes[at + 1]), b2 = UInt32(bytes[at + 2]), b3 = UInt32(bytes[at + 3])
        return bigEndian ? b0 << 24 | b1 << 16 | b2 << 8 | b3 : b3 << 24 | b2 << 16 | b1 << 8 | b0
    }

    static func typeSize(_ type: UInt16) -> Int? {
        switch type {
        case 1, 2, 6, 7: return 1
        case 3, 8: return 2
        case 4, 9, 11, 13: return 4
        case 5, 10, 12: return 8
        default: return nil
        }
    }

    /// First value of a SHORT or LONG entry.
    func integer(_ entry: TIFFEntry) -> Int? {
        guard entry.count >= 1 else { return nil }
        let v = entry.value
        switch entry.type {
        case 3: return Int(bigEndian ? UInt16(v[0]) << 8 | UInt16(v[1]) : UInt16(v[1]) << 8 | UInt16(v[0]))
        case 4, 13:
            let (b0, b1, b2, b3) = (UInt32(v[0]), UInt32(v[1]), UInt32(v[2]), UInt32(v[3]))
            return Int(bigEndian ? b0 << 24 | b1 << 16 | b2 << 8 | b3 : b3 << 24 | b2 << 16 | b1 << 8 | b0)
        default: return nil
        }
    }

    /// The entries of the directory at `offset`, values resolved; the carried
    /// pointer tags get their directories attached. Entries of unknown type
    /// with no values, or pointing outside the file are left out (libtiff ignores them too),
    /// and so are values overlapping one already read (`TIFFReadBudget`).
    /// Throws `tooMuchMetadata` past `StructureLimits`.
    func directory(at offset: Int, followPointers: Bool = false) throws -> [TIFFEntry] {
        var budget = TIFFReadBudget(file: name)
        return try directory(at: offset, followPointers: followPointers, budget: &budget)
    }

    /// As above, counting against `budget`, which a whole read (a directory
    /// and those its pointers lead to) shares.
    func directory(at offset: Int, depth: Int = 0, followPointers: Bool = false,
                   budget: inout TIFFReadBudget) throws -> [TIFFEntry] {
        guard offset >= 8, offset + 2 <= bytes.count else {
            throw PhotoIOError.corrupt(name, "TIFF directory offset \(offset) outside the file")
        }
        let count = Int(u16(offset))
        guard offset + 2 + 12 * count <= bytes.count else {
            throw PhotoIOError.corrupt(name, "TIFF directory runs past the end of the file")
        }
        try budget.metadata.add(items: count, bytes: 0)
        var entries: [TIFFEntry] = []
        for index in 0..<count {
            let at = offset + 2 + 12 * index
            let tag = u16(at), type = u16(at + 2), n = u32(at + 4)
            // No count: libtiff refuses to read such an entry back ("Null count"), so
            // carried over it made outputs nobody can open (found by fuzzing).
            guard n > 0, let size = Self.typeSize(type) else { continue }
            let total = Int(n).multipliedReportingOverflow(by: size)
            guard !total.overflow, total.partialValue <= bytes.count else { continue }
            let length = total.partialValue
            let start = length <= 4 ? at + 8 : Int(u32(at + 8))
            guard start + length <= bytes.count else { continue }
            // Values are copied per entry: many entries pointing at one blob
            // would multiply it (500 tags sharing 64 KiB made an 84 KB TIFF
            // into a 32.8 MB output).
            if length > 4 && !budget.claim(start..<start + length) {
                budget.overlapping.append(tag)
                continue
            }
            try budget.metadata.add(items: 0, bytes: length)
            var entry = TIFFEntry(tag: tag, type: type, count: n, value: Array(bytes[start..<start + length]))
            if followPointers && Self.subdirectoryTags.contains(tag) {
                guard depth < 4, n == 1, let target = integer(entry) else { continue }
                do {
                    entry.subdirectory = try directory(at: target, depth: depth + 1, followPointers: true, budget: &budget)
                } catch let error as PhotoIOError where error.kind == .unsupported {
                    throw error  // a limit, not damage: the file is refused
                } catch {
                    continue
                }
            }
            entries.append(entry)
        }
        return entries
    }
}

/// What one read of TIFF directories may hold (`StructureLimits`: entries
/// and value bytes), and the file bytes its out-of-line values claimed.
struct TIFFReadBudget {
    var metadata: MetadataBudget
    /// Claimed value ranges, sorted and disjoint.
    private(set) var claimed: [Range<Int>] = []
    /// Tags left out because their values overlap a value already read.
    var overlapping: [UInt16] = []

    init(_ limits: StructureLimits = .standard, file: String) {
        metadata = MetadataBudget(limits, file: file, items: "TIFF tags")
    }

    /// Small values shared exactly (two RATIONALs at one offset, as some
    /// writers do for XResolution and YResolution) are allowed: with the
    /// entry limit they add at most 64 KB.
    static let sharedValueLimit = 16

    /// Claims `range` for a value; false when it overlaps one claimed before.
    mutating func claim(_ range: Range<Int>) -> Bool {
        var low = 0, high = claimed.count
        while low < high {
            let middle = (low + high) / 2
            if claimed[middle].lowerBound < range.lowerBound { low = middle + 1 } else { high = middle }
        }
        if low < claimed.count && claimed[low] == range && range.count <= Self.sharedValueLimit { return true }
        if low > 0 && claimed[low - 1].upperBound > range.lowerBound { return false }
        if low < claimed.count && claimed[low].lowerBound < range.upperBound { return false }
        claimed.insert(range, at: low)
        return true
    }
}

/// Appends directories to a TIFF in a given byte order.
struct TIFFWriter {
    var bytes: [UInt8]
    let bigEndian: Bool

    mutating func align() { if bytes.count % 2 == 1 { bytes.append(0) } }

    func encode16(_ v: UInt16) -> [UInt8] {
        bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
    }

    func encode32(_ v: UInt32) -> [UInt8] {
        let b = [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        return bigEndian ? b : b.reversed()
    }

    /// One directory entry as it will be written: the 4-byte field is either
    /// the value itself or the offset where it was placed.
    struct Slot { var tag: UInt16; var type: UInt16; var count: UInt32; var field: [UInt8] }

    /// Places an entry's value (and its subdirectory) in the file and returns its slot.
    mutating func place(_ entry: TIFFEntry) throws -> Slot {
        if let child = entry.subdirectory {
            let offset = try appendDirectory(child)
            return Slot(tag: entry.tag, type: entry.type == 13 ? 13 : 4, count: 1, field: encode32(offset))
        }
        if entry.value.count <= 4 {
            return Slot(tag: entry.tag, type: entry.type, count: entry.count,
                        field: entry.value + [UInt8](repeating: 0, count: 4 - entry.value.count))
        }
        align()
        let offset = try checkedOffset()
        bytes += entry.value
        return Slot(tag: entry.tag, type: entry.type, count: entry.count, field: encode32(offset))
    }

    mutating func appendDirectory(_ entries: [TIFFEntry]) throws -> UInt32 {
        var slots: [Slot] = []
        for entry in entries { slots.append(try place(entry)) }
        return try write(slots)
    }

    /// Writes a directory of ready slots (sorted by tag, as TIFF requires).
    mutating func write(_ slots: [Slot]) throws -> UInt32 {
        align()
        let offset = try checkedOffset()
        bytes += encode16(UInt16(slots.count))
        for slot in slots.sorted(by: { $0.tag < $1.tag }) {
            bytes += encode16(slot.tag) + encode16(slot.type) + encode32(slot.count) + slot.field
        }
        bytes += encode32(0)
        return offset
    }

    func checkedOffset() throws -> UInt32 {
        guard bytes.count < Int(UInt32.max) else {
            throw PhotoIOError(.encode, file: "", what: "the TIFF would exceed 4 GB",
                               remedy: "Write a smaller image")
        }
        return UInt32(bytes.count)
    }
}
