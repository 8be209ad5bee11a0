import Foundation
@preconcurrency import Glibc

/// Which image pipeline the reliability tests run the daemon with.
///   MTRNN_RELIABILITY_PIPELINE unset or `photoio`: PhotoIO decode + encode without
///     the network (MTRNN_WATCH_TEST_PROCESSOR=photoio): real decoders, seconds per run.
///   `real`: the deblur pipeline, with the weights in MTRNN_RELIABILITY_WEIGHTS
///     (default Models/mtrnn.safetensors): slow, for a release check.
enum ReliabilityPipeline {
    static var env: [String: String] { ProcessInfo.processInfo.environment }
    static var isReal: Bool { env["MTRNN_RELIABILITY_PIPELINE"] == "real" }
    static var weights: String { env["MTRNN_RELIABILITY_WEIGHTS"] ?? FileManager.default.currentDirectoryPath + "/Models/mtrnn.safetensors" }
    static var processor: String? { isReal ? nil : "photoio" }
    static var arguments: [String] { isReal ? ["--set", "weights=\(weights)"] : [] }
}

/// File names as bytes: a test must be able to make names that are not UTF-8.
enum RawNames {
    /// Creates `directory/name` with `bytes` through open(2), so any byte but / and NUL goes.
    @discardableResult
    static func write(_ directory: String, _ name: [UInt8], _ bytes: [UInt8], mode: mode_t = 0o644) -> Bool {
        let path = Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0]
        let fd = path.withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_WRONLY | O_CREAT | O_TRUNC, mode) }
        }
        guard fd >= 0 else { return false }
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return n == bytes.count
    }

    /// The names in `directory` exactly as the kernel has them.
    static func list(_ directory: String) -> [[UInt8]] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name != [UInt8(ascii: ".")] && name != [UInt8(ascii: "."), UInt8(ascii: ".")] { names.append(name) }
        }
        return names.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// Every file below `root`, as paths relative to it (bytes).
    static func walk(_ root: String) -> [[UInt8]] {
        var out: [[UInt8]] = []
        func go(_ prefix: [UInt8]) {
            let dir = Array(root.utf8) + (prefix.isEmpty ? [] : [UInt8(ascii: "/")] + prefix)
            let dirString = String(decoding: dir, as: UTF8.self)
            for name in list(dirString) {
                let rel = prefix.isEmpty ? name : prefix + [UInt8(ascii: "/")] + name
                out.append(rel)
                var st = stat()
                let full = dir + [UInt8(ascii: "/")] + name + [0]
                let ok = full.withUnsafeBufferPointer { p in
                    p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { lstat($0, &st) }
                }
                if ok == 0, (st.st_mode & S_IFMT) == S_IFDIR, String(validating: dir, as: UTF8.self) != nil { go(rel) }
            }
        }
        go([])
        return out
    }
}

extension RawNames {
    static func cPath(_ directory: String, _ name: [UInt8]) -> [UInt8] { Array(directory.utf8) + [UInt8(ascii: "/")] + name + [0] }

    static func read(_ directory: String, _ name: [UInt8]) -> [UInt8]? {
        let fd = cPath(directory, name).withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { open($0, O_RDONLY | O_NOFOLLOW) }
        }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return n == 0 ? out : nil }
            out += buffer[0..<n]
        }
    }

    static func exists(_ directory: String, _ name: [UInt8]) -> Bool {
        var st = stat()
        return cPath(directory, name).withUnsafeBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { lstat($0, &st) }
        } == 0
    }

    /// Shown in test messages: the name with any byte that is not printable UTF-8 escaped.
    static func show(_ name: [UInt8]) -> String {
        if let s = String(validating: name, as: UTF8.self), !s.contains(where: { $0.isNewline || $0 == "\t" }) { return s }
        return name.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : String(format: "\\x%02X", $0) }.joined()
    }
}
