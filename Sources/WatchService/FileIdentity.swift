@preconcurrency import Glibc

/// Which file a name pointed to, and in which version: device, inode, size and
/// mtime. A photo replaced under the same name gets a different identity.
struct FileIdentity: Equatable, Sendable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var mtimeNanoseconds: Int64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtimeNanoseconds = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    init?(text: String) {
        let p = text.split(separator: " ").compactMap { Int64($0) }
        guard p.count == 4 else { return nil }
        device = UInt64(bitPattern: p[0])
        inode = UInt64(bitPattern: p[1])
        size = p[2]
        mtimeNanoseconds = p[3]
    }

    var description: String { "\(Int64(bitPattern: device)) \(Int64(bitPattern: inode)) \(size) \(mtimeNanoseconds)" }
}
